// Sign-up rules and groups (issue 15), in the browser against the real
// stack: the administrator allows one e-mail domain (the sign-up screen
// says so and a stranger's address is refused), invites someone by e-mail
// (the code and its link shown once; the link opens sign-up with the code
// filled in and works even with registration closed; the invitation then
// reads "Used"), revokes an invitation, and edits a user's groups beside
// the configured group names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, uniqueName, axe, shot, PASSWORD } from './lib.mjs';

let stack, browser, admin, member, page;
before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '5' }).start();
    browser = await launch();
    admin = uniqueName('admin');
    member = uniqueName('member');
    page = await openPage(browser);
    await signUp(page, stack.base, admin);      // the first account: administrator
    await stack.register(member);
});
after(async () => { await page?.context().close(); await browser?.close(); stack?.stop(); });

async function fillSignUp(p, username, email) {
    await p.getByLabel('Username').fill(username);
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await p.getByRole('button', { name: 'Create account' }).last().click();
}

test('the administrator edits a user\'s groups, beside the configured group names', async () => {
    await page.goto(`${stack.base}/admin`);
    const groups = page.locator('[data-permission-groups]');
    await groups.getByText('publishers').first().waitFor();
    await page.getByLabel('Search users').fill(member);
    await page.getByRole('button', { name: `Edit groups of ${member}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Groups').fill('admin');
    await dialog.getByRole('button', { name: 'Save groups' }).click();
    await dialog.getByText(/Administrator role/).waitFor();          // refused here, before the server
    await dialog.getByLabel('Groups').fill('publishers, reviewers');
    await dialog.getByRole('button', { name: 'Save groups' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.locator('tr[data-user-id]').filter({ hasText: member });
    await row.locator('[data-groups="publishers,reviewers"]').waitFor();
    assert.equal(stack.psql(`SELECT array_to_string(groups, ',') FROM users WHERE username = '${member}'`), 'publishers,reviewers');
    await axe(page, 'admin users with groups');
    page.check();
});

test('the administrator allows a domain: sign-up says so and refuses another address', async () => {
    await page.goto(`${stack.base}/admin`);
    await page.getByRole('link', { name: 'Sign-up rules' }).click();
    await page.waitForURL(/\/admin\/signup$/);
    await page.getByLabel('Domain').fill('Example.COM');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.locator('[data-domain="example.com"]').waitFor();
    await page.getByRole('status').filter({ hasText: 'Allowed domains: example.com.' }).waitFor();
    const cfg = await stack.api('GET', '/api/v1/config');
    assert.deepEqual(cfg.json.allowed_domains, ['example.com']);
    await axe(page, 'sign-up rules');
    await shot(page, 'admin-signup-desktop');

    const p = await openPage(browser);
    await p.goto(`${stack.base}/signup`);
    await p.getByText('@example.com').first().waitFor();
    await fillSignUp(p, uniqueName('outsider'), 'someone@elsewhere.org');
    await p.getByRole('alert').filter({ hasText: /domain|not allowed/i }).first().waitFor();
    assert.equal(await p.getByRole('button', { name: 'Sign out' }).count(), 0);
    // an address in the domain goes through
    await fillSignUp(p, uniqueName('insider'), 'someone@example.com');
    await p.getByRole('button', { name: 'Sign out' }).waitFor();
    p.check();
    await p.context().close();
});

test('an invitation: shown once, its link signs the person up with registration closed, then reads "Used"', async () => {
    await page.goto(`${stack.base}/admin/signup`);
    await page.getByRole('radio', { name: 'Closed' }).check();
    await page.getByRole('status').filter({ hasText: 'Registration: Closed.' }).waitFor();

    await page.getByRole('button', { name: 'Invite someone' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('E-mail').fill('Guest@Elsewhere.org');
    await dialog.getByLabel('Groups').fill('publishers');
    await dialog.getByRole('button', { name: 'Create invitation' }).click();
    await dialog.getByText('the code is shown only this once').waitFor();
    const code = await dialog.locator('[data-invitation-code]').inputValue();
    const link = await dialog.locator('[data-invitation-link]').inputValue();
    assert.ok(code.length >= 16, code);
    assert.equal(link, `${stack.base}/signup?invitation=${encodeURIComponent(code)}`);
    await axe(page, 'invitation created');
    await dialog.getByRole('button', { name: 'Done' }).click();
    const row = page.locator('tr[data-invitation]').filter({ hasText: /guest@elsewhere\.org/i });
    await row.getByText('Open').waitFor();
    assert.ok(!(await page.content()).includes(code), 'the code is not shown again');

    // the invited person: the link fills the code in; closed registration does not stop them
    const p = await openPage(browser);
    await p.goto(link);
    assert.equal(await p.getByLabel('Invitation code').inputValue(), code);
    const guest = uniqueName('guest');
    await fillSignUp(p, guest, 'guest@elsewhere.org');     // another domain: the invitation bypasses it
    await p.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(stack.psql(`SELECT array_to_string(groups, ',') FROM users WHERE username = '${guest}'`), 'publishers');
    p.check();
    await p.context().close();

    // a used code does not work twice
    const again = await stack.api('POST', '/api/v1/auth/register', {
        body: { username: uniqueName('twice'), password: PASSWORD, email: 'guest@elsewhere.org', invitation: code } });
    assert.equal(again.status, 403);
    assert.equal(again.json.error.code, 'invitation_invalid');

    await page.reload();
    await row.getByText('Used').waitFor();
    page.check();
});

test('a revoked invitation no longer works', async () => {
    await page.goto(`${stack.base}/admin/signup`);
    await page.getByRole('button', { name: 'Invite someone' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('E-mail').fill('late@example.com');
    await dialog.getByRole('button', { name: 'Create invitation' }).click();
    const code = await dialog.locator('[data-invitation-code]').inputValue();
    await dialog.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Revoke the invitation of late@example.com' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    const row = page.locator('tr[data-invitation="late@example.com"]');
    await row.getByText('Revoked').waitFor();

    const p = await openPage(browser);
    await p.goto(`${stack.base}/signup?invitation=${encodeURIComponent(code)}`);
    await fillSignUp(p, uniqueName('late'), 'late@example.com');
    await p.getByRole('alert').filter({ hasText: /invitation/i }).first().waitFor();
    assert.equal(await p.getByRole('button', { name: 'Sign out' }).count(), 0);
    p.check();
    await p.context().close();
    page.check();
});
