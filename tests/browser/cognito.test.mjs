// With nginx configured for Cognito, the app offers one "Sign in" button:
// Cognito's hosted UI (fakes.py's, on loopback) with the authorization code
// flow and PKCE, the code traded by a worker, Cognito's refresh token kept in
// the HttpOnly cookie, and signing out ending the hosted UI's session too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Stack, TOP, launch, openPage, axe, shot } from './lib.mjs';

const CLIENT = 'mangoo-browser-client';
let idp, idpUrl, stack, browser;

// The fake prints its address, then its issuer and JWKS URLs.
function startFakeCognito() {
    return new Promise((resolve, reject) => {
        const p = spawn('python3', [path.join(TOP, 'tests/e2e/fakes.py'), 'cognito', '--port', '0',
            '--client-id', CLIENT, '--user', 'carol', '--group', 'admin'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.on('exit', (code) => reject(new Error(`fake Cognito exited (${code}): ${out}`)));
        p.stdout.on('data', (d) => {
            out += d;
            const url = out.match(/listening on (http:\/\/\S+)/);
            const more = out.match(/issuer (\S+) jwks (\S+)/);
            if (url && more) resolve({ proc: p, url: url[1], issuer: more[1], jwks: more[2] });
        });
    });
}

before(async () => {
    idp = await startFakeCognito();
    idpUrl = idp.url;
    stack = await new Stack({
        MANGOO_JWKS: idp.jwks,
        MANGOO_ISSUER: idp.issuer,
        MANGOO_CLIENT_ID: CLIENT,
        MANGOO_COGNITO_DOMAIN: idpUrl,
    }).start();
    browser = await launch();
});
after(async () => {
    await browser?.close();
    stack?.stop();
    idp?.proc.removeAllListeners('exit');
    idp?.proc.kill();
});

test('Cognito: one Sign in button, code + PKCE through the hosted UI, signed in with the cookie; sign out ends both', async () => {
    const page = await openPage(browser);
    const hosted = [];
    page.on('request', (r) => { if (r.url().startsWith(idpUrl)) hosted.push(r.url()); });
    await page.goto(`${stack.base}/chat`);
    const button = page.getByRole('button', { name: 'Sign in' });
    await button.waitFor();
    assert.equal(await page.getByLabel('Password').count(), 0, 'no local password form in Cognito mode');
    assert.equal(await page.getByRole('link', { name: 'Create account' }).count(), 0);
    await axe(page, 'cognito sign-in');
    await shot(page, 'signin-cognito-desktop');

    await button.click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.match(page.url(), new RegExp(`^${stack.base}/chat`), 'back where the visitor was going');

    const authorize = new URL(hosted.find((u) => u.includes('/oauth2/authorize')));
    const q = authorize.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), CLIENT);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(q.get('redirect_uri'), `${stack.base}/auth/callback`);
    assert.ok(q.get('state')?.length >= 16, 'a state that cannot be guessed');
    assert.equal(q.has('client_secret'), false);
    // the browser never talked to the token endpoint: a worker traded the code
    assert.equal(hosted.some((u) => u.includes('/oauth2/token')), false);

    // the admin group from Cognito's token
    await page.getByRole('link', { name: 'Admin' }).waitFor();
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    assert.doesNotMatch(stored, /eyJ/, 'no token where script can read it');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'mangoo_refresh');
    assert.ok(cookie?.httpOnly, 'Cognito\'s refresh token is in the HttpOnly cookie');

    // a reload restores the session through the cookie (refresh at Cognito)
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.ok(hosted.some((u) => u.includes('/logout')), 'the hosted UI session is ended too');
    assert.equal((await page.context().cookies()).find((c) => c.name === 'mangoo_refresh'), undefined);
    page.check();
    await page.context().close();
});

test('Cognito: a callback with a forged state is refused and signs nobody in', async () => {
    const page = await openPage(browser);
    await page.goto(`${stack.base}/auth/callback?code=stolen-code&state=forged-state`);
    const alert = page.getByRole('alert').first();
    await alert.waitFor();
    assert.match(await alert.innerText(), /state|again|expired|invalid/i);
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
    page.check();
    await page.context().close();
});
