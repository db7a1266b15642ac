// Answers that survive (issue 14), in the browser against the real stack:
// a reload mid-answer, a second tab, and a network that goes away for a
// while all show the answer continuing to its end, its text once, the same
// as the server stored.  The offline model is slowed to 100 ms a word, so
// an answer takes about ten seconds: time to reload or cut the network
// while it is written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, uniqueName, relay, shot, assistant, createBot, newChat, send } from './lib.mjs';

let stack, browser;
before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '100', MANGOO_DAILY_TOKEN_QUOTA: '1000000' }).start();
    browser = await launch();
});
after(async () => { await browser?.close(); stack?.stop(); });

// ~60 words the offline model quotes back, then ~35 of its own: ~95 pieces
const QUESTION = 'Tell me about the old mango tree that grew beside the river near the village school, '
    + 'how the children sat in its shade every afternoon, how the farmers traded its fruit at the market '
    + 'each summer, and how the whole village gathered under it when the rains came late one year and '
    + 'everyone waited together for the clouds to arrive from the hills';

const norm = (s) => s.replace(/\s+/g, ' ').trim();
const occurrences = (text, word) => text.split(word).length - 1;

// The last answer has at least n characters (it is under way).
async function answerHasText(page, n) {
    await page.waitForFunction((min) => {
        const m = [...document.querySelectorAll('[data-role="assistant"]')].pop();
        return m && m.getAttribute('data-status') === 'streaming' && m.innerText.length > min;
    }, n, { timeout: 30000 });
}

// Wait for the last answer to end; its status and text.
async function answerEnd(page) {
    await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('[data-role="assistant"]')].pop();
        return m && m.getAttribute('data-status') !== 'streaming';
    }, null, { timeout: 60000 });
    const msg = assistant(page);
    return { status: await msg.getAttribute('data-status'), text: await msg.innerText() };
}

// The answer the server stored (written as the answer ends).
async function storedAnswer(page, chatId) {
    for (let i = 0; i < 100; i++) {
        const row = stack.psql(`SELECT status || '|' || content FROM messages WHERE chat_id = '${chatId}' AND role = 'assistant'`);
        if (row) {
            const bar = row.indexOf('|');
            return { status: row.slice(0, bar), content: row.slice(bar + 1) };
        }
        await page.waitForTimeout(100);
    }
    throw new Error(`no answer stored in ${chatId}`);
}

function chatIdOf(page) {
    const m = page.url().match(/\/chat\/([0-9a-f-]{36})$/);
    assert.ok(m, `a chat address: ${page.url()}`);
    return m[1];
}

// A second page in the same browser profile (signed in through the same
// session cookie), checked for CSP violations and script errors like
// openPage's.
async function secondTab(page) {
    const tab = await page.context().newPage();
    tab.problems = [];
    tab.on('pageerror', (e) => tab.problems.push(`page error: ${e.message}`));
    tab.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) tab.problems.push(`CSP: ${m.text()}`);
    });
    tab.check = () => {
        if (tab.problems.length) throw new Error(tab.problems.join('\n'));
    };
    return tab;
}

test('a reload mid-answer shows the answer continuing to its end, its text once', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('reloader'));
    await createBot(page, 'Storyteller');
    await newChat(page, 'Storyteller');
    await send(page, QUESTION);
    await answerHasText(page, 40);
    const chatId = chatIdOf(page);
    const before = (await assistant(page).innerText()).length;

    await page.reload();
    // after the reload: the question, then its answer still being written
    await page.locator('[data-role="assistant"][data-status="streaming"]').waitFor({ timeout: 15000 });
    assert.match(await page.locator('[data-role="user"]').last().innerText(), /old mango tree/);
    const end = await answerEnd(page);
    assert.equal(end.status, 'complete');
    assert.ok(end.text.length > before, 'the answer went on after the reload');
    assert.equal(await page.locator('[data-role="assistant"]').count(), 1, 'one answer');
    assert.equal(occurrences(end.text, 'offline model'), 1, `no text twice: ${end.text}`);
    const stored = await storedAnswer(page, chatId);
    assert.equal(stored.status, 'complete');
    assert.equal(norm(end.text), norm(stored.content), 'the page shows what the server stored');
    // a fresh load shows the same
    await page.reload();
    await assistant(page).waitFor();
    assert.equal(await assistant(page).getAttribute('data-status'), 'complete');
    assert.equal(norm(await assistant(page).innerText()), norm(stored.content));
    page.check();
    await page.context().close();
});

test('another tab opening the chat mid-answer shows it continuing; Stop there stops it in both tabs', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('twotabs'));
    await createBot(page, 'Narrator');
    await newChat(page, 'Narrator');
    await send(page, QUESTION);
    await answerHasText(page, 20);
    const chatId = chatIdOf(page);

    const tab = await secondTab(page);
    await tab.goto(`${stack.base}/chat/${chatId}`);
    await tab.locator('[data-role="assistant"][data-status="streaming"]').waitFor({ timeout: 15000 });
    // it follows the answer live: its text grows
    const first = (await assistant(tab).innerText()).length;
    await tab.waitForFunction((n) => {
        const m = [...document.querySelectorAll('[data-role="assistant"]')].pop();
        return m && m.innerText.length > n;
    }, first + 10, { timeout: 15000 });

    await tab.getByRole('button', { name: 'Stop' }).click();
    await answerEnd(tab);
    const original = await answerEnd(page);
    assert.equal(await assistant(tab).getAttribute('data-status'), 'cancelled');
    assert.equal(original.status, 'cancelled', 'the first tab is told the answer was stopped');
    assert.match(original.text, /stopped/i);
    const stored = await storedAnswer(page, chatId);
    assert.equal(stored.status, 'cancelled');
    assert.ok(stored.content.length > 20, 'the partial answer was stored');
    // the tab that was told last shows everything that was stored; the one
    // that pressed Stop at most that
    const withoutBadge = (t) => norm(t.replace(/\s*Stopped\s*$/, ''));
    assert.equal(withoutBadge(original.text), norm(stored.content));
    assert.ok(norm(stored.content).startsWith(withoutBadge(await assistant(tab).innerText())));
    assert.ok(occurrences(stored.content, 'offline model') <= 1, `no text twice: ${stored.content}`);
    tab.check();
    page.check();
    await page.context().close();
});

test('a network that goes away for a while mid-answer: "Reconnecting…", then the answer completes, its text once', async () => {
    const r = await relay(stack.port);
    try {
        const page = await openPage(browser);
        const base = `http://127.0.0.1:${r.port}`;
        await signUp(page, base, uniqueName('tunnel'));
        await createBot(page, 'Roamer');
        await newChat(page, 'Roamer');
        await send(page, QUESTION);
        await answerHasText(page, 40);
        const chatId = chatIdOf(page);

        r.down();
        const msg = page.locator('[data-role="assistant"][data-reconnecting="true"]');
        await msg.waitFor({ timeout: 15000 });
        assert.match(await msg.innerText(), /Reconnecting/);
        assert.equal(await msg.getAttribute('data-status'), 'streaming');
        await shot(page, 'chat-reconnecting');
        // the network stays away a while (several attempts fail), then is back
        await page.waitForTimeout(1500);
        r.up();

        const end = await answerEnd(page);
        assert.equal(end.status, 'complete');
        assert.equal(await assistant(page).getAttribute('data-reconnecting'), null);
        assert.doesNotMatch(end.text, /Reconnecting/);
        assert.equal(occurrences(end.text, 'offline model'), 1, `no text twice: ${end.text}`);
        const stored = await storedAnswer(page, chatId);
        assert.equal(stored.status, 'complete');
        assert.equal(norm(end.text), norm(stored.content), 'the page shows what the server stored');
        page.check();
        await page.context().close();
    } finally {
        await r.close();
    }
});
