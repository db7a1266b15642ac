// The browser suite's common parts: a real Mangoo stack (the same
// `auto-build.sh start` the e2e harness uses, in a throwaway state folder on
// free ports), Debian's Chromium driven by playwright-core, an axe-core
// check, screenshots, and a TCP relay that can drop every connection at
// once (a network that goes away mid-answer).
//
// Every page a test opens fails the test on a Content-Security-Policy
// violation or an uncaught script error: the app must run under the CSP
// nginx sends, not beside it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const TOP = path.resolve(HERE, '../..');
export const SHOTS = path.join(TOP, 'build', 'screenshots');
const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PASSWORD = 'Correct-horse-1';

async function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

// Ports in a row for the worker processes (auto-build.sh counts up from one).
async function freePortRun(count) {
    for (let tries = 0; tries < 50; tries++) {
        const first = 20000 + Math.floor(Math.random() * 30000);
        let ok = true;
        for (let i = 0; i < count && ok; i++) {
            ok = await new Promise((resolve) => {
                const srv = net.createServer();
                srv.once('error', () => resolve(false));
                srv.listen(first + i, '127.0.0.1', () => srv.close(() => resolve(true)));
            });
        }
        if (ok) return first;
    }
    throw new Error('no run of free ports');
}

export class Stack {
    constructor(env = {}) {
        this.extraEnv = env;
    }

    async start() {
        this.state = fs.mkdtempSync(path.join(os.tmpdir(), 'mangoo-browser-'));
        fs.chmodSync(this.state, 0o755); // postgres must reach its folder
        this.port = await freePort();
        this.env = {
            ...process.env,
            MANGOO_STATE: this.state,
            MANGOO_PORT: String(this.port),
            MANGOO_PG_PORT: String(await freePort()),
            MANGOO_WORKER_PORT: String(await freePortRun(2)),
            MANGOO_WORKERS: '2',
            MANGOO_THREADS: '4',
            MANGOO_TIMEOUT: '10s',
            MANGOO_NGINX_WORKERS: '2',
            MANGOO_AUTH_RATE: '200r/s',
            MANGOO_USER_RATE: '100000r/s',
            // as the e2e harness: a test that kills workers restarts them
            MANGOO_SUPERVISE: '0',
            ...this.extraEnv,
        };
        const r = this.ab('start');
        if (r.status !== 0) {
            const logs = this.logs();
            this.ab('stop');
            throw new Error(`stack failed to start:\n${r.stdout}${r.stderr}\n${logs}`);
        }
        this.base = `http://127.0.0.1:${this.port}`;
        return this;
    }

    ab(...args) {
        return spawnSync(path.join(TOP, 'auto-build.sh'), args, { env: this.env, encoding: 'utf8' });
    }

    logs() {
        let out = '';
        for (const f of fs.readdirSync(this.state)) {
            if (f.endsWith('.log')) out += `--- ${f}\n${fs.readFileSync(path.join(this.state, f), 'utf8').slice(-4000)}\n`;
        }
        return out;
    }

    // nginx [alert]/[emerg] lines or a crashed worker are failures too
    alerts() {
        const log = path.join(this.state, 'nginx-error.log');
        if (!fs.existsSync(log)) return [];
        return fs.readFileSync(log, 'utf8').split('\n').filter((l) => /\[(alert|emerg|crit)\]/.test(l));
    }

    stop() {
        if (!this.state) return;
        const alerts = this.alerts();
        this.ab('stop');
        if (!process.env.MANGOO_KEEP_STATE) fs.rmSync(this.state, { recursive: true, force: true });
        if (alerts.length) throw new Error(`nginx alerts:\n${alerts.join('\n')}`);
    }

    workerPid(i) {
        return Number(fs.readFileSync(path.join(this.state, `worker-${i}.pid`), 'utf8'));
    }

    psql(sql) {
        const r = spawnSync('runuser', ['-u', 'postgres', '--', 'psql', '-h', path.join(this.state, 'pg/run'),
            '-p', this.env.MANGOO_PG_PORT, '-U', 'postgres', '-d', 'mangoo', '-tAc', sql], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
        return r.stdout.trim();
    }

    // The API directly, for what a test sets up or checks behind the UI.
    async api(method, p, { token, body, headers = {} } = {}) {
        const h = { ...headers };
        if (token) h.Authorization = `Bearer ${token}`;
        if (body !== undefined) h['Content-Type'] = 'application/json';
        const res = await fetch(this.base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await res.text();
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        return { status: res.status, headers: res.headers, json, text };
    }

    async register(username, password = PASSWORD) {
        const r = await this.api('POST', '/api/v1/auth/register', { body: { username, password } });
        if (r.status !== 201 && r.status !== 200) throw new Error(`register ${username}: ${r.status} ${r.text}`);
        return r.json.access_token;
    }
}

export async function launch() {
    return chromium.launch({
        executablePath: process.env.MANGOO_CHROMIUM || '/usr/bin/chromium',
        // as root, without a sandbox; and no background traffic to hosts
        // this machine cannot reach
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// A page that records CSP violations and script errors; check() throws on any.
export async function openPage(browser, { viewport = DESKTOP } = {}) {
    const context = await browser.newContext({ viewport, acceptDownloads: true });
    const page = await context.newPage();
    page.problems = [];
    page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) page.problems.push(`CSP: ${m.text()}`);
    });
    page.check = () => {
        if (page.problems.length) throw new Error(page.problems.join('\n'));
    };
    return page;
}

// axe-core in the page (evaluated over the DevTools protocol, which the
// page's CSP does not govern); serious and critical violations fail.
export async function axe(page, name) {
    await page.evaluate(AXE_SOURCE);
    const result = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    if (bad.length) throw new Error(`axe on ${name}: ${JSON.stringify(bad, null, 1)}`);
    return result;
}

export async function shot(page, name) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

export function uniqueName(prefix) {
    return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

// Sign up through the UI: the app then lands signed in.
export async function signUp(page, base, username, password = PASSWORD) {
    await page.goto(`${base}/signin`);
    await page.getByRole('tab', { name: 'Create account' }).or(page.getByRole('link', { name: 'Create account' }))
        .or(page.getByRole('button', { name: 'Create account' })).first().click();
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Create account' }).last().click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

export async function signIn(page, base, username, password = PASSWORD) {
    await page.goto(`${base}/signin`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

// A TCP relay to 127.0.0.1:port; drop() cuts every open connection, as a
// network that goes away does (the browser sees a reset mid-stream).
// down() also refuses every new connection (reset at once) until up(): a
// network that stays away for a while.
export async function relay(port) {
    const sockets = new Set();
    let isDown = false;
    const server = net.createServer((client) => {
        if (isDown) {
            client.on('error', () => {});
            client.resetAndDestroy ? client.resetAndDestroy() : client.destroy();
            return;
        }
        const upstream = net.connect(port, '127.0.0.1');
        sockets.add(client); sockets.add(upstream);
        client.pipe(upstream); upstream.pipe(client);
        const done = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
        client.on('error', done); upstream.on('error', done);
        client.on('close', done); upstream.on('close', done);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        port: server.address().port,
        drop() { for (const s of sockets) s.resetAndDestroy ? s.resetAndDestroy() : s.destroy(); },
        down() { isDown = true; this.drop(); },
        up() { isDown = false; },
        close() { this.drop(); return new Promise((resolve) => server.close(resolve)); },
    };
}

// ---- the app's own steps, as a person takes them -----------------------
export const assistant = (page) => page.locator('[data-role="assistant"]').last();

export async function createBot(page, name, instructions = 'Answer briefly.') {
    await page.getByRole('link', { name: 'Bots' }).click();
    await page.getByRole('button', { name: 'Create bot' }).first().click();
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Instructions').fill(instructions);
    await page.getByRole('button', { name: /^(Create bot|Save)$/ }).last().click();
    await page.getByText(name).first().waitFor();
}

export async function newChat(page, botName) {
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'New chat' }).first().click();
    const picker = page.getByLabel(/^Bot$/);
    if (await picker.count()) await picker.selectOption({ label: botName });
}

export async function send(page, text) {
    await page.getByLabel('Message').fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
}

// The answer's text, sampled while it streams: distinct lengths seen.
export async function watchAnswer(page) {
    const seen = new Set();
    const msg = assistant(page);
    await msg.waitFor();
    for (let i = 0; i < 400; i++) {
        const status = await msg.getAttribute('data-status');
        seen.add((await msg.innerText()).length);
        if (status !== 'streaming') return { status, seen, text: await msg.innerText() };
        await page.waitForTimeout(25);
    }
    throw new Error('the answer never finished');
}


// ---- knowledge bases ------------------------------------------------------
// Choose files in the "Upload documents" input.  Every value the upload
// progress bars take is recorded in window.__mgProgress; the returned set
// collects the document statuses waitForDocumentStatus() sees.
export async function uploadFiles(page, files) {
    await page.evaluate(() => {
        window.__mgProgress = [];
        const note = (el) => {
            const v = el.getAttribute('aria-valuenow');
            if (v !== null && window.__mgProgress.at(-1) !== v) window.__mgProgress.push(v);
        };
        new MutationObserver((records) => {
            for (const r of records) {
                if (r.type === 'attributes' && r.target.getAttribute('role') === 'progressbar') note(r.target);
                for (const n of r.addedNodes) {
                    if (n.nodeType !== 1) continue;
                    if (n.getAttribute('role') === 'progressbar') note(n);
                    n.querySelectorAll('[role="progressbar"]').forEach(note);
                }
            }
        }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    await page.getByLabel('Upload documents').setInputFiles(files);
    return new Set();
}

// A document's row in the documents table (data-status is its status).
export function documentRow(page, filename) {
    return page.locator('tr[data-document-id]').filter({ hasText: filename }).first();
}

// Wait until the document's row shows one of the statuses in `finals`;
// each status seen on the way goes into `seen`.
export async function waitForDocumentStatus(page, filename, finals, seen = new Set(), timeout = 60000) {
    const row = documentRow(page, filename);
    const end = Date.now() + timeout;
    while (Date.now() < end) {
        if (await row.count()) {
            const status = await row.getAttribute('data-status');
            seen.add(status);
            if (finals.includes(status)) return status;
        }
        await page.waitForTimeout(50);
    }
    throw new Error(`${filename} never reached ${finals.join('/')} (saw ${[...seen].join(', ')})`);
}
