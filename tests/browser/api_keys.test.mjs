// A bot published as an API (issue 15), in the browser against the real
// stack: the owner sets the daily quota, creates a key that is shown once
// with a ready-to-run curl (which works), sees it listed by its prefix
// only, and revokes it (the key stops working).  Someone who may not
// publish gets no API keys page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, signIn, uniqueName, axe, shot, createBot } from './lib.mjs';

let stack, browser, owner, member, page, botId;
before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '5', MANGOO_DAILY_TOKEN_QUOTA: '1000000' }).start();
    browser = await launch();
    owner = uniqueName('publisher');      // the first account: administrator, may publish
    member = uniqueName('member');
    page = await openPage(browser);
    await signUp(page, stack.base, owner);
    await createBot(page, 'Weather desk', 'Answer about the weather. Secret code: PLUM-7.');
    await stack.register(member);
});
after(async () => { await page?.context().close(); await browser?.close(); stack?.stop(); });

// What curl would send, from the command the page shows: its URL, headers
// and body (the command is single-quoted words, as lib/curl.ts makes it).
function parseCurl(cmd) {
    const words = [];
    let cur = null;
    for (let i = 0; i < cmd.length; i++) {
        const c = cmd[i];
        if (c === '\\' && cmd[i + 1] === '\n') { i++; continue; }
        if (c === '\\') { cur = (cur ?? '') + cmd[++i]; continue; }
        if (c === "'") { const end = cmd.indexOf("'", i + 1); cur = (cur ?? '') + cmd.slice(i + 1, end); i = end; continue; }
        if (c === ' ' || c === '\n') { if (cur !== null) words.push(cur); cur = null; continue; }
        cur = (cur ?? '') + c;
    }
    if (cur !== null) words.push(cur);
    const out = { url: null, headers: {}, body: null, method: 'GET' };
    for (let i = 1; i < words.length; i++) {
        if (words[i] === '-X') out.method = words[++i];
        else if (words[i] === '-H') { const [k, ...v] = words[++i].split(':'); out.headers[k.trim()] = v.join(':').trim(); }
        else if (words[i] === '-d') out.body = words[++i];
        else if (words[i] === '-N') continue;
        else out.url = words[i];
    }
    return out;
}

test('the owner sets the quota, creates a key shown once with a curl that works, and revokes it', async () => {
    await page.goto(`${stack.base}/bots`);
    await page.getByRole('link', { name: 'Sharing and usage of Weather desk' }).click();
    await page.getByRole('heading', { level: 1, name: 'Weather desk' }).waitFor();
    botId = page.url().split('/').pop();
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.waitForURL(/\/api-keys$/);
    await page.getByRole('heading', { name: 'API keys of Weather desk' }).waitFor();

    // the daily quota
    await page.getByLabel('Requests per day').fill('1000');
    await page.getByRole('button', { name: 'Save quota' }).click();
    await page.getByRole('status').filter({ hasText: 'Daily quota saved.' }).waitFor();
    assert.equal(stack.psql(`SELECT coalesce(api_quota_requests::text, 'null') || ',' || coalesce(api_quota_tokens::text, 'null') FROM bots WHERE id = '${botId}'`), '1000,null');
    await page.getByText(`/api/v1/published/${botId}/chat`).first().waitFor();

    // a key: shown once, with the curl commands
    await page.getByRole('button', { name: 'Create API key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Key name').fill('Website widget');
    await dialog.getByLabel('Requests per second').fill('2');
    await dialog.getByLabel('Burst').fill('4');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByText('this is the only time it is shown').waitFor();
    const key = await dialog.locator('[data-api-key]').inputValue();
    assert.match(key, /^mgk_[A-Za-z0-9_-]{43}$/);
    const curl = await dialog.locator('[data-curl="json"]').innerText();
    const streamCurl = await dialog.locator('[data-curl="stream"]').innerText();
    assert.ok(curl.includes(`${stack.base}/api/v1/published/${botId}/chat`), curl);
    assert.ok(curl.includes(`-H 'X-API-Key: ${key}'`), curl);
    assert.ok(curl.includes(`-d '{"message":"Hello"}'`), curl);
    assert.ok(streamCurl.includes(`/api/v1/published/${botId}/chat/stream`), streamCurl);
    await dialog.getByRole('button', { name: 'Copy key' }).waitFor();
    await axe(page, 'new API key dialog');
    await shot(page, 'api-key-created-desktop');

    // the command does what it says (as curl would send it)
    const c = parseCurl(curl);
    assert.equal(c.method, 'POST');
    const res = await fetch(c.url, { method: 'POST', headers: c.headers, body: c.body });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.ok(!text.includes('PLUM-7'));
    const s = parseCurl(streamCurl);
    const sres = await fetch(s.url, { method: 'POST', headers: s.headers, body: s.body });
    const stext = await sres.text();
    assert.equal(sres.status, 200, stext);
    assert.match(stext, /event: done/);

    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
    // listed by its prefix; the key itself is gone from the page, and stays gone
    const row = page.locator('tr[data-key-id]').filter({ hasText: 'Website widget' });
    await row.waitFor();
    assert.equal(await row.getAttribute('data-state'), 'active');
    await row.getByText(key.slice(0, 12)).waitFor();
    await row.getByText('2/s, burst 4').waitFor();
    assert.ok(!(await page.content()).includes(key));
    await page.reload();
    await row.waitFor();
    assert.ok(!(await page.content()).includes(key));
    await row.getByText(/^[1-9]\d* req/).waitFor();           // today's usage
    await axe(page, 'API keys page');
    await shot(page, 'api-keys-desktop');

    // revoked: the key stops working
    await row.getByRole('button', { name: 'Revoke Website widget' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked Website widget.' }).waitFor();
    assert.equal(await row.getAttribute('data-state'), 'revoked');
    let status = 0;
    for (let i = 0; i < 30; i++) {
        status = (await fetch(c.url, { method: 'POST', headers: c.headers, body: c.body })).status;
        if (status === 401) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 401, 'a revoked key is refused');
    page.check();
});

test('a bad key form is explained before anything is sent', async () => {
    await page.goto(`${stack.base}/bots/${botId}/api-keys`);
    await page.getByRole('button', { name: 'Create API key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByText('Give the key a name').waitFor();
    await dialog.getByLabel('Key name').fill('Too fast');
    await dialog.getByLabel('Requests per second').fill('5000');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByText('Requests per second: 0.1 to 1000.').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    page.check();
});

test('someone who may not publish has no API keys page', async () => {
    const p = await openPage(browser);
    await signIn(p, stack.base, member);
    await createBot(p, 'Member bot');
    await p.getByRole('link', { name: 'Sharing and usage of Member bot' }).click();
    await p.getByRole('heading', { level: 1, name: 'Member bot' }).waitFor();
    const id = p.url().split('/').pop();
    assert.equal(await p.getByRole('link', { name: 'API keys' }).count(), 0);
    await p.goto(`${stack.base}/bots/${id}/api-keys`);
    await p.getByText(/may not publish bots/).waitFor();
    // and the API says the same
    p.check();
    await p.context().close();
});
