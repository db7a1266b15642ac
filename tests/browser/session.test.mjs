// Signing up, in and out in the browser, and where the tokens live: the
// access token in memory only, the refresh token in an HttpOnly cookie that
// page script cannot read, revoked on sign-out; a reload and a second tab
// stay signed in.  The registration policy's answers are shown plainly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, signIn, uniqueName, PASSWORD } from './lib.mjs';

let stack, browser;
before(async () => {
    stack = await new Stack().start();
    browser = await launch();
});
after(async () => { await browser?.close(); stack?.stop(); });

async function storedTokens(page) {
    return page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
}

test('sign up makes the first user the administrator; sign out, then a bad password, then sign in', async () => {
    const page = await openPage(browser);
    const admin = uniqueName('root');
    await signUp(page, stack.base, admin);
    await page.getByRole('link', { name: 'Admin' }).waitFor();      // first account: admin
    await page.getByText(admin).first().waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).last().waitFor();
    assert.match(page.url(), /\/signin/);

    await page.getByLabel('Username').fill(admin);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    const alert = page.getByRole('alert').first();
    await alert.waitFor();
    assert.match(await alert.innerText(), /wrong username or password/i, 'the server\'s message');

    await signIn(page, stack.base, admin);
    page.check();
    await page.context().close();
});

test('tokens: none readable by script; a reload and a second tab stay signed in; sign out revokes', async () => {
    const page = await openPage(browser);
    const user = uniqueName('tabby');
    await signUp(page, stack.base, user);
    await page.getByRole('link', { name: 'Chat' }).click();

    const stored = await storedTokens(page);
    assert.doesNotMatch(stored, /eyJ/, 'no JWT in web storage or script-visible cookies');
    assert.doesNotMatch(stored, /mangoo_refresh|rt_/, 'the refresh token is not visible to script');
    const cookies = await page.context().cookies();
    const refresh = cookies.find((c) => c.name === 'mangoo_refresh');
    assert.ok(refresh, 'the refresh cookie is set');
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, 'Strict');
    assert.equal(refresh.path, '/api/v1/auth');
    assert.equal(refresh.secure, false, 'plain HTTP on loopback: not Secure');

    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    // a second tab of the same browser
    const tab = await page.context().newPage();
    await tab.goto(`${stack.base}/account`);
    await tab.getByRole('button', { name: 'Sign out' }).waitFor();
    await tab.getByText(user).first().waitFor();

    // both tabs refresh at once: tokens rotate, and neither may be signed out by the other
    await Promise.all([page.reload(), tab.reload()]);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await tab.getByRole('button', { name: 'Sign out' }).waitFor();

    // sign out: the cookie's token is revoked on the server, the other tab follows
    const before = (await page.context().cookies()).find((c) => c.name === 'mangoo_refresh').value;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).last().waitFor();
    await tab.getByRole('button', { name: 'Sign in' }).last().waitFor();
    assert.equal((await page.context().cookies()).find((c) => c.name === 'mangoo_refresh'), undefined);
    const reuse = await stack.api('POST', '/api/v1/auth/refresh', { body: {}, headers: { Cookie: `mangoo_refresh=${before}` } });
    assert.equal(reuse.status, 401, 'the signed-out refresh token no longer works');
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).last().waitFor();
    page.check();
    await page.context().close();
});

test('a protected address sends a signed-out visitor to sign in, and back after it', async () => {
    const page = await openPage(browser);
    const user = uniqueName('returner');
    await stack.register(user);
    await page.goto(`${stack.base}/account`);
    await page.getByRole('button', { name: 'Sign in' }).last().waitFor();
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('button', { name: 'Export my data' }).waitFor();
    assert.match(page.url(), /\/account$/);
    page.check();
    await page.context().close();
});

test('first-admin registration: the answer after the first account is shown plainly', async () => {
    const closed = await new Stack({ MANGOO_REGISTRATION: 'first-admin' }).start();
    try {
        const page = await openPage(browser);
        await page.goto(`${closed.base}/signin`);
        await page.getByText(/first account/i).first().waitFor();       // explained before
        await closed.register(uniqueName('first'));
        await page.reload();
        await page.getByText(/registration is closed/i).first().waitFor();
        // the form is not offered; the API would refuse anyway
        assert.equal(await page.getByLabel('Email').count(), 0);
        page.check();
        await page.context().close();
    } finally {
        closed.stop();
    }
});

test('export my data downloads my account as JSON; deleting the account asks first, then signs out for good', async () => {
    const page = await openPage(browser);
    const user = uniqueName('leaver');
    await signUp(page, stack.base, user);
    await page.getByRole('link', { name: 'Account' }).click();
    const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export my data' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /\.json$/);
    const fs = await import('node:fs');
    const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
    assert.equal(JSON.stringify(exported).includes(user), true, 'the export is this user\'s');

    await page.getByRole('button', { name: 'Delete my account' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    // Cancel changes nothing
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(stack.psql(`SELECT count(*) FROM users WHERE username = '${user}'`), '1');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    const confirm = page.getByRole('dialog');
    const destroy = confirm.getByRole('button', { name: /Delete/ }).last();
    if (await confirm.getByRole('textbox').count()) {
        assert.equal(await destroy.isDisabled(), true, 'not until the name is typed');
        await confirm.getByRole('textbox').fill(user);
    }
    await destroy.click();
    await page.getByRole('button', { name: 'Sign in' }).last().waitFor();
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('alert').first().waitFor();
    assert.equal(stack.psql(`SELECT count(*) FROM chats c JOIN users u ON u.id = c.owner_id WHERE u.username = '${user}'`), '0');
    page.check();
    await page.context().close();
});
