// How nginx serves the app: hashed assets cached for a year, index.html
// never, app routes falling back to index.html, a missing asset a 404 (not
// HTML served as script), the security headers on everything, and /api/
// and /health untouched by any of it.  Plain HTTP, no browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from './lib.mjs';

let stack;
before(async () => { stack = await new Stack().start(); });
after(() => stack?.stop());

async function get(p, headers = {}) {
    const res = await fetch(stack.base + p, { headers });
    return { status: res.status, headers: res.headers, text: await res.text() };
}

function assertSecurityHeaders(r, what) {
    const csp = r.headers.get('content-security-policy') || '';
    assert.match(csp, /default-src 'self'/, `${what}: CSP`);
    assert.match(csp, /script-src 'self'(;|$)/, `${what}: script only from the origin, nothing inline`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${what}: no unsafe sources`);
    assert.match(csp, /frame-ancestors 'none'/, `${what}: not framable`);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer', `${what}: Referrer-Policy`);
}

test('index.html is served for / and for app routes, never cached, with no inline script', async () => {
    for (const p of ['/', '/chat', '/chat/00000000-0000-0000-0000-000000000000', '/bots', '/account', '/admin', '/signin']) {
        const r = await get(p);
        assert.equal(r.status, 200, p);
        assert.match(r.headers.get('content-type'), /^text\/html/, p);
        assert.equal(r.headers.get('cache-control'), 'no-cache', p);
        assertSecurityHeaders(r, p);
        assert.match(r.text, /<div id="root">/, p);
        // every <script> has a src: the CSP allows nothing else
        for (const tag of r.text.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) || []) {
            assert.match(tag, /\bsrc="\/assets\//, `inline script in index.html: ${tag}`);
            assert.match(tag, /><\/script>$/, `script with a body: ${tag}`);
        }
    }
});

test('hashed assets are cached for a year, compressed on request; a missing one is a 404', async () => {
    const index = (await get('/')).text;
    const assets = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(assets.some((a) => a.endsWith('.js')), 'index.html loads a script asset');
    assert.ok(assets.some((a) => a.endsWith('.css')), 'index.html loads a stylesheet asset');
    for (const a of assets) {
        assert.match(a, /-[A-Za-z0-9_-]{8,}\.(js|css)$/, `${a} is content-hashed`);
        const r = await get(a);
        assert.equal(r.status, 200, a);
        assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable', a);
        assert.match(r.headers.get('content-type'), a.endsWith('.js') ? /javascript/ : /text\/css/, a);
        assertSecurityHeaders(r, a);
        const gz = await fetch(stack.base + a, { headers: { 'Accept-Encoding': 'gzip' } });
        // fetch decompresses; the header says nginx sent the precompressed file
        assert.equal(gz.headers.get('content-encoding'), 'gzip', `${a} served gzip`);
        assert.equal(await gz.text(), r.text, `${a}: the .gz holds the same file`);
    }
    const missing = await get('/assets/no-such-chunk-abcdef12.js');
    assert.equal(missing.status, 404);
    assert.doesNotMatch(missing.text, /<div id="root">/);
});

test('/api/ and /health are untouched: JSON, their own caching, no app fallback', async () => {
    const api = await get('/api/v1/bots');
    assert.equal(api.status, 401);
    assert.match(api.headers.get('content-type'), /^application\/json/);
    assert.equal(JSON.parse(api.text).error.code, 'unauthorized');
    assert.equal(api.headers.get('cache-control'), null, 'no app caching header on the API');
    assertSecurityHeaders(api, '/api/v1/bots');

    const unknown = await get('/api/v1/no-such-thing');
    assert.equal(unknown.status, 404);
    assert.match(unknown.headers.get('content-type'), /^application\/json/);

    const health = await get('/health');
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.text).status, 'ok');
    // the API's own: every 200 answer to a GET may be revalidated, never shared
    assert.equal(health.headers.get('cache-control'), 'private, no-cache');
    assert.match(health.headers.get('etag'), /^"[A-Za-z0-9_-]{22}"$/);

    const config = await get('/api/v1/config');
    assert.equal(config.status, 200, 'the app learns the identity mode without a token');
    assert.equal(JSON.parse(config.text).identity, 'local');
});
