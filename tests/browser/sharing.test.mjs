// Sharing a bot (issue 15), in the browser against the real stack: the
// owner shares a bot by its link and a second user opens the link and
// chats with it, never seeing its instructions; making it private again
// cuts them off at their next message; named people find it under "Shared
// with me"; in the store it is found by a search, pinned, chatted with and
// counted; someone who may not publish sees the Store option disabled with
// the reason; the owner sees the bot's usage per day.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, signIn, uniqueName, axe, shot, createBot, send, watchAnswer } from './lib.mjs';

const SECRET = 'Speak like a lighthouse keeper; the password is TANGERINE-42.';

let stack, browser, owner, friend, stranger, ownerPage, botId, link;
before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '5', MANGOO_DAILY_TOKEN_QUOTA: '1000000' }).start();
    browser = await launch();
    // the first account is the administrator, who may publish
    owner = uniqueName('owner');
    friend = uniqueName('friend');
    stranger = uniqueName('stranger');
    ownerPage = await openPage(browser);
    await signUp(ownerPage, stack.base, owner);
    await createBot(ownerPage, 'Lighthouse keeper', SECRET);
    for (const u of [friend, stranger]) await stack.register(u);
});
after(async () => { await ownerPage?.context().close(); await browser?.close(); stack?.stop(); });

async function openOwnBot(page, name) {
    await page.goto(`${stack.base}/bots`);
    await page.getByRole('link', { name: `Sharing and usage of ${name}` }).click();
    await page.getByRole('heading', { level: 1, name }).waitFor();
}

async function setVisibility(page, label) {
    const radio = page.getByRole('radio', { name: label });
    if (await radio.isChecked()) return;
    await radio.check();
    await page.getByRole('status').filter({ hasText: `Saved: ${label}` }).waitFor();
}

async function signedIn(user) {
    const page = await openPage(browser);
    await signIn(page, stack.base, user);
    return page;
}

test('the owner shares a bot by its link; another user opens it and chats; private again cuts them off', async () => {
    await openOwnBot(ownerPage, 'Lighthouse keeper');
    botId = ownerPage.url().split('/').pop();
    assert.match(botId, /^[0-9a-f-]{36}$/);
    await setVisibility(ownerPage, 'Shared via link or named people');
    link = await ownerPage.getByLabel('Link to this bot').inputValue();
    assert.equal(link, `${stack.base}/bots/${botId}`);
    await ownerPage.getByRole('button', { name: 'Copy link' }).waitFor();
    await axe(ownerPage, 'bot page (owner)');
    await shot(ownerPage, 'bot-sharing-desktop');
    assert.equal(stack.psql(`SELECT visibility FROM bots WHERE id = '${botId}'`), 'shared');

    // the friend, with the link: name, owner, Chat and Pin; no instructions
    const page = await signedIn(friend);
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Lighthouse keeper' }).waitFor();
    await page.getByText(`by ${owner}`).waitFor();
    await page.getByRole('button', { name: 'Pin Lighthouse keeper' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Edit' }).count(), 0);
    assert.ok(!(await page.content()).includes('TANGERINE'), 'the instructions never reach another user');
    await axe(page, 'bot page (others)');
    await shot(page, 'bot-others-desktop');

    await page.getByRole('button', { name: 'Chat', exact: true }).click();
    await page.waitForURL(/\/chat\?bot=/);
    assert.equal(await page.getByLabel(/^Bot$/).inputValue(), botId);
    await send(page, 'Hello keeper, what do you see?');
    const answer = await watchAnswer(page);
    assert.equal(answer.status, 'complete');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    const chatId = page.url().split('/').pop();
    // the chat is the friend's own
    assert.equal(stack.psql(`SELECT u.username FROM chats c JOIN users u ON u.id = c.owner_id WHERE c.id = '${chatId}'`), friend);
    assert.ok(!(await page.content()).includes('TANGERINE'));

    // private again: the friend's next message is refused
    await setVisibility(ownerPage, 'Private');
    await send(page, 'Are you still there?');
    const refusal = page.getByRole('alert').filter({ hasText: /not found|no longer|not shared|private/i }).first();
    await refusal.waitFor();
    // and the link now says so
    await page.goto(link);
    await page.getByRole('heading', { name: 'Bot not found' }).waitFor();
    page.check();
    await page.context().close();
    ownerPage.check();
});

test('a bot shared with a named person shows under their "Shared with me"; removing them takes it away', async () => {
    await openOwnBot(ownerPage, 'Lighthouse keeper');
    await setVisibility(ownerPage, 'Shared via link or named people');
    await ownerPage.getByLabel('Username or e-mail').fill(friend);
    await ownerPage.getByRole('button', { name: 'Share', exact: true }).click();
    await ownerPage.getByRole('status').filter({ hasText: `Shared with ${friend}` }).waitFor();
    await ownerPage.locator(`[data-share="${friend}"]`).waitFor();

    // an unknown user is refused with the API's message
    await ownerPage.getByLabel('Username or e-mail').fill('nobody-by-that-name');
    await ownerPage.getByRole('button', { name: 'Share', exact: true }).click();
    await ownerPage.getByRole('alert').filter({ hasText: /not found|no user|unknown/i }).first().waitFor();

    const page = await signedIn(friend);
    await page.goto(`${stack.base}/bots`);
    const shared = page.locator('[data-list="shared-with-me"]');
    await shared.getByText('Lighthouse keeper').waitFor();
    await shared.getByText(`by ${owner}`).waitFor();
    await axe(page, 'bots with shared with me');
    await shot(page, 'bots-shared-with-me-desktop');

    await ownerPage.getByRole('button', { name: `Remove ${friend}` }).click();
    await ownerPage.getByRole('status').filter({ hasText: `No longer shared with ${friend}` }).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Shared with me' }).waitFor();
    await page.getByText('No bot is shared with you yet.').waitFor();
    page.check();
    await page.context().close();
});

test('in the store: found by a search, pinned into "Shared with me", chatted with and counted', async () => {
    await openOwnBot(ownerPage, 'Lighthouse keeper');
    await setVisibility(ownerPage, 'Store');
    const before = Number(stack.psql(`SELECT use_count FROM bots WHERE id = '${botId}'`));

    const page = await signedIn(stranger);
    await page.getByRole('link', { name: 'Store', exact: true }).click();
    await page.getByRole('heading', { name: 'Bot store' }).waitFor();
    await page.getByLabel('Search the store').fill('lighthouse');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL(/\/store\?q=lighthouse/);
    const card = page.locator(`[data-bot-id="${botId}"]`);
    await card.waitFor();
    await card.getByText(`by ${owner}`).waitFor();
    await card.locator('[data-use-count]').waitFor();
    // a search that matches nothing says so
    await page.getByLabel('Search the store').fill('zzz-no-such-bot');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText(/No bot in the store matches/).waitFor();
    await page.getByLabel('Search the store').fill('lighthouse');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await card.waitFor();
    await axe(page, 'store');
    await shot(page, 'store-desktop');

    await card.getByRole('button', { name: 'Pin Lighthouse keeper' }).click();
    await card.getByRole('button', { name: 'Unpin Lighthouse keeper' }).waitFor();
    await page.goto(`${stack.base}/bots`);
    const shared = page.locator('[data-list="shared-with-me"]');
    await shared.getByText('Lighthouse keeper').waitFor();
    await shared.getByText(/pinned/).waitFor();

    // a pinned bot is in the chat's picker; a chat with it counts as a use
    await shared.getByRole('button', { name: 'Chat with Lighthouse keeper' }).click();
    await page.waitForURL(/\/chat\?bot=/);
    await send(page, 'Hello from the store');
    assert.equal((await watchAnswer(page)).status, 'complete');
    assert.ok(!(await page.content()).includes('TANGERINE'));
    const afterCount = Number(stack.psql(`SELECT use_count FROM bots WHERE id = '${botId}'`));
    assert.ok(afterCount > before, `use count ${before} -> ${afterCount}`);

    // unpinning takes it out of "Shared with me"
    await page.goto(`${stack.base}/bots`);
    await shared.getByRole('button', { name: 'Unpin Lighthouse keeper' }).click();
    await shared.getByRole('button', { name: 'Pin Lighthouse keeper' }).waitFor();
    await page.reload();
    await page.getByText('No bot is shared with you yet.').waitFor();
    page.check();
    await page.context().close();
});

test('someone who may not publish sees the Store option disabled, with the reason', async () => {
    const page = await signedIn(friend);
    await createBot(page, 'Friendly helper');
    await openOwnBot(page, 'Friendly helper');
    const store = page.getByRole('radio', { name: 'Store' });
    assert.equal(await store.isDisabled(), true);
    await page.getByText(/may not publish bots/).first().waitFor();
    // and no API keys for them
    assert.equal(await page.getByRole('link', { name: 'API keys' }).count(), 0);
    // sharing by link is theirs to use
    await setVisibility(page, 'Shared via link or named people');
    page.check();
    await page.context().close();
});

test('the owner sees the bot\'s usage per day, counts only', async () => {
    await openOwnBot(ownerPage, 'Lighthouse keeper');
    const total = ownerPage.locator('[data-usage-total]');
    await total.waitFor();
    const m = /(\d+) requests?/.exec(await total.innerText());
    assert.ok(m && Number(m[1]) >= 2, `usage: ${await total.innerText()}`);
    await ownerPage.getByText('Show as a table').click();
    const today = new Date().toISOString().slice(0, 10);
    await ownerPage.getByRole('rowheader', { name: today }).waitFor();
    ownerPage.check();
});
