// Every main screen at a desktop's and a phone's width: axe-core finds no
// serious or critical violation, nothing breaks the CSP, and a screenshot
// of each is written to build/screenshots/ for people to look at.  Then the
// administrator's powers: a disabled user is signed out at their next step,
// and a non-administrator neither sees the Admin screen nor reaches its API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, signIn, uniqueName, axe, shot, DESKTOP, PHONE,
    createBot, newChat, send, watchAnswer } from './lib.mjs';

let stack, browser, admin, member;
before(async () => {
    stack = await new Stack({ MANGOO_DAILY_TOKEN_QUOTA: '50000' }).start();
    browser = await launch();
    admin = uniqueName('admin');
    member = uniqueName('member');
    // the first account is the administrator; give the member some history
    const page = await openPage(browser);
    await signUp(page, stack.base, admin);
    await page.context().close();
    const m = await openPage(browser);
    await signUp(m, stack.base, member);
    await createBot(m, 'Screens bot');
    await newChat(m, 'Screens bot');
    await send(m, 'Show me a code block, please: ```js\nconsole.log(1)\n```');
    await watchAnswer(m);
    await m.context().close();
});
after(async () => { await browser?.close(); stack?.stop(); });

const screens = [
    ['signin', null, async (page) => { await page.getByRole('button', { name: 'Sign in' }).last().waitFor(); }],
    ['chat', '/chat', async (page) => { await page.getByRole('button', { name: 'New chat' }).first().waitFor(); }],
    ['chat-open', null, async (page) => {
        await page.getByRole('link', { name: 'Chat' }).click();
        await page.getByRole('link', { name: /Show me a code block/ }).first().click();
        await page.locator('[data-role="assistant"]').first().waitFor();
    }],
    ['bots', '/bots', async (page) => { await page.getByText('Screens bot').first().waitFor(); }],
    ['bot-edit', null, async (page) => {
        await page.goto(`${stack.base}/bots`);
        await page.getByRole('button', { name: 'Create bot' }).first().click();
        await page.getByLabel('Instructions').waitFor();
    }],
    ['bot-page', null, async (page) => {
        await page.goto(`${stack.base}/bots`);
        await page.getByRole('link', { name: 'Sharing and usage of Screens bot' }).click();
        await page.getByRole('radio', { name: 'Private' }).waitFor();
    }],
    ['store', '/store', async (page) => { await page.getByRole('heading', { name: 'Bot store' }).waitFor(); }],
    ['account', '/account', async (page) => { await page.getByRole('button', { name: 'Export my data' }).waitFor(); }],
];

for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    test(`main screens at ${label} width: accessible, within the CSP, screenshotted`, async () => {
        const page = await openPage(browser, { viewport });
        for (const [name, path, ready] of screens) {
            if (name === 'signin') {
                await page.goto(`${stack.base}/signin`);
            } else if (name === 'chat') {
                await signIn(page, stack.base, member);
                await page.goto(`${stack.base}${path}`);
            } else if (path) {
                await page.goto(`${stack.base}${path}`);
            }
            await ready(page);
            await axe(page, `${name} (${label})`);
            await shot(page, `${name}-${label}`);
        }
        // no horizontal scrolling at a phone's width
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `the page is ${overflow}px wider than the ${label} viewport`);
        page.check();
        await page.context().close();
    });
}

test('the usage chart shows today\'s tokens and what is left of the quota', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, member);
    await page.goto(`${stack.base}/account`);
    const used = Number(stack.psql(`SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage u JOIN users s ON s.id = u.user_id WHERE s.username = '${member}'`));
    assert.ok(used > 0);
    await page.getByText(/50,?000/).first().waitFor();                   // the quota
    await page.getByText(new RegExp(`${(50000 - used).toLocaleString('en-US')}|${50000 - used}`)).first().waitFor();
    page.check();
    await page.context().close();
});

test('keyboard alone: sign in and reach the chat with Tab and Enter, focus always visible', async () => {
    const page = await openPage(browser);
    await page.goto(`${stack.base}/signin`);
    await page.getByLabel('Username').focus();
    await page.keyboard.type(member);
    await page.keyboard.press('Tab');
    await page.keyboard.type('Correct-horse-1');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // tab through the header: every focused element shows a focus indicator
    for (let i = 0; i < 6; i++) {
        await page.keyboard.press('Tab');
        const visible = await page.evaluate(() => {
            const el = document.activeElement;
            if (!el || el === document.body) return true;
            const s = getComputedStyle(el);
            return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
        });
        assert.ok(visible, `focus indicator on tab stop ${i + 1}`);
    }
    page.check();
    await page.context().close();
});

test('an administrator disables a user: their next step signs them out and says why', async () => {
    const victim = uniqueName('victim');
    const vpage = await openPage(browser);
    await signUp(vpage, stack.base, victim);
    await vpage.getByRole('link', { name: 'Bots' }).click();

    const apage = await openPage(browser);
    await signIn(apage, stack.base, admin);
    await apage.getByRole('link', { name: 'Admin' }).click();
    await apage.getByLabel('Search users').fill(victim);
    const row = apage.getByRole('row').filter({ hasText: victim });
    await row.waitFor();
    await axe(apage, 'admin');
    await shot(apage, 'admin-desktop');
    await row.getByRole('button', { name: /^Disable/ }).click();
    await row.getByText(/disabled/i).first().waitFor();
    assert.equal(stack.psql(`SELECT disabled FROM users WHERE username = '${victim}'`), 't');

    // the victim's next action
    await vpage.getByRole('link', { name: 'Chat' }).click();
    await vpage.getByRole('button', { name: 'Sign in' }).last().waitFor();
    await vpage.getByText(/disabled/i).first().waitFor();
    vpage.check();

    // and enabled again, they can sign in
    await row.getByRole('button', { name: /^Enable/ }).click();
    await row.getByText(/active|enabled/i).first().waitFor();
    await signIn(vpage, stack.base, victim);

    // made an administrator: after signing in again, the Admin screen is theirs
    await row.getByLabel(`Role for ${victim}`).selectOption('admin');
    for (let i = 0; i < 50 && stack.psql(`SELECT role FROM users WHERE username = '${victim}'`) !== 'admin'; i++) {
        await apage.waitForTimeout(100);
    }
    assert.equal(stack.psql(`SELECT role FROM users WHERE username = '${victim}'`), 'admin');
    await vpage.getByRole('button', { name: 'Sign out' }).click();
    await signIn(vpage, stack.base, victim);
    await vpage.getByRole('link', { name: 'Admin' }).waitFor();
    apage.check();
    await vpage.context().close();
    await apage.context().close();
});

test('a member sees no Admin screen, and the API refuses them anyway', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, member);
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0);
    await page.goto(`${stack.base}/admin`);
    await page.getByText(/not (allowed|authori[sz]ed|found)|administrators only/i).first().waitFor();
    assert.equal(await page.getByLabel('Search users').count(), 0);
    const token = await stack.api('POST', '/api/v1/auth/login', { body: { username: member, password: 'Correct-horse-1' } });
    const r = await stack.api('GET', '/api/v1/admin/users', { token: token.json.access_token });
    assert.equal(r.status, 403);
    page.check();
    await page.context().close();
});
