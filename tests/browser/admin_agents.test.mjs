// The administrators' agents and MCP servers screens in the browser, against
// the real stack and the offline model: an administrator creates an agent
// with the calculator tool and publishes it, finds it in the marketplace,
// chats with it (a tool call row), and retires it (gone from the
// marketplace); registers the MCP reference server over stdio, lists its
// tools, allows "echo", gives it to a new agent and chats with it; deletes
// the server.  A member sees no admin link and gets the not-found page on
// every admin address, and the API refuses them.  Screenshots and axe on
// each new screen, desktop and phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Stack, TOP, PASSWORD, launch, openPage, signUp, signIn, uniqueName, shot, axe, send, watchAnswer, assistant,
    PHONE } from './lib.mjs';

// installed by the build (tests/mcp/package.json)
const EVERYTHING = path.join(TOP, 'tests', 'mcp', 'node_modules', '@modelcontextprotocol', 'server-everything',
    'dist', 'index.js');

let stack, browser, admin, member;

before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '5' }).start();
    browser = await launch();
    // the first account is the administrator
    admin = uniqueName('admin');
    member = uniqueName('member');
    for (const name of [admin, member]) {
        const page = await openPage(browser);
        await signUp(page, stack.base, name);
        await page.context().close();
    }
});
after(async () => {
    await browser?.close();
    stack?.stop();
});

const adminNav = (page) => page.getByRole('navigation', { name: 'Administration' });
const agentRow = (page, name) => page.locator('li[data-agent-id]').filter({ hasText: name });
const serverRow = (page, name) => page.locator('li[data-server-id]').filter({ hasText: name });
const sql = (s) => s.replace(/'/g, "''");

async function token(username) {
    const r = await stack.api('POST', '/api/v1/auth/login', { body: { username, password: PASSWORD } });
    assert.equal(r.status, 200, r.text);
    return r.json.access_token;
}

// The agent form's fields (the form is shown once what it edits has loaded;
// the sub-agent choice once every agent has).
async function fillAgent(page, { name, category = 'Testing', description, instructions, status }) {
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Category', { exact: true }).fill(category);
    if (description !== undefined) await page.getByLabel('Description', { exact: true }).fill(description);
    if (instructions !== undefined) await page.getByLabel('Instructions', { exact: true }).fill(instructions);
    if (status) await page.getByLabel('Status', { exact: true }).selectOption(status);
}

async function formReady(page) {
    await page.getByLabel('Status', { exact: true }).waitFor();
    await page.getByRole('group', { name: 'Sub-agents', exact: true }).getByRole('checkbox').first().waitFor();
}

// A new chat with a published agent, from the marketplace.
async function chatWith(page, name) {
    await page.goto(`${stack.base}/agents?q=${encodeURIComponent(name)}`);
    await page.getByRole('link', { name: `Chat with ${name}`, exact: true }).click();
    await page.getByRole('heading', { name: `New chat with ${name}` }).waitFor();
}

test('an administrator creates an agent with the calculator, publishes it, chats with it, and retires it', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, admin);
    await page.getByRole('link', { name: 'Admin' }).click();
    await adminNav(page).getByRole('link', { name: 'Agents', exact: true }).click();
    await page.waitForURL(/\/admin\/agents$/);
    // the shipped catalog is listed, whatever its status
    await agentRow(page, 'Orchestrator').waitFor();
    assert.equal(await agentRow(page, 'Orchestrator').getAttribute('data-status'), 'published');
    await shot(page, 'admin-agents-desktop');
    await axe(page, 'admin agents');

    // the search is the server's
    await page.getByLabel('Search agents').fill('orchestr');
    await page.waitForFunction(() => document.querySelectorAll('li[data-agent-id]').length === 1);
    await page.getByLabel('Search agents').fill('');
    await agentRow(page, 'Calculator').waitFor();

    const name = uniqueName('Adder ');
    await page.getByRole('link', { name: 'New agent' }).click();
    await page.waitForURL(/\/admin\/agents\/new$/);
    await formReady(page);
    await fillAgent(page, { name, description: 'Adds numbers for the browser test.', instructions: 'Use the calculator.' });
    const tools = page.getByRole('group', { name: 'Tools', exact: true });
    await tools.getByRole('checkbox', { name: 'Calculator', exact: true }).check();
    await shot(page, 'admin-agent-new-desktop');
    await axe(page, 'new agent');
    await page.getByLabel('Status', { exact: true }).selectOption('published');
    await page.getByRole('button', { name: 'Save', exact: true }).click();

    // back on the list, with a notice
    await page.getByText(`Created “${name}” (published).`).waitFor();
    const row = agentRow(page, name);
    assert.equal(await row.getAttribute('data-status'), 'published');
    const agentId = await row.getAttribute('data-agent-id');
    assert.equal(stack.psql(`SELECT status || ' ' || array_to_string(tools, ',') || ' ' || model_id FROM agents WHERE id = '${agentId}'`),
        'published calculator local');

    // a second agent of the same name is refused at the name
    await page.getByRole('link', { name: 'New agent' }).click();
    await formReady(page);
    await fillAgent(page, { name });
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'an agent has this name already' }).waitFor();
    assert.equal(await page.getByLabel('Name', { exact: true }).getAttribute('aria-invalid'), 'true');
    // and a number out of range never reaches the server
    await page.getByLabel('Max steps').fill('99');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Max steps must be a whole number from 1 to 50.' }).waitFor();
    assert.equal(stack.psql(`SELECT count(*) FROM agents WHERE name = '${sql(name)}'`), '1');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL(/\/admin\/agents$/);

    // in the marketplace; a chat with it calls the calculator
    await chatWith(page, name);
    await send(page, 'calculator: 2+3');
    const { status, text } = await watchAnswer(page);
    assert.equal(status, 'complete');
    assert.match(text, /calculator returned: 5/);
    const call = assistant(page).locator('[data-tool-call-id][data-tool-name="calculator"]');
    assert.equal(await call.count(), 1);
    assert.equal(await call.getAttribute('data-tool-state'), 'ok');

    // retired: gone from the marketplace
    await page.goto(`${stack.base}/admin/agents/${agentId}`);
    await formReady(page);
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), name);
    assert.ok(await page.getByRole('group', { name: 'Tools', exact: true })
        .getByRole('checkbox', { name: 'Calculator', exact: true }).isChecked());
    await shot(page, 'admin-agent-edit-desktop');
    await axe(page, 'edit agent');
    await page.getByLabel('Status', { exact: true }).selectOption('retired');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(`Saved “${name}” (retired).`).waitFor();
    assert.equal(await agentRow(page, name).getAttribute('data-status'), 'retired');
    assert.equal(stack.psql(`SELECT status FROM agents WHERE id = '${agentId}'`), 'retired');
    // the status filter
    await page.getByLabel('Status', { exact: true }).selectOption('retired');
    await agentRow(page, name).waitFor();
    assert.equal(await page.locator('li[data-agent-id]:not([data-status="retired"])').count(), 0);

    await page.goto(`${stack.base}/agents?q=${encodeURIComponent(name)}`);
    await page.getByRole('heading', { name: 'No agents found' }).waitFor();
    const r = await stack.api('GET', `/api/v1/agents/${agentId}`, { token: await token(admin) });
    assert.equal(r.status, 404);
    page.check();
    await page.context().close();
});

test('an administrator registers an MCP server, allows a tool, and an agent given it calls it', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, admin);
    await page.getByRole('link', { name: 'Admin' }).click();
    await adminNav(page).getByRole('link', { name: 'MCP servers' }).click();
    await page.waitForURL(/\/admin\/mcp-servers$/);
    await page.getByRole('link', { name: 'Register server' }).click();
    await page.waitForURL(/\/admin\/mcp-servers\/new$/);

    const server = uniqueName('every');
    await page.getByLabel('Name', { exact: true }).fill(server);
    await page.getByLabel('Description', { exact: true }).fill('The MCP reference server, over stdio');
    await page.getByRole('radio', { name: /stdio/ }).check();
    await page.getByLabel('Command', { exact: true }).fill(['node', EVERYTHING, 'stdio'].join('\n'));
    await shot(page, 'admin-mcp-server-new-desktop');
    await axe(page, 'register an MCP server');
    await page.getByRole('button', { name: 'Save', exact: true }).click();

    // on the server's own page now
    await page.waitForURL(/\/admin\/mcp-servers\/[0-9a-f-]{36}$/);
    await page.getByText(`Registered “${server}”.`, { exact: false }).waitFor();
    const serverId = page.url().split('/').pop();
    assert.equal(stack.psql(`SELECT transport || ' ' || array_to_string(command, ' ') FROM mcp_servers WHERE id = '${serverId}'`),
        `stdio node ${EVERYTHING} stdio`);

    await page.getByRole('button', { name: 'List tools' }).click();
    const echo = page.getByRole('checkbox', { name: 'Allowed: echo', exact: true });
    await echo.waitFor({ timeout: 30000 });
    assert.equal(await echo.isChecked(), false, 'nothing is allowed at first');
    const tools = page.getByRole('list', { name: `Tools of ${server}` });
    const echoRow = tools.locator('li[data-tool-name="echo"]');
    await echoRow.locator('summary').click();
    await echoRow.locator('pre').waitFor();
    assert.match(await echoRow.locator('pre').innerText(), /"message"/, 'the input schema, opened');
    await echo.check();
    await page.getByRole('button', { name: 'Save allowed tools' }).click();
    await page.getByText('Saved: 1 tool allowed.').waitFor();
    assert.equal(stack.psql(`SELECT array_to_string(allowed_tools, ',') FROM mcp_servers WHERE id = '${serverId}'`), 'echo');
    await shot(page, 'admin-mcp-server-desktop');
    await axe(page, 'MCP server');

    await adminNav(page).getByRole('link', { name: 'MCP servers' }).click();
    const row = serverRow(page, server);
    await row.waitFor();
    await row.getByText(/tools? listed · 1 allowed/).waitFor();
    assert.equal(await row.getAttribute('data-enabled'), 'true');
    await shot(page, 'admin-mcp-servers-desktop');
    await axe(page, 'MCP servers');

    // an agent given the allowed tool
    const name = uniqueName('Echoer ');
    await adminNav(page).getByRole('link', { name: 'Agents', exact: true }).click();
    await page.getByRole('link', { name: 'New agent' }).click();
    await formReady(page);
    await fillAgent(page, { name, status: 'published' });
    const group = page.getByRole('group', { name: `MCP server ${server}`, exact: true });
    await group.getByRole('checkbox', { name: 'echo', exact: true }).check();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(`Created “${name}” (published).`).waitFor();
    assert.equal(stack.psql(`SELECT array_to_string(tools, ',') FROM agents WHERE name = '${sql(name)}'`), `mcp:${server}/echo`);

    await chatWith(page, name);
    await send(page, `${server}__echo: hi`);
    const { status, text } = await watchAnswer(page);
    assert.equal(status, 'complete');
    assert.match(text, /Echo: hi/);
    const call = assistant(page).locator(`[data-tool-call-id][data-tool-name="${server}__echo"]`);
    assert.equal(await call.getAttribute('data-tool-state'), 'ok');
    await call.getByRole('button').click();
    assert.match(await call.locator('[data-tool-output]').innerText(), /Echo: hi/);
    await shot(page, 'admin-mcp-agent-chat-desktop');

    // deleted, after a confirmation
    await page.goto(`${stack.base}/admin/mcp-servers/${serverId}`);
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this MCP server?' });
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText(`Deleted “${server}”.`).waitFor();
    await page.waitForURL(/\/admin\/mcp-servers$/);
    assert.equal(await serverRow(page, server).count(), 0);
    assert.equal(stack.psql(`SELECT count(*) FROM mcp_servers WHERE id = '${serverId}'`), '0');
    page.check();
    await page.context().close();
});

test('the admin screens on a phone: an unreachable server says why', async () => {
    const t = await token(admin);
    const r = await stack.api('POST', '/api/v1/admin/mcp-servers', { token: t, body: {
        name: uniqueName('nowhere'), description: 'Nothing listens here', transport: 'http',
        url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer s3cr3t' } } });
    assert.equal(r.status, 201, r.text);
    const server = r.json;
    const agentId = stack.psql("SELECT id FROM agents WHERE name = 'Orchestrator'");

    const page = await openPage(browser, { viewport: PHONE });
    await signIn(page, stack.base, admin);
    const pages = [
        ['admin-agents', '/admin/agents', () => page.locator('li[data-agent-id]').first().waitFor()],
        ['admin-agent-new', '/admin/agents/new', () => formReady(page)],
        ['admin-agent-edit', `/admin/agents/${agentId}`, () => formReady(page)],
        ['admin-mcp-servers', '/admin/mcp-servers', () => serverRow(page, server.name).waitFor()],
        ['admin-mcp-server-new', '/admin/mcp-servers/new', () => page.getByLabel('Command', { exact: true }).waitFor()],
        ['admin-mcp-server', `/admin/mcp-servers/${server.id}`, async () => {
            // the header's name, its value hidden
            const value = page.getByLabel('Value of Authorization');
            await value.waitFor();
            assert.equal(await value.inputValue(), '');
            assert.match(await value.getAttribute('placeholder'), /value hidden — enter a new value to replace/);
            await page.getByRole('button', { name: 'List tools' }).click();
            await page.getByRole('alert').filter({ hasText: 'The tools could not be listed' }).waitFor({ timeout: 30000 });
        }],
    ];
    for (const [name, p, ready] of pages) {
        await page.goto(`${stack.base}${p}`);
        await ready();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${name}: no sideways scrolling (${overflow}px)`);
        await axe(page, `${name} on a phone`);
        await shot(page, `${name}-phone`);
    }
    assert.ok(!(await page.content()).includes('s3cr3t'), 'a header value is never shown');
    page.check();
    await page.context().close();
});

test('a member sees no admin link, gets the not-found page on admin addresses, and the API refuses them', async () => {
    const page = await openPage(browser);
    await signIn(page, stack.base, member);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).count(), 0);
    const agentId = stack.psql("SELECT id FROM agents WHERE name = 'Calculator'");
    for (const p of ['/admin/agents', '/admin/agents/new', `/admin/agents/${agentId}`, '/admin/mcp-servers',
        '/admin/mcp-servers/new', '/admin/mcp-servers/00000000-0000-4000-8000-000000000000']) {
        await page.goto(`${stack.base}${p}`);
        await page.getByRole('heading', { name: 'Page not found' }).waitFor();
        assert.equal(await adminNav(page).count(), 0, `${p}: no admin tabs`);
        assert.equal(await page.getByRole('link', { name: 'New agent' }).count(), 0);
        assert.equal(await page.getByRole('button', { name: 'Save' }).count(), 0);
    }
    const t = await token(member);
    for (const [method, p, body] of [
        ['GET', '/api/v1/admin/agents'],
        ['POST', '/api/v1/admin/agents', { name: 'Sneaky', category: 'x' }],
        ['GET', `/api/v1/admin/agents/${agentId}`],
        ['GET', '/api/v1/admin/mcp-servers'],
        ['POST', '/api/v1/admin/mcp-servers', { name: 'sneaky', transport: 'stdio', command: ['true'] }],
    ]) {
        const r = await stack.api(method, p, { token: t, body });
        assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
    }
    assert.equal(stack.psql("SELECT count(*) FROM agents WHERE name = 'Sneaky'"), '0');
    page.check();
    await page.context().close();
});

test("the Tool calls tab lists a member's calculator call, filters by user, and opens its input and output", async () => {
    const memberId = stack.psql(`SELECT id FROM users WHERE username = '${sql(member)}'`);
    assert.ok(memberId, 'the member has an id');
    const chat = await openPage(browser);
    await signIn(chat, stack.base, member);
    await chatWith(chat, 'Calculator');
    await send(chat, 'calculator: 2+3');
    const { status, text } = await watchAnswer(chat);
    assert.equal(status, 'complete');
    assert.match(text, /calculator returned: 5/);
    // a member has no such page, and the API refuses them
    await chat.goto(`${stack.base}/admin/tool-calls`);
    await chat.getByRole('heading', { name: 'Page not found' }).waitFor();
    const denied = await stack.api('GET', '/api/v1/admin/tool-calls', { token: await token(member) });
    assert.equal(denied.status, 403, denied.text);
    chat.check();
    await chat.context().close();

    const page = await openPage(browser);
    await signIn(page, stack.base, admin);
    await page.getByRole('link', { name: 'Admin' }).click();
    await adminNav(page).getByRole('link', { name: 'Tool calls', exact: true }).click();
    await page.waitForURL(/\/admin\/tool-calls$/);
    const rows = page.locator('[data-tool-call-row]');
    await rows.first().waitFor();
    // newest first: the member's call
    const first = rows.first();
    assert.equal(await first.getAttribute('data-tool'), 'calculator');
    assert.equal(await first.getAttribute('data-ok'), 'true');
    assert.equal(await first.getAttribute('data-user-id'), memberId);
    assert.ok((await first.innerText()).includes(member), 'the username is shown');
    assert.equal(await first.locator('[data-tool-summary]').innerText(), '2+3 → 5');
    await shot(page, 'admin-tool-calls-desktop');
    await axe(page, 'admin tool calls');

    // only the member's calls
    await page.getByLabel('User id', { exact: true }).fill(memberId);
    await page.waitForURL((u) => new URL(u).searchParams.get('user_id') === memberId);
    await page.waitForFunction((id) => {
        const r = [...document.querySelectorAll('[data-tool-call-row]')];
        return r.length > 0 && r.every((e) => e.getAttribute('data-user-id') === id);
    }, memberId);
    const row = page.locator(`[data-tool-call-row][data-tool="calculator"][data-user-id="${memberId}"]`);
    assert.equal(await row.count(), 1);
    assert.equal(stack.psql(`SELECT count(*) FROM tool_calls WHERE user_id = '${sql(memberId)}'`), '1');

    const button = row.getByRole('button', { name: /^Details/ });
    assert.equal(await button.getAttribute('aria-expanded'), 'false');
    assert.equal(await row.locator('[data-tool-input]').count(), 0, 'collapsed at first');
    await button.click();
    assert.equal(await button.getAttribute('aria-expanded'), 'true');
    assert.equal(await row.locator('[data-tool-input]').innerText(), '{\n  "expression": "2+3"\n}');
    assert.equal(await row.locator('[data-tool-output]').innerText(), '5');
    await shot(page, 'admin-tool-call-open-desktop');
    await axe(page, 'admin tool call, opened');

    // a tool nobody called
    await page.getByLabel('Tool', { exact: true }).fill('no_such_tool');
    await page.getByRole('heading', { name: 'No tool call matches' }).waitFor();
    page.check();
    await page.context().close();

    // on a phone: cards, no sideways scrolling
    const phone = await openPage(browser, { viewport: PHONE });
    await signIn(phone, stack.base, admin);
    await phone.goto(`${stack.base}/admin/tool-calls?user_id=${encodeURIComponent(memberId)}`);
    const card = phone.locator('[data-tool-call-row]').first();
    await card.waitFor();
    await card.getByRole('button', { name: /^Details/ }).click();
    await card.locator('[data-tool-output]').waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no sideways scrolling (${overflow}px)`);
    await shot(phone, 'admin-tool-calls-phone');
    await axe(phone, 'admin tool calls on a phone');
    phone.check();
    await phone.context().close();
});
