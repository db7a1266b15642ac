// Knowledge bases in the browser, against the real stack with the local
// embedder and the offline model: a knowledge base is made, a Markdown file
// uploaded (its progress bar shown) and ingested, searched; files over the
// size limit and binary data posing as text are refused with the reason
// shown; a document whose ingestion fails shows why and is retried; a bot grounded
// in the knowledge base answers with sources that open and survive a
// reload; another user sees none of it.  Screenshots and axe on each screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Stack, launch, openPage, signUp, signIn, uniqueName, shot, axe, assistant, newChat, send, watchAnswer,
    PHONE, uploadFiles, documentRow, waitForDocumentStatus } from './lib.mjs';

const FACT = 'The Zorbleck lighthouse on Quillan Island is painted teal and was first lit in 1887.';
const MARKDOWN = `# Quillan Island guide

## Landmarks

${FACT} Its keeper, Ottoline Varga, rings the brass bell at dusk.

## Getting there

A ferry leaves Harbourtown every morning at seven.
`;

let stack, browser, tmp;
// shared by the tests below, which run in order
const owner = uniqueName('librarian');
const kbName = `Island notes ${Date.now().toString(36)}`;
let kbId = null;

before(async () => {
    // uploads up to 1 MiB here (nginx: the same plus room for multipart)
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '5', MANGOO_UPLOAD_MAX: '1048576' }).start();
    browser = await launch();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mangoo-kb-'));
});
after(async () => {
    await browser?.close();
    stack?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('a knowledge base is created, a Markdown file uploaded with progress, ingested and searched', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, owner);
    await page.getByRole('link', { name: 'Knowledge' }).click();
    await page.getByRole('heading', { name: 'Knowledge', exact: true }).waitFor();
    await axe(page, 'knowledge list (empty)');

    await page.getByRole('button', { name: 'Create knowledge base' }).click();
    const dialog = page.getByRole('dialog');
    const options = await dialog.getByLabel('Embedding model').locator('option').allInnerTexts();
    assert.ok(options.includes('Local (offline)'), `the offline embedder is offered: ${options}`);
    await dialog.getByLabel('Name').fill(kbName);
    await dialog.getByLabel('Description').fill('Facts about a made-up island');
    await dialog.getByRole('button', { name: 'Create knowledge base' }).click();
    await page.getByRole('link', { name: kbName, exact: true }).waitFor();
    assert.equal(stack.psql(`SELECT embedding_model FROM knowledge_bases WHERE name = '${kbName}'`), 'local');
    page.check();
    await shot(page, 'knowledge-list-desktop');
    await axe(page, 'knowledge list');

    await page.getByRole('link', { name: kbName, exact: true }).click();
    await page.getByRole('heading', { name: kbName }).waitFor();
    kbId = page.url().split('/').pop();
    assert.match(kbId, /^[0-9a-f-]{36}$/);

    // the upload: the progress bar's values are recorded as they change
    const md = path.join(tmp, 'quillan-guide.md');
    fs.writeFileSync(md, MARKDOWN);
    const statuses = await uploadFiles(page, [md]);
    const bar = page.getByRole('progressbar', { name: /quillan-guide\.md/ });
    await bar.waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('[role="progressbar"]')]
        .some((b) => b.getAttribute('aria-valuenow') === '100'));
    const seen = await page.evaluate(() => window.__mgProgress);
    assert.ok(seen.length > 0 && seen.at(-1) === '100', `the bar went to 100: ${seen}`);

    const final = await waitForDocumentStatus(page, 'quillan-guide.md', ['ready'], statuses);
    assert.equal(final, 'ready', `the document was ingested (statuses seen: ${[...statuses]})`);
    const row = documentRow(page, 'quillan-guide.md');
    assert.match(await row.innerText(), /Markdown/);
    const chunks = Number(stack.psql(`SELECT count(*) FROM knowledge_chunks c JOIN documents d ON d.id = c.document_id
        WHERE d.filename = 'quillan-guide.md'`));
    assert.ok(chunks >= 1, 'chunks were stored');
    assert.equal((await row.locator('td').nth(3).innerText()).trim(), String(chunks), 'the chunk count is shown');
    // polling has stopped: the list stays still once every document is settled
    const before = await countRequests(page, /\/documents(\?|$)/, 4000);
    assert.ok(before <= 1, `no polling once settled (${before} list requests in 4 s)`);

    await page.getByLabel('Search this knowledge base').fill('What colour is the Zorbleck lighthouse?');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const results = page.getByRole('list', { name: 'Search results' });
    await results.waitFor();
    const text = await results.innerText();
    assert.match(text, /teal/);
    assert.match(text, /quillan-guide\.md/);
    page.check();
    await shot(page, 'knowledge-detail-desktop');
    await axe(page, 'knowledge base page');
    await page.context().close();
});

test('bad files: over the size limit (413), binary data named .txt, script-only HTML that fails and is retried', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, owner);
    await page.goto(`${stack.base}/knowledge/${kbId}`);
    await page.getByRole('heading', { name: kbName }).waitFor();

    // binary data posing as text: the server refuses it at once (400) or
    // its ingestion fails; either way the reason is on screen
    const bin = path.join(tmp, 'garbage.txt');
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = ((i * 131 + 7) % 256) | 0x80;
    bytes[0] = 0xff; bytes[1] = 0xfe; bytes[2] = 0x00;
    fs.writeFileSync(bin, bytes);
    await uploadFiles(page, [bin]);
    const upload = page.getByRole('list', { name: 'Uploads' }).getByRole('listitem').filter({ hasText: 'garbage.txt' });
    let outcome = null;
    for (let i = 0; i < 600 && !outcome; i++) {
        if (await upload.getAttribute('data-upload-state') === 'error') outcome = 'refused';
        else if (await documentRow(page, 'garbage.txt').count()
            && ['failed', 'ready'].includes(await documentRow(page, 'garbage.txt').getAttribute('data-status'))) {
            outcome = await documentRow(page, 'garbage.txt').getAttribute('data-status');
        } else await page.waitForTimeout(100);
    }
    assert.notEqual(outcome, 'ready', 'binary data is never indexed as text');
    assert.ok(outcome, 'the binary upload came to an end');
    if (outcome === 'refused') {
        const reason = await upload.getByRole('alert').innerText();
        assert.match(reason, /binary|not text|UTF-8|not valid/i, `the reason is shown: ${reason}`);
        assert.equal(stack.psql("SELECT count(*) FROM documents WHERE filename = 'garbage.txt'"), '0');
    } else {
        const error = stack.psql("SELECT error FROM documents WHERE filename = 'garbage.txt'");
        assert.ok((await documentRow(page, 'garbage.txt').innerText()).includes(error), `the reason is shown: ${error}`);
    }

    // over the size limit: the 413 is shown on the upload, nothing is stored
    for (const [name, size] of [['just-over.txt', 1048576 + 1000], ['far-over.txt', 3 * 1048576]]) {
        const big = path.join(tmp, name);
        fs.writeFileSync(big, 'lorem ipsum dolor sit amet\n'.repeat(Math.ceil(size / 27)).slice(0, size));
        await uploadFiles(page, [big]);
        const item = page.getByRole('list', { name: 'Uploads' }).getByRole('listitem').filter({ hasText: name });
        await item.and(page.locator('[data-upload-state="error"]')).waitFor({ timeout: 30000 });
        const reason = await item.getByRole('alert').innerText();
        assert.match(reason, /too large|larger|limit/i, `${name}: the size limit is named: ${reason}`);
        assert.equal(stack.psql(`SELECT count(*) FROM documents WHERE filename = '${name}'`), '0');
    }

    // HTML with only script is accepted, then fails in ingestion: its
    // reason in the table, and Retry runs it again
    const html = path.join(tmp, 'only-script.html');
    fs.writeFileSync(html, '<html><head><script>var secret = 1;</script></head><body><script>alert(2)</script></body></html>');
    const statuses = await uploadFiles(page, [html]);
    const final = await waitForDocumentStatus(page, 'only-script.html', ['failed', 'ready'], statuses);
    assert.equal(final, 'failed');
    const row = documentRow(page, 'only-script.html');
    const error = stack.psql("SELECT error FROM documents WHERE filename = 'only-script.html'");
    assert.ok(error.length > 0, 'the server recorded a reason');
    assert.ok((await row.innerText()).includes(error), `the reason is shown: ${error}`);
    const sql = "SELECT status || '|' || updated_at FROM documents WHERE filename = 'only-script.html'";
    const first = stack.psql(sql);

    await row.getByRole('button', { name: /Retry/ }).click();
    // queued again and run again: it fails anew, at a later time
    for (let i = 0; i < 150; i++) {
        const now = stack.psql(sql);
        if (now !== first && now.startsWith('failed|')) break;
        await page.waitForTimeout(100);
    }
    const again = stack.psql(sql);
    assert.ok(again !== first && again.startsWith('failed|'), `the retry ran (${first} then ${again})`);
    await waitForDocumentStatus(page, 'only-script.html', ['failed']);
    assert.equal(await row.getByRole('button', { name: /Retry/ }).count(), 1);

    // a web page on a loopback address: accepted, then refused by the
    // fetcher (or refused at once); the reason is shown either way
    await page.getByLabel('Web page URL').fill('http://127.0.0.1:9/private.html');
    await page.getByRole('button', { name: 'Add page' }).click();
    const added = page.getByRole('status').filter({ hasText: /Added/ });
    const refused = page.getByRole('alert').filter({ hasText: /127\.0\.0\.1|loopback|private|not allowed|may not/i });
    await added.or(refused).first().waitFor();
    if (await added.count()) {
        const pageRow = await waitForDocumentStatus(page, 'private.html', ['failed', 'ready']);
        assert.equal(pageRow, 'failed', 'a loopback address is never fetched');
        assert.match(await documentRow(page, 'private.html').innerText(), /127\.0\.0\.1|loopback|private|may not/i);
    }
    page.check();
    await shot(page, 'knowledge-failed-desktop');
    await axe(page, 'knowledge base page with a failed document');

    // the phone layout of both knowledge screens
    await page.setViewportSize(PHONE);
    await page.reload();
    await page.getByRole('heading', { name: kbName }).waitFor();
    await documentRow(page, 'quillan-guide.md').waitFor();
    await shot(page, 'knowledge-detail-phone');
    await axe(page, 'knowledge base page (phone)');
    await page.getByRole('link', { name: 'All knowledge bases' }).first().click();
    await page.getByRole('link', { name: kbName, exact: true }).waitFor();
    await shot(page, 'knowledge-list-phone');
    await axe(page, 'knowledge list (phone)');
    page.check();
    await page.context().close();
});

test('a bot grounded in the knowledge base answers with sources that open, and keeps them after a reload', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, owner);
    await page.getByRole('link', { name: 'Bots' }).click();
    await page.getByRole('button', { name: 'Create bot' }).first().click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name', { exact: true }).fill('Island guide');
    await dialog.getByLabel('Instructions').fill('Answer from the island notes.');
    await dialog.getByLabel('Use knowledge bases').check();
    await dialog.getByRole('group', { name: 'Knowledge bases' }).getByLabel(kbName).check();
    await axe(page, 'bot editor with knowledge bases');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Island guide').first().waitFor();
    assert.equal(stack.psql("SELECT rag_enabled FROM bots WHERE name = 'Island guide'"), 't');
    assert.equal(stack.psql(`SELECT count(*) FROM bot_knowledge_bases l JOIN bots b ON b.id = l.bot_id
        WHERE b.name = 'Island guide' AND l.knowledge_base_id = '${kbId}'`), '1');

    await newChat(page, 'Island guide');
    await send(page, 'What colour is the Zorbleck lighthouse?');
    const answer = await watchAnswer(page);
    assert.equal(answer.status, 'complete');
    assert.match(answer.text, /teal/, 'the answer quotes the document');
    const sources = assistant(page).getByRole('list', { name: 'Sources' });
    await sources.waitFor();
    assert.match(await sources.innerText(), /\[1\] quillan-guide\.md/);
    const stored = stack.psql(`SELECT citations->0->>'document' FROM messages m JOIN chats c ON c.id = m.chat_id
        WHERE c.id = '${page.url().split('/').pop()}' AND m.role = 'assistant'`);
    assert.equal(stored, 'quillan-guide.md', 'the citations were stored with the answer');

    await sources.getByRole('button').first().click();
    const passage = page.getByRole('dialog', { name: /Source \[1\]/ });
    await passage.waitFor();
    const ptext = await passage.innerText();
    assert.match(ptext, /quillan-guide\.md/);
    assert.match(ptext, /teal/);
    await shot(page, 'citation-dialog-desktop');
    await axe(page, 'citation dialog');
    await passage.getByRole('button', { name: 'Close' }).click();
    await passage.waitFor({ state: 'detached' });

    await page.reload();
    await assistant(page).waitFor();
    const again = assistant(page).getByRole('list', { name: 'Sources' });
    await again.waitFor();
    assert.match(await again.innerText(), /quillan-guide\.md/);
    await again.getByRole('button').first().click();
    await page.getByRole('dialog', { name: /Source \[1\]/ }).waitFor();
    page.check();
    await shot(page, 'chat-with-sources-desktop');
    await page.context().close();
});

test('another user sees none of the first one\'s knowledge bases', async () => {
    const page = await openPage(browser);
    const other = uniqueName('stranger');
    await signUp(page, stack.base, other);
    await page.getByRole('link', { name: 'Knowledge' }).click();
    await page.getByText('No knowledge bases yet').waitFor();
    assert.equal(await page.getByText(kbName).count(), 0);
    await page.goto(`${stack.base}/knowledge/${kbId}`);
    const alert = page.getByRole('alert').first();
    await alert.waitFor();
    assert.match(await alert.innerText(), /not found/i);
    assert.equal(await page.getByText('quillan-guide.md').count(), 0);

    // nor in the bot editor's picker, nor through the API
    await page.getByRole('link', { name: 'Bots' }).click();
    await page.getByRole('button', { name: 'Create bot' }).first().click();
    await page.getByRole('group', { name: 'Knowledge bases' }).getByText(/no knowledge bases yet/i).waitFor();
    assert.equal(await page.getByRole('dialog').getByText(kbName).count(), 0);
    const token = await stack.register(uniqueName('prober'));
    const r = await stack.api('POST', `/api/v1/knowledge-bases/${kbId}/search`, { token, body: { query: 'lighthouse' } });
    assert.equal(r.status, 404);
    page.check();
    await page.context().close();
});

// How many requests matching re the page makes in ms milliseconds.
async function countRequests(page, re, ms) {
    let count = 0;
    const on = (req) => { if (re.test(new URL(req.url()).pathname + (new URL(req.url()).search ? '?' : ''))) count += 1; };
    page.on('request', on);
    await page.waitForTimeout(ms);
    page.off('request', on);
    return count;
}
