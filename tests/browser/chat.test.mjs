// Bots and chat in the browser, against the real stack with the offline
// model (slowed to 60 ms a word so a person, and a test, can watch an
// answer arrive and stop it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, uniqueName, relay, shot, assistant, createBot, newChat, send, watchAnswer } from './lib.mjs';

let stack, browser;
before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '60', MANGOO_MESSAGE_MAX: '500', MANGOO_DAILY_TOKEN_QUOTA: '100000' }).start();
    browser = await launch();
});
after(async () => { await browser?.close(); stack?.stop(); });

test('a bot is created, a chat streams its answer in pieces, and a reload shows the history', async () => {
    const page = await openPage(browser);
    const user = uniqueName('ann');
    await signUp(page, stack.base, user);
    await createBot(page, 'Helper');
    await newChat(page, 'Helper');
    await send(page, 'Hello there, what can you do?');

    const answer = await watchAnswer(page);
    assert.equal(answer.status, 'complete');
    assert.ok(answer.seen.size >= 4, `the answer arrived in pieces (saw ${answer.seen.size} lengths)`);
    assert.match(answer.text, /offline model/);
    assert.match(page.url(), /\/chat\/[0-9a-f-]{36}$/, 'a new chat gets its own address');
    const chatId = page.url().split('/').pop();

    // the chat is in the sidebar, titled from the message
    await page.getByRole('link', { name: /Hello there/ }).first().waitFor();

    await page.reload();
    await page.locator('[data-role="user"]').first().waitFor();
    assert.match(await page.locator('[data-role="user"]').first().innerText(), /Hello there, what can you do\?/);
    assert.equal(await assistant(page).getAttribute('data-status'), 'complete');
    assert.match(await assistant(page).innerText(), /offline model/);
    page.check();
    await shot(page, 'chat-desktop');

    // the server has the same conversation
    const stored = stack.psql(`SELECT string_agg(role || ':' || status, ',' ORDER BY created_at) FROM messages WHERE chat_id = '${chatId}'`);
    assert.equal(stored, 'user:complete,assistant:complete');
    await page.context().close();
});

test('Stop ends the answer: the partial answer is kept, shown as stopped, stored as cancelled', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('stopper'));
    await createBot(page, 'Talker');
    await newChat(page, 'Talker');
    await send(page, 'Tell me a long story about a mango tree that grew by the river and fed the whole village. '.repeat(3));
    const msg = assistant(page);
    await msg.waitFor();
    await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('[data-role="assistant"]')].pop();
        return m && m.innerText.length > 40;
    });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-role="assistant"]')].pop()
        ?.getAttribute('data-status') === 'cancelled');
    const partial = await msg.innerText();
    assert.match(partial, /stopped/i, 'the app says the answer was stopped');
    const chatId = page.url().split('/').pop();
    // the server stored what had been written, as cancelled
    let row = '';
    for (let i = 0; i < 50 && !row; i++) {
        row = stack.psql(`SELECT status || '|' || length(content) FROM messages WHERE chat_id = '${chatId}' AND role = 'assistant'`);
        if (!row) await page.waitForTimeout(100);
    }
    const [status, length] = row.split('|');
    assert.equal(status, 'cancelled');
    assert.ok(Number(length) > 20, 'the partial answer was stored');
    await page.reload();
    await assistant(page).waitFor();
    assert.equal(await assistant(page).getAttribute('data-status'), 'cancelled');
    page.check();
    await page.context().close();
});

test('rename and delete a chat; another user sees none of it', async () => {
    const page = await openPage(browser);
    const owner = uniqueName('owner');
    await signUp(page, stack.base, owner);
    await createBot(page, 'Private bot');
    await newChat(page, 'Private bot');
    await send(page, 'My secret plans');
    assert.equal((await watchAnswer(page)).status, 'complete');
    const chatId = page.url().split('/').pop();

    await page.getByRole('button', { name: 'Rename' }).first().click();
    await page.getByLabel('Chat title').fill('Renamed plans');
    await page.getByLabel('Chat title').press('Enter');
    await page.getByRole('link', { name: 'Renamed plans' }).first().waitFor();
    assert.equal(stack.psql(`SELECT title FROM chats WHERE id = '${chatId}'`), 'Renamed plans');

    // a second user, in a browser of their own
    const other = await openPage(browser);
    await signUp(other, stack.base, uniqueName('other'));
    await other.getByRole('link', { name: 'Chat' }).click();
    assert.equal(await other.getByRole('link', { name: 'Renamed plans' }).count(), 0);
    await other.goto(`${stack.base}/chat/${chatId}`);
    await other.getByRole('alert').first().waitFor();
    assert.match(await other.getByRole('alert').first().innerText(), /not found|not exist/i);
    assert.equal(await other.getByText('My secret plans').count(), 0);
    await other.getByRole('link', { name: 'Bots' }).click();
    await other.getByRole('button', { name: 'Create bot' }).first().waitFor();
    assert.equal(await other.getByText('Private bot').count(), 0);
    other.check();
    await other.context().close();

    await page.getByRole('button', { name: 'Delete' }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.waitForFunction(() => !document.body.innerText.includes('Renamed plans'));
    assert.equal(stack.psql(`SELECT count(*) FROM chats WHERE id = '${chatId}'`), '0');
    page.check();
    await page.context().close();
});

test('bad input: an empty message cannot be sent, an over-long one shows the server\'s 413', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('typist'));
    await createBot(page, 'Strict');
    await newChat(page, 'Strict');
    const sendButton = page.getByRole('button', { name: 'Send' });
    await page.getByLabel('Message').fill('');
    assert.equal(await sendButton.isDisabled(), true, 'empty');
    await page.getByLabel('Message').fill('   \n  ');
    assert.equal(await sendButton.isDisabled(), true, 'blank');

    const long = 'x'.repeat(600);          // MANGOO_MESSAGE_MAX is 500 here
    await send(page, long);
    const alert = page.getByRole('alert').filter({ hasText: /too (long|large)|500/i }).first();
    await alert.waitFor();
    assert.equal(await page.getByLabel('Message').inputValue(), long, 'the text is kept to be shortened');
    assert.equal(stack.psql('SELECT count(*) FROM messages WHERE length(content) = 600'), '0');
    page.check();
    await page.context().close();
});

test('a network drop mid-answer is resumed: the answer completes, its text once, as stored', async () => {
    const r = await relay(stack.port);
    try {
        const page = await openPage(browser);
        const base = `http://127.0.0.1:${r.port}`;
        await signUp(page, base, uniqueName('mobile'));
        await createBot(page, 'Roamer');
        await newChat(page, 'Roamer');
        await send(page, 'Keep talking while I walk into a tunnel with no signal at all, please.');
        await page.waitForFunction(() => {
            const m = [...document.querySelectorAll('[data-role="assistant"]')].pop();
            return m && m.innerText.length > 40;
        });
        const before = (await assistant(page).innerText()).length;
        r.drop();
        await page.waitForFunction(() => [...document.querySelectorAll('[data-role="assistant"]')].pop()
            ?.getAttribute('data-status') !== 'streaming', null, { timeout: 30000 });
        assert.equal(await assistant(page).getAttribute('data-status'), 'complete');
        const text = await assistant(page).innerText();
        assert.ok(text.length > before, 'the answer went on');
        assert.equal(text.split('offline model').length - 1, 1, `no text twice: ${text}`);
        const chatId = page.url().split('/').pop();
        let stored = '';
        for (let i = 0; i < 50 && !stored; i++) {
            stored = stack.psql(`SELECT content FROM messages WHERE chat_id = '${chatId}' AND role = 'assistant' AND status = 'complete'`);
            if (!stored) await page.waitForTimeout(100);
        }
        assert.equal(text.replace(/\s+/g, ' ').trim(), stored.replace(/\s+/g, ' ').trim());
        page.check();
        await page.context().close();
    } finally {
        await r.close();
    }
});

test('a worker lost mid-answer is shown in place with the server\'s message', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('unlucky'));
    await createBot(page, 'Fragile');
    await newChat(page, 'Fragile');
    await send(page, 'Please answer slowly so that something can go wrong in the middle of it.');
    await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('[data-role="assistant"]')].pop();
        return m && m.innerText.length > 30;
    });
    // both workers: whichever holds the stream dies
    for (const i of [0, 1]) process.kill(stack.workerPid(i), 'SIGKILL');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-role="assistant"]')].pop()
        ?.getAttribute('data-status') === 'error', null, { timeout: 10000 });
    assert.match(await assistant(page).innerText(), /worker/i);
    for (const i of [0, 1]) stack.ab('start-worker', String(i));
    // the workers serve again: the next message is answered
    for (let i = 0; i < 100; i++) {
        const h = await fetch(`${stack.base}/health`);
        if (h.status === 200) break;
        await page.waitForTimeout(100);
    }
    await send(page, 'Are you back?');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-role="assistant"]')].pop()
        ?.getAttribute('data-status') === 'complete', null, { timeout: 15000 });
    page.check();
    await page.context().close();
});


test('a bot is edited (model from the server\'s list, settings) and deleted only after confirming', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('builder'));
    await createBot(page, 'Draft bot');
    await page.getByRole('button', { name: /Edit/ }).first().click();
    const model = page.getByLabel('Model');
    const options = await model.locator('option').allInnerTexts();
    assert.ok(options.some((o) => /offline/i.test(o)), `the offline model is offered and labelled: ${options}`);
    await page.getByLabel('Name').fill('Final bot');
    await page.getByLabel('Description').fill('Answers in haiku');
    await page.getByLabel('Temperature').fill('0.3');
    await page.getByLabel('Max tokens').fill('256');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Final bot').first().waitFor();
    const row = stack.psql("SELECT name || '|' || description || '|' || temperature || '|' || max_tokens FROM bots WHERE name = 'Final bot'");
    assert.equal(row, 'Final bot|Answers in haiku|0.3|256');

    // a server-side refusal is shown in place (temperature out of range)
    await page.getByRole('button', { name: /Edit/ }).first().click();
    await page.getByLabel('Temperature').fill('7');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').first().waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(stack.psql("SELECT temperature FROM bots WHERE name = 'Final bot'"), '0.3');

    await page.getByRole('button', { name: 'Delete' }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(stack.psql("SELECT count(*) FROM bots WHERE name = 'Final bot'"), '1');
    await page.getByRole('button', { name: 'Delete' }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.waitForFunction(() => !document.body.innerText.includes('Final bot'));
    assert.equal(stack.psql("SELECT count(*) FROM bots WHERE name = 'Final bot'"), '0');
    page.check();
    await page.context().close();
});

test('the chat list pages as it is scrolled, most recent activity first', async () => {
    const page = await openPage(browser);
    const user = uniqueName('historian');
    await signUp(page, stack.base, user);
    await createBot(page, 'Archivist');
    // 60 older chats straight into the database: chat 1 the most recent
    stack.psql(`INSERT INTO chats (owner_id, bot_id, title, updated_at)
        SELECT u.id, b.id, 'Old chat ' || n, now() - n * interval '1 minute'
        FROM users u JOIN bots b ON b.owner_id = u.id, generate_series(1, 60) n
        WHERE u.username = '${user}'`);
    // the list is read afresh on each visit of the Chat screen
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('link', { name: 'Old chat 1', exact: true }).waitFor();
    const titles = () => page.getByRole('link', { name: /^Old chat \d+$/ }).allInnerTexts();
    const first = await titles();
    assert.ok(first.length < 60, `one page at first (${first.length})`);
    assert.deepEqual(first.slice(0, 3).map((t) => t.trim()), ['Old chat 1', 'Old chat 2', 'Old chat 3']);
    // scroll the list until the oldest is there
    for (let i = 0; i < 20 && !(await page.getByRole('link', { name: 'Old chat 60', exact: true }).count()); i++) {
        await page.getByRole('link', { name: /^Old chat \d+$/ }).last().scrollIntoViewIfNeeded();
        await page.waitForTimeout(150);
    }
    const all = (await titles()).map((t) => t.trim());
    assert.equal(all.length, 60, 'every chat once');
    assert.deepEqual(all, Array.from({ length: 60 }, (_, i) => `Old chat ${i + 1}`));
    page.check();
    await page.context().close();
});

test('the daily quota used up: the server\'s 429 is shown and nothing is stored', async () => {
    const page = await openPage(browser);
    const user = uniqueName('spender');
    await signUp(page, stack.base, user);
    await createBot(page, 'Metered');
    await newChat(page, 'Metered');
    stack.psql(`INSERT INTO usage (user_id, day, requests, input_tokens, output_tokens)
        SELECT id, (now() AT TIME ZONE 'UTC')::date, 1, 60000, 40000 FROM users WHERE username = '${user}'`);
    await send(page, 'One more question, please');
    const alert = page.getByRole('alert').filter({ hasText: /quota|limit/i }).first();
    await alert.waitFor();
    assert.match(await alert.innerText(), /00:00 UTC|resets/i, 'the server\'s message, with when it resets');
    assert.equal(stack.psql(`SELECT count(*) FROM messages m JOIN chats c ON c.id = m.chat_id
        JOIN users u ON u.id = c.owner_id WHERE u.username = '${user}'`), '0');
    page.check();
    await page.context().close();
});
