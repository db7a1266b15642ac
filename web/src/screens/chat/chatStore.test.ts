// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NEW_CHAT, fromServer, useChat } from './chatStore';
import type { Message } from '../../api/types';

const enc = new TextEncoder();

function sse(chunks: string[], opts: { hang?: boolean; signal?: AbortSignal | null } = {}): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      opts.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
    },
    pull(controller) {
      if (i < chunks.length) controller.enqueue(enc.encode(chunks[i++]));
      else if (!opts.hang) controller.close();
      else return new Promise(() => {}); // waits for the abort
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

const START =
  'event: start\ndata: {"chat_id":"c-new","message_id":"m2","user_message_id":"m1","bot_id":"b1","model":"local","chat_created":true,"title":"Hello"}\n\n';
const delta = (s: string) => `event: message\ndata: ${JSON.stringify({ content: s })}\n\n`;

describe('chat store turns', () => {
  beforeEach(() => useChat.getState().reset());
  afterEach(() => vi.unstubAllGlobals());

  it('a new chat becomes /chat/<id> on start and the answer completes', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([START, delta('Hel'), delta('lo **there**'), 'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}\n\n']),
      ),
    );
    const onCreated = vi.fn();
    const err = await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hello', onCreated });
    expect(err).toBeNull();
    expect(onCreated).toHaveBeenCalledWith('c-new');
    const s = useChat.getState();
    expect(s.chats[0]).toMatchObject({ id: 'c-new', title: 'Hello', bot_id: 'b1' });
    expect(s.conversations[NEW_CHAT].messages).toEqual([]);
    const msgs = s.conversations['c-new'].messages;
    expect(msgs.map((m) => [m.role, m.status, m.id])).toEqual([
      ['user', 'complete', 'm1'],
      ['assistant', 'complete', 'm2'],
    ]);
    expect(msgs[1].content).toBe('Hello **there**');
    expect(s.streams).toEqual({});
  });

  it('a chat with an agent sends agent_id, never bot_id, and the new chat carries the agent', async () => {
    const start =
      'event: start\ndata: {"chat_id":"c-agent","message_id":"m2","user_message_id":"m1","bot_id":null,"agent_id":"a1","model":"local","chat_created":true,"title":"Hi"}\n\n';
    const fetchMock = vi.fn(async () =>
      sse([start, delta('ok'), 'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}\n\n']),
    );
    vi.stubGlobal('fetch', fetchMock);
    const err = await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'Hi' });
    expect(err).toBeNull();
    const [, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(JSON.parse(init.body as string)).toEqual({ agent_id: 'a1', chat_id: null, message: 'Hi' });
    expect(useChat.getState().chats[0]).toMatchObject({ id: 'c-agent', bot_id: null, agent_id: 'a1' });
  });

  it('a refusal before the stream gives the error back and leaves no message', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(JSON.stringify({ error: { code: 'quota_exceeded', message: 'the daily quota is used up', request_id: 'r' } }), {
            status: 429,
          }),
      ),
    );
    const err = await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    expect(err?.code).toBe('quota_exceeded');
    expect(err?.message).toBe('the daily quota is used up');
    expect(useChat.getState().conversations[NEW_CHAT].messages).toEqual([]);
    expect(useChat.getState().streams).toEqual({});
  });

  it('an error event keeps the partial answer with the error', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([START, delta('partial'), 'event: error\ndata: {"code":"provider_timeout","message":"the model did not answer in time","saved":true}\n\n']),
      ),
    );
    await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    const a = useChat.getState().conversations['c-new'].messages[1];
    expect(a).toMatchObject({ status: 'error', content: 'partial', errorCode: 'provider_timeout', errorMessage: 'the model did not answer in time' });
  });

  it('a stream cut before done is an error, stream_interrupted, with the partial answer', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => sse([START, delta('half an ans')])));
    await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    const a = useChat.getState().conversations['c-new'].messages[1];
    expect(a).toMatchObject({ status: 'error', content: 'half an ans', errorCode: 'stream_interrupted' });
    expect(a.errorMessage).toBe('The connection was lost before the answer finished.');
  });

  it('Stop asks the server to cancel the answer, stops reading, and marks the partial answer cancelled', async () => {
    const calls: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (u: string, init: RequestInit) => {
        calls.push(`${init.method} ${u}`);
        if (u.endsWith('/cancel?message_id=m2')) return new Response(JSON.stringify({ message_id: 'm2', status: 'cancelled' }), { status: 200 });
        return sse([START, delta('so far')], { hang: true, signal: init.signal });
      }),
    );
    const p = useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    await vi.waitFor(() => expect(useChat.getState().conversations['c-new']?.messages[1]?.content).toBe('so far'));
    const stream = useChat.getState().streams['c-new'];
    expect(stream?.attaching).toBe(false);
    useChat.getState().stop('c-new');
    await p;
    expect(stream?.ctl.controller.signal.aborted).toBe(true);
    expect(calls).toEqual(['POST /api/v1/chat/stream', 'POST /api/v1/chats/c-new/cancel?message_id=m2']);
    const a = useChat.getState().conversations['c-new'].messages[1];
    expect(a).toMatchObject({ status: 'cancelled', content: 'so far' });
    expect(useChat.getState().streams).toEqual({});
  });

  it('a turn in an existing chat moves it to the top of the list', async () => {
    useChat.setState({
      chats: [
        { id: 'c2', bot_id: 'b1', title: 'Two', created_at: '2024-01-02T00:00:00Z', updated_at: '2024-01-02T00:00:00Z' },
        { id: 'c1', bot_id: 'b1', title: 'One', created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z' },
      ],
    });
    const fetchMock = vi.fn(async () =>
      sse([START.replace('c-new', 'c1').replace('true', 'false'), delta('ok'), 'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}\n\n']),
    );
    vi.stubGlobal('fetch', fetchMock);
    await useChat.getState().send({ key: 'c1', botId: 'b1', text: 'again' });
    expect(useChat.getState().chats.map((c) => c.id)).toEqual(['c1', 'c2']);
    const [, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(JSON.parse(init.body as string)).toEqual({ bot_id: 'b1', chat_id: 'c1', message: 'again' });
  });

  it('a citations event puts the sources on the answer before its text, and they stay when it completes', async () => {
    const citations = [
      { n: 1, document_id: 'd1', document: 'handbook.md', page: 0, heading: 'Setup', snippet: 'The mango is ripe in June.', score: 0.91 },
      { n: 2, document_id: 'd2', document: 'guide.pdf', page: 4, heading: '', snippet: 'Water weekly.', score: 0.5 },
    ];
    let seenBeforeText: unknown = undefined;
    const chunks = [START, `event: citations\ndata: ${JSON.stringify({ citations })}\n\n`, delta('Ripe in June [1].'), 'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}\n\n'];
    vi.stubGlobal('fetch', vi.fn(async () => sse(chunks)));
    const unsub = useChat.subscribe((s) => {
      const a = s.conversations['c-new']?.messages[1];
      if (a && a.citations && seenBeforeText === undefined) seenBeforeText = a.content;
    });
    await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'When is the mango ripe?' });
    unsub();
    expect(seenBeforeText).toBe('');
    const [u, a] = useChat.getState().conversations['c-new'].messages;
    expect(u.citations).toBeNull();
    expect(a).toMatchObject({ status: 'complete', content: 'Ripe in June [1].' });
    expect(a.citations).toEqual(citations);
  });

  it('an answer without a citations event has none, and an empty list is none', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => sse([START, 'event: citations\ndata: {"citations":[]}\n\n', delta('plain'), 'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}\n\n'])),
    );
    await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    expect(useChat.getState().conversations['c-new'].messages[1].citations).toBeNull();
  });

  it('a reloaded chat keeps the stored citations of each answer', async () => {
    const cit = { n: 1, document_id: 'd1', document: 'notes.txt', page: null, heading: null, snippet: 'x', score: 0.3 };
    const msg = (id: string, role: string, citations: unknown) => ({
      id, role, content: id, status: 'complete', stop_reason: null, error: null, model_id: null, bot_id: 'b1',
      input_tokens: 0, output_tokens: 0, citations, created_at: '2024-01-01T00:00:00Z',
    });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        new Response(
          JSON.stringify({
            id: 'c9', bot_id: 'b1', title: 'T', created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z',
            messages: [msg('m1', 'user', null), msg('m2', 'assistant', [cit]), msg('m3', 'assistant', null)],
            next_cursor: null,
          }),
          { status: 200 },
        ),
      ),
    );
    await useChat.getState().loadConversation('c9');
    const ms = useChat.getState().conversations.c9.messages;
    expect(ms.map((m) => m.citations)).toEqual([null, [cit], null]);
  });
});

const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const DONE = 'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}\n\n';
const call = (id: string, name: string, input: unknown, step = 1) => ev('tool_call', { id, name, input, step });
const result = (id: string, name: string, ok: boolean, summary: string, ms: number) =>
  ev('tool_result', { id, name, ok, summary, ms });

describe('chat store tool calls', () => {
  beforeEach(() => useChat.getState().reset());
  afterEach(() => vi.unstubAllGlobals());

  const answer = () => useChat.getState().conversations['c-new'].messages[1];

  it('a tool call is running on the answer being streamed, then ok with its summary and time', async () => {
    const seen: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([
          START,
          delta('Let me compute. '),
          call('tooluse_1', 'calculator', { expression: '2*(3+4)' }),
          result('tooluse_1', 'calculator', true, '14', 3),
          delta('It is 14.'),
          DONE,
        ]),
      ),
    );
    const unsub = useChat.subscribe((s) => {
      const c = s.conversations['c-new']?.messages[1]?.toolCalls?.[0];
      if (c && seen[seen.length - 1] !== c.state) seen.push(c.state);
    });
    await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'What is 2*(3+4)?' });
    unsub();
    expect(seen).toEqual(['running', 'ok']);
    const a = answer();
    expect(a).toMatchObject({ status: 'complete', content: 'Let me compute. It is 14.', agents: null });
    expect(a.toolCalls).toEqual([
      { id: 'tooluse_1', name: 'calculator', step: 1, input: { expression: '2*(3+4)' }, state: 'ok', result: '14', ms: 3 },
    ]);
    // the question has none
    expect(useChat.getState().conversations['c-new'].messages[0].toolCalls).toBeNull();
  });

  it('several calls at once keep the order they were asked in, whatever order the results come in', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([
          START,
          call('t1', 'calculator', { expression: '1+1' }),
          call('t2', 'web_fetch', { url: 'https://example.org/' }),
          call('t3', 'clock', {}),
          result('t3', 'clock', true, '12:00 UTC', 1),
          result('t1', 'calculator', true, '2', 2),
          result('t2', 'web_fetch', false, 'timed out after 20 s', 20000),
          call('t4', 'calculator', { expression: '2*2' }, 2),
          result('t4', 'calculator', true, '4', 1),
          delta('Done.'),
          DONE,
        ]),
      ),
    );
    await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'Go' });
    const calls = answer().toolCalls ?? [];
    expect(calls.map((c) => [c.id, c.name, c.step, c.state, c.result])).toEqual([
      ['t1', 'calculator', 1, 'ok', '2'],
      ['t2', 'web_fetch', 1, 'failed', 'timed out after 20 s'],
      ['t3', 'clock', 1, 'ok', '12:00 UTC'],
      ['t4', 'calculator', 2, 'ok', '4'],
    ]);
    expect(calls[1].ms).toBe(20000);
  });

  it('a result for an unknown id, a repeated call id and malformed tool events are ignored', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([
          START,
          result('nobody', 'calculator', true, '99', 1),
          call('t1', 'calculator', { expression: '3*3' }),
          call('t1', 'calculator', { expression: 'again' }),
          ev('tool_call', { name: 'no id' }),
          ev('tool_result', { summary: 'no id' }),
          result('ghost', 'calculator', false, 'boom', 1),
          result('t1', 'calculator', true, '9', 2),
          delta('9'),
          DONE,
        ]),
      ),
    );
    const err = await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: '3*3?' });
    expect(err).toBeNull();
    const a = answer();
    expect(a).toMatchObject({ status: 'complete', content: '9' });
    expect(a.toolCalls).toEqual([
      { id: 't1', name: 'calculator', step: 1, input: { expression: '3*3' }, state: 'ok', result: '9', ms: 2 },
    ]);
  });

  it('a call without a result when the answer fails is shown failed, not running', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([
          START,
          call('t1', 'web_fetch', { url: 'https://example.org/' }),
          'event: error\ndata: {"code":"agent_timeout","message":"the agent ran out of time","saved":true}\n\n',
        ]),
      ),
    );
    await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'Read it' });
    const a = answer();
    expect(a.status).toBe('error');
    expect(a.toolCalls?.map((c) => [c.state, c.result])).toEqual([['failed', 'No result: the answer ended before the tool finished.']]);
  });

  it('Stop while a tool runs keeps the call, shown as stopped', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_u: string, init: RequestInit) =>
        sse([START, call('t1', 'web_fetch', { url: 'https://example.org/' })], { hang: true, signal: init.signal }),
      ),
    );
    const p = useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'Read it' });
    await vi.waitFor(() => expect(useChat.getState().conversations['c-new']?.messages[1]?.toolCalls?.[0]?.state).toBe('running'));
    expect(useChat.getState().liveStatus).toBe('Using the tool web_fetch…');
    useChat.getState().stop();
    await p;
    const a = answer();
    expect(a.status).toBe('cancelled');
    expect(a.toolCalls?.map((c) => [c.state, c.result])).toEqual([['failed', 'Stopped before the tool finished.']]);
  });

  it('agent events make an ordered list of sub-agents with their outcome', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([
          START,
          ev('agent', { path: 'orchestrator/web-reader', state: 'start' }),
          ev('agent', { path: 'orchestrator/web-reader/summarizer', state: 'start' }),
          ev('agent', { path: 'orchestrator/web-reader/summarizer', state: 'end', ok: true }),
          ev('agent', { path: 'orchestrator/web-reader', state: 'end', ok: false }),
          ev('agent', { path: 'orchestrator/never-started', state: 'end', ok: true }),
          ev('agent', { path: 'orchestrator/calc', state: 'start' }),
          delta('ok'),
          DONE,
        ]),
      ),
    );
    await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'Go' });
    expect(answer().agents?.map((r) => [r.path, r.state])).toEqual([
      ['orchestrator/web-reader', 'failed'],
      ['orchestrator/web-reader/summarizer', 'ok'],
      // still running when the answer ended
      ['orchestrator/calc', 'failed'],
    ]);
  });

  it('a stored message shows its tool calls from steps, as the same view model as a live turn', async () => {
    const steps = [
      {
        step: 1,
        text: 'Let me compute.',
        stop_reason: 'tool_use',
        ms: 812,
        tool_calls: [
          { id: 'tooluse_1', name: 'calculator', input: { expression: '2*(3+4)' }, ok: true, output: '14', error: null, ms: 3 },
          { id: 'tooluse_2', name: 'calculator', input: { expression: '1/0' }, ok: false, output: null, error: 'division by zero', ms: 1 },
        ],
      },
      { step: 2, text: 'It is 14.', stop_reason: 'end_turn', ms: 400, tool_calls: [] },
    ];
    const msg = (id: string, role: string, extra: Partial<Message>): Message => ({
      id, role: role as Message['role'], content: id, status: 'complete', stop_reason: null, error: null, model_id: null, bot_id: null,
      input_tokens: 0, output_tokens: 0, created_at: '2024-01-01T00:00:00Z', ...extra,
    });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        new Response(
          JSON.stringify({
            id: 'c9', bot_id: null, agent_id: 'a1', title: 'T', created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z',
            messages: [
              msg('m1', 'user', { steps: null }),
              msg('m2', 'assistant', { steps }),
              msg('m3', 'assistant', { steps: null }),
              msg('m4', 'assistant', {}),
            ],
            next_cursor: null,
          }),
          { status: 200 },
        ),
      ),
    );
    await useChat.getState().loadConversation('c9');
    const ms = useChat.getState().conversations.c9.messages;
    expect(ms.map((m) => m.toolCalls?.length ?? null)).toEqual([null, 2, null, null]);
    expect(ms[1].toolCalls).toEqual([
      { id: 'tooluse_1', name: 'calculator', step: 1, input: { expression: '2*(3+4)' }, state: 'ok', result: '14', ms: 3 },
      { id: 'tooluse_2', name: 'calculator', step: 1, input: { expression: '1/0' }, state: 'failed', result: 'division by zero', ms: 1 },
    ]);

    // the same call streamed live ends as the same row
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse([
          START,
          call('tooluse_1', 'calculator', { expression: '2*(3+4)' }),
          call('tooluse_2', 'calculator', { expression: '1/0' }),
          result('tooluse_1', 'calculator', true, '14', 3),
          result('tooluse_2', 'calculator', false, 'division by zero', 1),
          DONE,
        ]),
      ),
    );
    await useChat.getState().send({ key: NEW_CHAT, agentId: 'a1', text: 'Go' });
    expect(answer().toolCalls).toEqual(ms[1].toolCalls);
    // steps with only the final step are no tool calls
    expect(fromServer(msg('m5', 'assistant', { steps: [{ step: 1, text: 'hi', stop_reason: 'end_turn', ms: 5, tool_calls: [] }] }))?.toolCalls).toBeNull();
  });
});

// ---- answers that survive: reconnecting, attaching, stopping ---------------

const idEv = (id: number, type: string, data: unknown) => `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const startFor = (chat: string, msg = 'm2', user = 'm1') =>
  idEv(1, 'start', { chat_id: chat, message_id: msg, user_message_id: user, bot_id: 'b1', model: 'local', chat_created: false });
const doneId = (id: number, stop_reason = 'end_turn') =>
  idEv(id, 'done', { message_id: 'm2', stop_reason, usage: { input_tokens: 1, output_tokens: 2 } });
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
const stored = (id: string, role: 'user' | 'assistant', content: string, status = 'complete'): Message => ({
  id, role, content, status: status as Message['status'], stop_reason: null, error: null, model_id: null, bot_id: 'b1',
  input_tokens: 0, output_tokens: 0, created_at: '2024-01-01T00:00:00Z',
});
const chatPage = (id: string, messages: Message[]) =>
  json(200, { id, bot_id: 'b1', title: 'T', created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z', messages, next_cursor: null });

interface Req {
  method: string;
  url: string;
  lastEventId?: string;
}

/** fetch routed by "METHOD path": each route answers its calls in turn
 * (the last answer repeats); every call is recorded. */
function routes(table: Record<string, Array<(init: RequestInit) => Response>>) {
  const calls: Req[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      const method = init.method ?? 'GET';
      const headers = (init.headers ?? {}) as Record<string, string>;
      calls.push({ method, url, lastEventId: headers['Last-Event-ID'] });
      const key = `${method} ${url}`;
      const answers = table[key];
      if (!answers || answers.length === 0) throw new Error(`unexpected fetch ${key}`);
      const next = answers.length > 1 ? answers.shift()! : answers[0];
      return next(init);
    }),
  );
  return calls;
}

/** A sessionStorage for the node test environment. */
function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k: string) => (m.has(k) ? m.get(k)! : null),
    key: (i: number) => [...m.keys()][i] ?? null,
    removeItem: (k: string) => void m.delete(k),
    setItem: (k: string, v: string) => void m.set(k, String(v)),
  };
}

describe('chat store: answers that survive', () => {
  beforeEach(() => useChat.getState().reset());
  afterEach(() => vi.unstubAllGlobals());

  it('a connection lost mid-answer is shown as reconnecting, resumed from the last event, and completes with no text twice', async () => {
    const seen: boolean[] = [];
    const calls = routes({
      'POST /api/v1/chat/stream': [() => sse([startFor('c1'), idEv(2, 'message', { content: 'One ' }), idEv(3, 'message', { content: 'two ' })])],
      'GET /api/v1/chats/c1/stream?message_id=m2': [
        () => sse([idEv(4, 'message', { content: 'three.' }), doneId(5)]),
      ],
    });
    const unsub = useChat.subscribe((s) => {
      const r = Boolean(s.conversations.c1?.messages[1]?.reconnecting);
      if (seen[seen.length - 1] !== r) seen.push(r);
    });
    useChat.setState((s) => ({ conversations: { ...s.conversations, c1: { chatId: 'c1', messages: [], nextCursor: null, loading: false, loaded: true, loadError: null } } }));
    const err = await useChat.getState().send({ key: 'c1', botId: 'b1', text: 'Count' });
    unsub();
    expect(err).toBeNull();
    expect(seen).toEqual([false, true, false]);
    const a = useChat.getState().conversations.c1.messages[1];
    expect(a).toMatchObject({ status: 'complete', content: 'One two three.', id: 'm2', reconnecting: false });
    expect(calls.map((c) => `${c.method} ${c.url} ${c.lastEventId ?? '-'}`)).toEqual([
      'POST /api/v1/chat/stream -',
      'GET /api/v1/chats/c1/stream?message_id=m2 3',
    ]);
    expect(useChat.getState().streams).toEqual({});
  });

  it('a snapshot on reconnecting replaces the text shown with the whole answer so far', async () => {
    routes({
      'POST /api/v1/chat/stream': [() => sse([startFor('c1'), idEv(2, 'message', { content: 'One ' }), idEv(3, 'message', { content: 'two ' })])],
      'GET /api/v1/chats/c1/stream?message_id=m2': [
        () =>
          sse([
            idEv(30, 'snapshot', { chat_id: 'c1', message_id: 'm2', user_message_id: 'm1', bot_id: 'b1', model: 'local', content: 'One two three ' }),
            idEv(31, 'message', { content: 'four.' }),
            doneId(32),
          ]),
      ],
    });
    useChat.setState((s) => ({ conversations: { ...s.conversations, c1: { chatId: 'c1', messages: [], nextCursor: null, loading: false, loaded: true, loadError: null } } }));
    await useChat.getState().send({ key: 'c1', botId: 'b1', text: 'Count' });
    expect(useChat.getState().conversations.c1.messages[1]).toMatchObject({ status: 'complete', content: 'One two three four.' });
  });

  it('a resume refused with 404 no_stream ends the answer with the clear message, keeping its text', async () => {
    routes({
      'POST /api/v1/chat/stream': [() => sse([START.replace('event:', 'id: 1\nevent:'), idEv(2, 'message', { content: 'partial' })])],
      'GET /api/v1/chats/c-new/stream?message_id=m2': [
        () => json(404, { error: { code: 'no_stream', message: 'no stream', request_id: 'r' } }),
      ],
    });
    await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    const a = useChat.getState().conversations['c-new'].messages[1];
    expect(a).toMatchObject({
      status: 'error',
      content: 'partial',
      errorCode: 'no_stream',
      errorMessage: 'The connection was lost and the answer could not be resumed: the server no longer has it.',
      reconnecting: false,
    });
  });

  it('a done with stop_reason "cancelled" (Stop in another tab) shows the answer stopped', async () => {
    routes({
      'POST /api/v1/chat/stream': [() => sse([START.replace('event:', 'id: 1\nevent:'), idEv(2, 'message', { content: 'cut ' }), doneId(3, 'cancelled')])],
    });
    await useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    expect(useChat.getState().conversations['c-new'].messages[1]).toMatchObject({ status: 'cancelled', content: 'cut ' });
    expect(useChat.getState().liveStatus).toBe('Stopped. The partial answer is kept.');
  });

  it('Stop before the answer has an id waits for its start, then cancels it', async () => {
    let release: (() => void) | null = null;
    const calls = routes({
      'POST /api/v1/chat/stream': [
        (init) => {
          // the start is held back until the test lets it go
          const enc = new TextEncoder();
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              init.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
              release = () => controller.enqueue(enc.encode(startFor('c1')));
            },
          });
          return new Response(body, { status: 200 });
        },
      ],
      'POST /api/v1/chats/c1/cancel?message_id=m2': [() => json(200, { message_id: 'm2', status: 'cancelled' })],
    });
    useChat.setState((s) => ({ conversations: { ...s.conversations, c1: { chatId: 'c1', messages: [], nextCursor: null, loading: false, loaded: true, loadError: null } } }));
    const p = useChat.getState().send({ key: 'c1', botId: 'b1', text: 'Hi' });
    await vi.waitFor(() => expect(release).not.toBeNull());
    useChat.getState().stop('c1');
    expect(useChat.getState().liveStatus).toBe('Stopping…');
    expect(calls.map((c) => c.url)).toEqual(['/api/v1/chat/stream']);
    release!();
    await p;
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['POST /api/v1/chat/stream', 'POST /api/v1/chats/c1/cancel?message_id=m2']);
    expect(useChat.getState().conversations.c1.messages[1]).toMatchObject({ status: 'cancelled', id: 'm2' });
  });

  it('Stop after the answer ended on the server (409 not_streaming) shows what was stored', async () => {
    routes({
      'POST /api/v1/chat/stream': [(init) => sse([startFor('c1'), idEv(2, 'message', { content: 'Almost' })], { hang: true, signal: init.signal })],
      'POST /api/v1/chats/c1/cancel?message_id=m2': [() => json(409, { error: { code: 'not_streaming', message: 'nothing in progress', request_id: 'r' } })],
      'GET /api/v1/chats/c1?limit=200': [() => chatPage('c1', [stored('m1', 'user', 'Hi'), stored('m2', 'assistant', 'Almost done, and finished.')])],
    });
    useChat.setState((s) => ({ conversations: { ...s.conversations, c1: { chatId: 'c1', messages: [], nextCursor: null, loading: false, loaded: true, loadError: null } } }));
    const p = useChat.getState().send({ key: 'c1', botId: 'b1', text: 'Hi' });
    await vi.waitFor(() => expect(useChat.getState().conversations.c1.messages[1]?.content).toBe('Almost'));
    useChat.getState().stop('c1');
    await p;
    await vi.waitFor(() =>
      expect(useChat.getState().conversations.c1.messages.map((m) => [m.id, m.status, m.content])).toEqual([
        ['m1', 'complete', 'Hi'],
        ['m2', 'complete', 'Almost done, and finished.'],
      ]),
    );
  });

  it('a chat opened while its answer is still written attaches to it from the start and shows it to its end', async () => {
    const calls = routes({
      'GET /api/v1/chats/c9?limit=200': [() => chatPage('c9', [stored('u0', 'user', 'Before'), stored('a0', 'assistant', 'Old answer'), stored('u1', 'user', 'Now?')])],
      'GET /api/v1/chats/c9/stream': [
        () => sse([startFor('c9', 'a1', 'u1'), idEv(2, 'message', { content: 'Still ' }), idEv(3, 'message', { content: 'going.' }), doneId(4)]),
      ],
    });
    await useChat.getState().loadConversation('c9');
    await vi.waitFor(() => expect(useChat.getState().streams.c9).toBeUndefined());
    const ms = useChat.getState().conversations.c9.messages;
    expect(ms.map((m) => [m.role, m.id, m.status, m.content])).toEqual([
      ['user', 'u0', 'complete', 'Before'],
      ['assistant', 'a0', 'complete', 'Old answer'],
      ['user', 'u1', 'complete', 'Now?'],
      ['assistant', 'a1', 'complete', 'Still going.'],
    ]);
    expect(calls[1]).toEqual({ method: 'GET', url: '/api/v1/chats/c9/stream', lastEventId: undefined });
  });

  it('attaching late: a snapshot shows the whole text so far, then the live rest', async () => {
    routes({
      'GET /api/v1/chats/c9?limit=200': [() => chatPage('c9', [stored('u1', 'user', 'Now?')])],
      'GET /api/v1/chats/c9/stream': [
        () =>
          sse([
            idEv(57, 'snapshot', { chat_id: 'c9', message_id: 'a1', user_message_id: 'u1', bot_id: 'b1', model: 'local', content: 'A long way in ' }),
            idEv(58, 'message', { content: 'and on.' }),
            doneId(59),
          ]),
      ],
    });
    await useChat.getState().loadConversation('c9');
    await vi.waitFor(() => expect(useChat.getState().conversations.c9.messages[1]?.status).toBe('complete'));
    expect(useChat.getState().conversations.c9.messages[1]).toMatchObject({ id: 'a1', content: 'A long way in and on.' });
  });

  it('nothing to attach to (404 no_stream, or another question\'s answer) shows nothing and holds nothing', async () => {
    routes({
      'GET /api/v1/chats/c9?limit=200': [() => chatPage('c9', [stored('u1', 'user', 'Lost question')])],
      'GET /api/v1/chats/c9/stream': [() => json(404, { error: { code: 'no_stream', message: 'nothing', request_id: 'r' } })],
    });
    await useChat.getState().loadConversation('c9');
    await vi.waitFor(() => expect(useChat.getState().streams.c9).toBeUndefined());
    expect(useChat.getState().conversations.c9.messages.map((m) => m.id)).toEqual(['u1']);
    expect(useChat.getState().conversations.c9.loadError).toBeNull();

    useChat.getState().reset();
    routes({
      'GET /api/v1/chats/c8?limit=200': [() => chatPage('c8', [stored('u1', 'user', 'Mine')])],
      // an answer to some other question
      'GET /api/v1/chats/c8/stream': [(init) => sse([startFor('c8', 'a9', 'u-other'), idEv(2, 'message', { content: 'not this' })], { hang: true, signal: init.signal })],
    });
    await useChat.getState().loadConversation('c8');
    await vi.waitFor(() => expect(useChat.getState().streams.c8).toBeUndefined());
    expect(useChat.getState().conversations.c8.messages.map((m) => m.id)).toEqual(['u1']);
  });

  it('a chat whose last message is an answer does not ask to attach', async () => {
    const calls = routes({
      'GET /api/v1/chats/c9?limit=200': [() => chatPage('c9', [stored('u1', 'user', 'Q'), stored('a1', 'assistant', 'A')])],
    });
    await useChat.getState().loadConversation('c9');
    expect(calls).toHaveLength(1);
    expect(useChat.getState().streams).toEqual({});
  });

  it('while streaming, sessionStorage names the answer; a reload attaches to that answer by its id; the end forgets it', async () => {
    const storage = memoryStorage();
    vi.stubGlobal('sessionStorage', storage);
    routes({
      'POST /api/v1/chat/stream': [(init) => sse([startFor('c1', 'a7', 'u7'), idEv(2, 'message', { content: 'Hal' })], { hang: true, signal: init.signal })],
    });
    useChat.setState((s) => ({ conversations: { ...s.conversations, c1: { chatId: 'c1', messages: [], nextCursor: null, loading: false, loaded: true, loadError: null } } }));
    const p = useChat.getState().send({ key: 'c1', botId: 'b1', text: 'Q' });
    await vi.waitFor(() => expect(useChat.getState().conversations.c1.messages[1]?.content).toBe('Hal'));
    expect(JSON.parse(storage.getItem('mangoo.answer.c1') ?? 'null')).toEqual({ messageId: 'a7', userMessageId: 'u7' });

    // the page goes away (a reload): this tab's state is gone, sessionStorage stays
    useChat.getState().streams.c1.ctl.controller.abort();
    await p;
    useChat.setState({ conversations: { [NEW_CHAT]: useChat.getState().conversations[NEW_CHAT] }, streams: {} });
    storage.setItem('mangoo.answer.c1', JSON.stringify({ messageId: 'a7', userMessageId: 'u7' }));

    const calls = routes({
      'GET /api/v1/chats/c1?limit=200': [() => chatPage('c1', [stored('u7', 'user', 'Q')])],
      'GET /api/v1/chats/c1/stream?message_id=a7': [
        () => sse([startFor('c1', 'a7', 'u7'), idEv(2, 'message', { content: 'Hal' }), idEv(3, 'message', { content: 'lo!' }), doneId(4)]),
      ],
    });
    await useChat.getState().loadConversation('c1');
    await vi.waitFor(() => expect(useChat.getState().conversations.c1.messages[1]?.status).toBe('complete'));
    expect(useChat.getState().conversations.c1.messages[1]).toMatchObject({ id: 'a7', content: 'Hallo!' });
    expect(calls.map((c) => c.url)).toEqual(['/api/v1/chats/c1?limit=200', '/api/v1/chats/c1/stream?message_id=a7']);
    expect(storage.getItem('mangoo.answer.c1')).toBeNull();
  });

  it('a reading aborted by the browser (the page going away), not by Stop, keeps the answer remembered', async () => {
    const storage = memoryStorage();
    vi.stubGlobal('sessionStorage', storage);
    const enc = new TextEncoder();
    const calls = routes({
      'POST /api/v1/chat/stream': [
        () => {
          let n = 0;
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (n++ === 0) controller.enqueue(enc.encode(startFor('c1', 'a7', 'u7')));
              else controller.error(new DOMException('The user aborted a request.', 'AbortError'));
            },
          });
          return new Response(body, { status: 200 });
        },
      ],
    });
    useChat.setState((s) => ({ conversations: { ...s.conversations, c1: { chatId: 'c1', messages: [], nextCursor: null, loading: false, loaded: true, loadError: null } } }));
    await useChat.getState().send({ key: 'c1', botId: 'b1', text: 'Q' });
    expect(calls).toHaveLength(1); // no cancel: nobody pressed Stop
    expect(useChat.getState().conversations.c1.messages[1]).toMatchObject({ status: 'error', errorCode: 'stream_interrupted' });
    expect(JSON.parse(storage.getItem('mangoo.answer.c1') ?? 'null')).toEqual({ messageId: 'a7', userMessageId: 'u7' });
  });

  it('a remembered answer that is stored since is forgotten, not attached to', async () => {
    const storage = memoryStorage();
    vi.stubGlobal('sessionStorage', storage);
    storage.setItem('mangoo.answer.c1', JSON.stringify({ messageId: 'a7', userMessageId: 'u7' }));
    const calls = routes({
      'GET /api/v1/chats/c1?limit=200': [() => chatPage('c1', [stored('u7', 'user', 'Q'), stored('a7', 'assistant', 'A')])],
    });
    await useChat.getState().loadConversation('c1');
    expect(calls).toHaveLength(1);
    expect(storage.getItem('mangoo.answer.c1')).toBeNull();
  });
});
