// After `vite build`: write a .gz (zlib level 9) beside every .js, .css,
// .svg and .html in dist/ (nginx's gzip_static serves them), then print
// the gzip size of what the sign-in page loads on a first visit.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync, constants } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const exts = /\.(js|css|svg|html)$/;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

const gz = new Map();
for (const file of walk(dist)) {
  if (!exts.test(file)) continue;
  const data = readFileSync(file);
  const packed = gzipSync(data, { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(`${file}.gz`, packed);
  gz.set(relative(dist, file).split('\\').join('/'), { raw: data.length, gz: packed.length });
}

// What the sign-in page loads: index.html, the entry script and the
// stylesheet and preloads it names, and the sign-in screen's chunk (plus
// the chunks that one imports), found through Vite's manifest-free output:
// the entry script's import() of the screen names its file.
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const named = new Set(['index.html']);
for (const m of html.matchAll(/(?:src|href)="\/([^"]+\.(?:js|css))"/g)) named.add(m[1]);

const seen = new Set();
function addWithStaticImports(rel) {
  if (seen.has(rel)) return;
  seen.add(rel);
  named.add(rel);
  if (!rel.endsWith('.js')) return;
  const code = readFileSync(join(dist, rel), 'utf8');
  // static imports between chunks: import{..}from"./x.js" / import"./x.js"
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w${},\s*]+from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    addWithStaticImports(`assets/${m[1]}`);
  }
}
for (const rel of [...named]) addWithStaticImports(rel);
// The sign-in route's lazy chunk: named SignInScreen-<hash>.js by Vite.
for (const rel of gz.keys()) {
  if (/^assets\/SignInScreen-[\w-]+\.(js|css)$/.test(rel)) addWithStaticImports(rel);
}

let total = 0;
let totalRaw = 0;
const rows = [];
for (const rel of [...named].sort()) {
  const s = gz.get(rel);
  if (!s) continue;
  total += s.gz;
  totalRaw += s.raw;
  rows.push(`  ${rel.padEnd(48)} ${String(s.raw).padStart(8)} B  ${String(s.gz).padStart(7)} B gz`);
}
console.log(`compress: ${gz.size} files gzipped (level 9)`);
console.log('sign-in page first load:');
console.log(rows.join('\n'));
console.log(`sign-in page first load: ${totalRaw} B raw, ${total} B gzip (${(total / 1024).toFixed(1)} KiB)`);
