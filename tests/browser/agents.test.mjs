// The agent marketplace in the browser, against the real stack and the
// offline model: the shipped catalog by category and by search, an agent's
// page with its tools and sub-agents, a chat started with an agent that
// streams, is listed, and continues with the same agent after a reload.
// Screenshots and axe on each screen, desktop and phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launch, openPage, signUp, uniqueName, shot, axe, send, watchAnswer, assistant, PHONE } from './lib.mjs';

let stack, browser;

before(async () => {
    stack = await new Stack({ MANGOO_LOCAL_DELAY_MS: '5' }).start();
    browser = await launch();
});
after(async () => {
    await browser?.close();
    stack?.stop();
});

const cards = (page) => page.getByRole('list', { name: 'Agents' }).getByRole('heading');

test('the marketplace lists the catalog, by category and by search', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('shopper'));
    await page.getByRole('link', { name: 'Agents', exact: true }).click();
    await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
    await cards(page).first().waitFor();
    const names = await cards(page).allInnerTexts();
    for (const n of ['Calculator', 'Clock', 'Research assistant', 'Web reader', 'Orchestrator']) {
        assert.ok(names.includes(n), `${n} is listed: ${names}`);
    }
    await shot(page, 'agents-desktop');
    await axe(page, 'agents');

    await page.getByRole('button', { name: /^Math \(\d+\)$/ }).click();
    await page.waitForFunction(() => document.querySelectorAll('[aria-label="Agents"] h2').length === 1);
    assert.deepEqual(await cards(page).allInnerTexts(), ['Calculator']);
    assert.match(page.url(), /category=Math/);
    assert.equal(await page.getByRole('button', { name: /^Math/ }).getAttribute('aria-pressed'), 'true');

    await page.getByRole('button', { name: 'All', exact: true }).click();
    await page.getByLabel('Search agents').fill('time zone');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('[aria-label="Agents"] h2').length === 1);
    assert.deepEqual(await cards(page).allInnerTexts(), ['Clock']);

    await page.getByLabel('Search agents').fill('nothing has this text');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('heading', { name: 'No agents found' }).waitFor();
    page.check();
});

test("an agent's page shows its tools and sub-agents, and a chat with it streams and continues", async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('orchestrated'));
    await page.goto(`${stack.base}/agents?q=orchestrator`);
    await page.getByRole('link', { name: 'Details' }).click();
    await page.getByRole('heading', { name: 'Orchestrator', level: 1 }).waitFor();
    for (const sub of ['Calculator', 'Clock', 'Research assistant', 'Web reader']) {
        await page.getByRole('link', { name: sub, exact: true }).waitFor();
    }
    await shot(page, 'agent-page-desktop');
    await axe(page, 'agent page');

    await page.getByRole('link', { name: 'Calculator', exact: true }).click();
    await page.getByRole('heading', { name: 'Calculator', level: 1 }).waitFor();
    assert.ok((await page.locator('dl').innerText()).includes('Calculator'), 'the tool is named');
    await page.getByRole('link', { name: 'Chat with Calculator' }).click();
    await page.getByRole('heading', { name: 'New chat with Calculator' }).waitFor();
    await axe(page, 'new chat with an agent');

    await send(page, 'What is 6 times 7?');
    const { status, seen, text } = await watchAnswer(page);
    assert.equal(status, 'complete');
    assert.ok(seen.size > 2, 'the answer grew as it streamed');
    assert.match(text, /offline model/);
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    const chatId = page.url().split('/').pop();
    assert.equal(stack.psql(`SELECT a.name FROM chats c JOIN agents a ON a.id = c.agent_id WHERE c.id = '${chatId}'`),
        'Calculator');

    await page.reload();
    await page.getByText('with Calculator').waitFor();
    await send(page, 'And plus one?');
    await page.waitForFunction(() => document.querySelectorAll('[data-role="assistant"]').length === 2);
    const again = await watchAnswer(page);
    assert.equal(again.status, 'complete');
    assert.equal(stack.psql(`SELECT count(*) FROM messages WHERE chat_id = '${chatId}' AND agent_id IS NOT NULL`), '4');
    await shot(page, 'agent-chat-desktop');
    page.check();
});

test("an agent's tool calls show in its answer, collapsed, live and from the history", async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('toolwatcher'));
    await page.goto(`${stack.base}/agents?q=calculator`);
    await page.getByRole('link', { name: 'Details' }).click();
    await page.getByRole('link', { name: 'Chat with Calculator' }).click();
    await page.getByRole('heading', { name: 'New chat with Calculator' }).waitFor();
    await send(page, 'calculator: 2*(3+4)');
    const { status, text } = await watchAnswer(page);
    assert.equal(status, 'complete');
    assert.match(text, /calculator returned: 14/);

    const check = async (when) => {
        const rows = assistant(page).locator('[data-tool-call-id]');
        assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => [e.dataset.toolName, e.dataset.toolState])),
            [['calculator', 'ok']], when);
        const row = rows.first();
        const button = row.getByRole('button');
        assert.equal(await button.getAttribute('aria-expanded'), 'false', `${when}: collapsed at first`);
        assert.ok(!(await row.locator('[data-tool-input]').isVisible()), `${when}: the input is hidden`);
        await button.click();
        assert.equal(await button.getAttribute('aria-expanded'), 'true');
        assert.equal(await row.locator('[data-tool-input]').innerText(), '{\n  "expression": "2*(3+4)"\n}');
        assert.equal(await row.locator('[data-tool-output]').innerText(), '14');
    };
    await check('live');
    await shot(page, 'agent-tool-call-desktop');
    await axe(page, 'tool calls');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    await page.reload();
    await assistant(page).locator('[data-tool-call-id]').first().waitFor();
    await check('from the history');
    page.check();
});

test('an orchestrator shows the agent it handed work to', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('delegator'));
    await page.goto(`${stack.base}/agents?q=orchestrator`);
    await page.getByRole('link', { name: 'Details' }).click();
    await page.getByRole('link', { name: 'Chat with Orchestrator' }).click();
    await page.getByRole('heading', { name: 'New chat with Orchestrator' }).waitFor();
    await send(page, 'calculator: calculator: 6*7');
    const { status, text } = await watchAnswer(page);
    assert.equal(status, 'complete');
    assert.match(text, /calculator returned: 42/);
    const agents = assistant(page).getByRole('list', { name: 'Agents' }).locator('[data-agent-path]');
    assert.deepEqual(await agents.evaluateAll((els) => els.map((e) => [e.dataset.agentPath, e.dataset.agentState])),
        [['orchestrator/calculator', 'ok']]);
    const rows = assistant(page).locator('[data-tool-call-id]');
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => [e.dataset.toolName, e.dataset.toolState])),
        [['calculator', 'ok']]);
    await shot(page, 'agent-sub-agents-desktop');
    await axe(page, 'sub-agents');
    page.check();
});

test('the marketplace on a phone', async () => {
    const page = await openPage(browser, { viewport: PHONE });
    await signUp(page, stack.base, uniqueName('pocket'));
    await page.goto(`${stack.base}/agents`);
    await cards(page).first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling: ${overflow}px`);
    await shot(page, 'agents-phone');
    await axe(page, 'agents on a phone');
    page.check();
});

test('"Make a bot from this agent" opens the new-bot form filled in from it, and saving makes the bot', async () => {
    const page = await openPage(browser);
    await signUp(page, stack.base, uniqueName('botmaker'));
    await page.goto(`${stack.base}/agents?q=calculator`);
    await page.getByRole('link', { name: 'Details' }).click();
    await page.getByRole('heading', { name: 'Calculator', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Make a bot from this agent' }).click();
    await page.waitForURL(/\/bots\/new\?from_agent=[0-9a-f-]{36}$/);
    const agentId = new URL(page.url()).searchParams.get('from_agent');
    assert.equal(stack.psql(`SELECT name FROM agents WHERE id = '${agentId}'`), 'Calculator');

    const form = async (when) => {
        const dialog = page.getByRole('dialog', { name: 'New bot' });
        const name = dialog.getByLabel('Name', { exact: true });
        await name.waitFor();
        assert.equal(await name.inputValue(), 'Calculator (my bot)', when);
        assert.equal(await dialog.getByLabel('Description', { exact: true }).inputValue(),
            stack.psql(`SELECT description FROM agents WHERE id = '${agentId}'`), when);
        assert.equal(await dialog.getByLabel('Instructions', { exact: true }).inputValue(),
            stack.psql(`SELECT instructions FROM agents WHERE id = '${agentId}'`), when);
        assert.equal(await dialog.getByLabel('Model', { exact: true }).inputValue(), 'local', when);
        const note = await dialog.locator('[data-from-agent-note]').innerText();
        assert.match(note, /will not have/, when);
        assert.match(note, /the tool Calculator/, `${when}: the calculator tool is named`);
        return dialog;
    };
    await form('from the agent page');
    await page.reload();
    const dialog = await form('after a reload');
    await shot(page, 'bot-from-agent-desktop');
    await axe(page, 'bot from an agent');

    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL(/\/bots$/);
    const bots = page.getByRole('list', { name: 'Your bots' });
    await bots.getByRole('heading', { name: 'Calculator (my bot)', exact: true }).waitFor();
    assert.equal(stack.psql(`SELECT b.model_id = a.model_id AND b.temperature = a.temperature
        AND b.max_tokens = a.max_tokens AND b.instructions = a.instructions AND b.description = a.description
        FROM bots b, agents a WHERE b.name = 'Calculator (my bot)' AND a.id = '${agentId}'`), 't',
        "the bot has the agent's settings");
    page.check();
});
