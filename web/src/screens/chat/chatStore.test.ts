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
    expect(s.streaming).toBeNull();
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
    expect(useChat.getState().streaming).toBeNull();
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

  it('Stop aborts the request and marks the partial answer cancelled', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_u: string, init: RequestInit) => sse([START, delta('so far')], { hang: true, signal: init.signal })),
    );
    const p = useChat.getState().send({ key: NEW_CHAT, botId: 'b1', text: 'Hi' });
    await vi.waitFor(() => expect(useChat.getState().conversations['c-new']?.messages[1]?.content).toBe('so far'));
    const { streaming } = useChat.getState();
    expect(streaming?.key).toBe('c-new');
    useChat.getState().stop();
    await p;
    expect(streaming?.controller.signal.aborted).toBe(true);
    const a = useChat.getState().conversations['c-new'].messages[1];
    expect(a).toMatchObject({ status: 'cancelled', content: 'so far' });
    expect(useChat.getState().streaming).toBeNull();
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
