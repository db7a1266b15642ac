// @vitest-environment node
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from './errors';
import { SseParser, cancelAnswer, resumeChat, streamChat, type SseEvent } from './sse';
import type { ChatStreamEvent } from './types';

const enc = new TextEncoder();

/** Feed chunks, then end the stream; all events in order. */
function parseChunks(chunks: Uint8Array[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.feed(c));
  out.push(...p.end());
  return out;
}

/** A tiny deterministic PRNG (mulberry32) so random chunkings repeat. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunks(bytes: Uint8Array, rand: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const n = 1 + Math.floor(rand() * 7);
    out.push(bytes.slice(i, i + n));
    i += n;
  }
  return out;
}

// A stream exercising every rule at once: all three line endings, a
// comment, multi-line data, an id, retry, an unknown field, a field with
// no colon, multibyte UTF-8 (2, 3 and 4 bytes), and a final event with no
// closing blank line.
const STREAM =
  ': keepalive\r\n' +
  'event: start\r\n' +
  'data: {"chat_id":"c1"}\r\n' +
  '\r\n' +
  'retry: 1000\n' +
  'id: 7\n' +
  'event: message\n' +
  'data: {"content":"caf\u00e9 \u20ac \ud83d\ude00"}\n' +
  '\n' +
  'data:line one\r' +
  'data:  line two\r' +
  'foo: bar\r' +
  'data\r' +
  '\r' +
  ':another comment\n' +
  'event: done\r\n' +
  'data: {"ok":true}\r\n' +
  '\r\n' +
  'event: error\n' +
  'data: {"never":"dispatched"}\n';

const EXPECTED: SseEvent[] = [
  { event: 'start', data: '{"chat_id":"c1"}', id: '', ownId: false },
  { event: 'message', data: '{"content":"caf\u00e9 \u20ac \ud83d\ude00"}', id: '7', ownId: true },
  // the id goes on to the events after it, as theirs by inheritance
  { event: 'message', data: 'line one\n line two\n', id: '7', ownId: false },
  { event: 'done', data: '{"ok":true}', id: '7', ownId: false },
];

describe('SseParser', () => {
  it('parses the stream in one chunk', () => {
    expect(parseChunks([enc.encode(STREAM)])).toEqual(EXPECTED);
  });

  it('gives the same events for every 2-way split of the bytes', () => {
    const bytes = enc.encode(STREAM);
    for (let i = 0; i <= bytes.length; i++) {
      const got = parseChunks([bytes.slice(0, i), bytes.slice(i)]);
      expect(got, `split at byte ${i}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events for seeded random chunkings, and byte by byte', () => {
    const bytes = enc.encode(STREAM);
    for (let seed = 1; seed <= 200; seed++) {
      const chunks = randomChunks(bytes, rng(seed));
      expect(parseChunks(chunks), `seed ${seed}`).toEqual(EXPECTED);
    }
    const single = Array.from(bytes, (b) => Uint8Array.of(b));
    expect(parseChunks(single)).toEqual(EXPECTED);
  });

  it('treats a CR ending one chunk and a LF starting the next as one line end', () => {
    const p = new SseParser();
    expect(p.feed('data: a\r')).toEqual([]);
    // were the LF a second line end, this blank line would dispatch "a" here
    // and the next LF would dispatch nothing; one event total either way,
    // so check that the event is dispatched only at the real blank line
    expect(p.feed('\ndata: b\r')).toEqual([]);
    expect(p.feed('\n\r')).toEqual([{ event: 'message', data: 'a\nb', id: '', ownId: false }]);
    expect(p.feed('\n')).toEqual([]);
  });

  it('handles CR, LF and CRLF line endings alike', () => {
    for (const eol of ['\n', '\r', '\r\n']) {
      const s = ['event: x', 'data: 1', 'data: 2', '', 'data: 3', '', ''].join(eol);
      expect(parseChunks([enc.encode(s)]), JSON.stringify(eol)).toEqual([
        { event: 'x', data: '1\n2', id: '', ownId: false },
        { event: 'message', data: '3', id: '', ownId: false },
      ]);
    }
  });

  it('strips exactly one leading space from values and ignores comments', () => {
    expect(parseChunks([enc.encode(':c\ndata:   x \n:comment: data: y\n\n')])).toEqual([
      { event: 'message', data: '  x ', id: '', ownId: false },
    ]);
  });

  it('keeps a multibyte character split across chunks whole', () => {
    const bytes = enc.encode('data: \ud83d\ude00\u20ac\n\n'); // 4-byte + 3-byte chars
    for (let i = 6; i < 13; i++) {
      expect(parseChunks([bytes.slice(0, i), bytes.slice(i)])).toEqual([
        { event: 'message', data: '\ud83d\ude00\u20ac', id: '', ownId: false },
      ]);
    }
  });

  it('does not dispatch a final event without its blank line', () => {
    expect(parseChunks([enc.encode('event: done\ndata: {}\n')])).toEqual([]);
    expect(parseChunks([enc.encode('data: {}')])).toEqual([]);
  });

  it('does not dispatch a blank line with no data, and resets the event type', () => {
    expect(parseChunks([enc.encode('event: a\n\ndata: x\n\n')])).toEqual([
      { event: 'message', data: 'x', id: '', ownId: false },
    ]);
  });
});

// ---- streamChat ----------------------------------------------------------------

function sseResponse(chunks: string[], opts: { cutAfter?: boolean } = {}): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) {
        controller.enqueue(enc.encode(chunks[i++]));
      } else if (opts.cutAfter) {
        controller.error(new TypeError('network error'));
      } else {
        controller.close();
      }
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const START = 'event: start\ndata: {"chat_id":"c1","message_id":"m2","user_message_id":"m1","bot_id":"b1","model":"local","chat_created":true,"title":"Hi"}\n\n';

describe('streamChat', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('delivers start, deltas and done, and resolves with done', async () => {
    const fetchMock = vi.fn(async () =>
      sseResponse([
        START,
        ': keepalive\n\n',
        'event: message\ndata: {"content":"Hel',
        'lo"}\n\nevent: message\ndata: {"content":" w\u00f6rld"}\n\n',
        'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}\n\n',
      ]),
    );
    vi.stubGlobal('fetch', fetchMock);
    const events: ChatStreamEvent[] = [];
    const last = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.type)).toEqual(['start', 'message', 'message', 'done']);
    expect(events[1]).toEqual({ type: 'message', data: { content: 'Hello' } });
    expect(events[2]).toEqual({ type: 'message', data: { content: ' w\u00f6rld' } });
    expect(last?.type).toBe('done');
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/chat/stream');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ bot_id: 'b1', message: 'Hi' });
    expect((init.headers as Record<string, string>).Accept).toBe('text/event-stream');
  });

  it('delivers tool_call, tool_result and agent events in order and ignores unknown events', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sseResponse([
          START,
          'event: message\ndata: {"content":"Let me work that out."}\n\n',
          'event: tool_call\ndata: {"id":"tooluse_1","name":"calculator","input":{"expression":"2*(3+4)"},"step":1}\n\n',
          'event: thinking\ndata: {"text":"a future event"}\n\n',
          'event: agent\ndata: {"path":"orchestrator/web-reader","state":"start"}\n\n',
          'event: tool_result\ndata: {"id":"tooluse_1","name":"calculator","ok":true,"summary":"14","ms":3}\n\n',
          'event: message\ndata: {"content":"It is 14."}\n\n',
          'event: done\ndata: {"message_id":"m2","stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}\n\n',
        ]),
      ),
    );
    const events: ChatStreamEvent[] = [];
    await streamChat({ agent_id: 'a1', message: 'Hi' }, { onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.type)).toEqual(['start', 'message', 'tool_call', 'agent', 'tool_result', 'message', 'done']);
    expect(events[2]).toEqual({
      type: 'tool_call',
      data: { id: 'tooluse_1', name: 'calculator', input: { expression: '2*(3+4)' }, step: 1 },
    });
    expect(events[3]).toEqual({ type: 'agent', data: { path: 'orchestrator/web-reader', state: 'start' } });
    expect(events[4]).toEqual({
      type: 'tool_result',
      data: { id: 'tooluse_1', name: 'calculator', ok: true, summary: '14', ms: 3 },
    });
  });

  it('resolves with an error event and keeps what came before', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sseResponse([
          START,
          'event: message\ndata: {"content":"partial"}\n\n',
          'event: error\ndata: {"code":"provider_unavailable","message":"the provider is unreachable","message_id":"m2","saved":true}\n\n',
        ]),
      ),
    );
    const events: ChatStreamEvent[] = [];
    const last = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e) });
    expect(last).toEqual({
      type: 'error',
      data: { code: 'provider_unavailable', message: 'the provider is unreachable', message_id: 'm2', saved: true },
    });
    expect(events.map((e) => e.type)).toEqual(['start', 'message', 'error']);
  });

  it('rejects with the JSON error of a refusal before the stream (413)', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        jsonResponse(413, {
          error: { code: 'message_too_large', message: 'message is longer than 32000 characters', request_id: 'r-413' },
        }),
      ),
    );
    const onEvent = vi.fn();
    const err = await streamChat({ bot_id: 'b1', message: 'x' }, { onEvent }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 413,
      code: 'message_too_large',
      message: 'message is longer than 32000 characters',
      requestId: 'r-413',
    });
    expect(onEvent).not.toHaveBeenCalled();
  });

  it('rejects with stream_interrupted when the stream ends before done', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => sseResponse([START, 'event: message\ndata: {"content":"part"}\n\n', 'event: done\ndata: {}'])),
    );
    const events: ChatStreamEvent[] = [];
    const err = await streamChat({ bot_id: 'b1', message: 'x' }, { onEvent: (e) => events.push(e) }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('stream_interrupted');
    expect(err.message).toBe('The connection was lost before the answer finished.');
    // the unterminated done was not dispatched
    expect(events.map((e) => e.type)).toEqual(['start', 'message']);
  });

  it('rejects with stream_interrupted when the connection fails mid-stream', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => sseResponse([START], { cutAfter: true })));
    const err = await streamChat({ bot_id: 'b1', message: 'x' }, { onEvent: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('stream_interrupted');
  });

  it('rejects with an AbortError when stopped', async () => {
    const ctl = new AbortController();
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: RequestInit) => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(enc.encode(START));
            init.signal?.addEventListener('abort', () =>
              controller.error(new DOMException('aborted', 'AbortError')),
            );
          },
        });
        return new Response(body, { status: 200 });
      }),
    );
    const events: ChatStreamEvent[] = [];
    const p = streamChat(
      { bot_id: 'b1', message: 'x' },
      {
        signal: ctl.signal,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'start') setTimeout(() => ctl.abort(), 0);
        },
      },
    );
    const err = await p.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(events.map((e) => e.type)).toEqual(['start']);
  });
});

// ---- resuming an answer ------------------------------------------------------

/** An event with its id, as the server sends them. */
const idEv = (id: number, type: string, data: unknown) => `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const START_ID = idEv(1, 'start', {
  chat_id: 'c1',
  message_id: 'm2',
  user_message_id: 'm1',
  bot_id: 'b1',
  model: 'local',
  chat_created: true,
  title: 'Hi',
});
const word = (id: number, s: string) => idEv(id, 'message', { content: s });
const doneEv = (id: number, stop_reason = 'end_turn') =>
  idEv(id, 'done', { message_id: 'm2', stop_reason, usage: { input_tokens: 1, output_tokens: 2 } });

/** The answer's text as a reader shows it: deltas appended, a snapshot
 * replacing. */
function textOf(events: ChatStreamEvent[]): string {
  let t = '';
  for (const e of events) {
    if (e.type === 'message') t += e.data.content;
    if (e.type === 'snapshot') t = e.data.content;
  }
  return t;
}

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
}

/** fetch answering each call with the next response of the script, and
 * recording the calls. */
function scriptedFetch(script: Array<() => Response | Promise<Response>>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, method: init.method ?? 'GET', headers: { ...(init.headers as Record<string, string>) } });
    const next = script.shift();
    if (!next) throw new Error(`unexpected fetch ${url}`);
    return next();
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

const networkDown = () => {
  throw new TypeError('Failed to fetch');
};

/** A clock that only moves when the reader waits: the waits it asks for,
 * without waiting. */
function fakeTime() {
  let t = 0;
  const waits: number[] = [];
  return {
    waits,
    policy: {
      now: () => t,
      sleep: async (ms: number) => {
        waits.push(ms);
        t += ms;
      },
    },
  };
}

describe('streamChat resuming a lost connection', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('resumes after the body ends without done, with Last-Event-ID of the last event, and no text twice', async () => {
    const time = fakeTime();
    const calls = scriptedFetch([
      () => sseResponse([START_ID, word(2, 'One '), word(3, 'two ')]),
      () => sseResponse([word(4, 'three '), word(5, 'four.'), doneEv(6)]),
    ]);
    const events: ChatStreamEvent[] = [];
    const states: string[] = [];
    const last = await streamChat(
      { bot_id: 'b1', message: 'Hi' },
      { onEvent: (e) => events.push(e), onConnection: (s) => states.push(s), reconnect: time.policy },
    );
    expect(last?.type).toBe('done');
    expect(textOf(events)).toBe('One two three four.');
    expect(events.map((e) => e.type)).toEqual(['start', 'message', 'message', 'message', 'message', 'done']);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/v1/chat/stream',
      'GET /api/v1/chats/c1/stream?message_id=m2',
    ]);
    expect(calls[1].headers['Last-Event-ID']).toBe('3');
    expect(calls[1].headers.Accept).toBe('text/event-stream');
    expect(states).toEqual(['reconnecting', 'connected']);
    expect(time.waits).toEqual([250]);
  });

  it('resumes after a network error mid-body, several times, each from the last event received', async () => {
    const time = fakeTime();
    const calls = scriptedFetch([
      () => sseResponse([START_ID, word(2, 'a')], { cutAfter: true }),
      () => sseResponse([word(3, 'b'), word(4, 'c')], { cutAfter: true }),
      () => sseResponse([word(5, 'd'), doneEv(6)]),
    ]);
    const events: ChatStreamEvent[] = [];
    const last = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e), reconnect: time.policy });
    expect(last?.type).toBe('done');
    expect(textOf(events)).toBe('abcd');
    expect(calls.slice(1).map((c) => c.headers['Last-Event-ID'])).toEqual(['2', '4']);
    // events got through each time: the wait starts over
    expect(time.waits).toEqual([250, 250]);
  });

  it('does not apply twice an event a resumed stream sends again', async () => {
    const time = fakeTime();
    scriptedFetch([
      () => sseResponse([START_ID, word(2, 'Hel'), word(3, 'lo')]),
      // overlapping replay: 2 and 3 again, then the rest
      () => sseResponse([word(2, 'Hel'), word(3, 'lo'), word(4, ' you'), doneEv(5)]),
    ]);
    const events: ChatStreamEvent[] = [];
    await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e), reconnect: time.policy });
    expect(textOf(events)).toBe('Hello you');
    expect(events.filter((e) => e.type === 'message')).toHaveLength(3);
  });

  it('an event without an id of its own (nginx\'s closing error) is not taken for a replay', async () => {
    const time = fakeTime();
    scriptedFetch([
      () =>
        sseResponse([
          START_ID,
          word(2, 'partial'),
          'event: error\ndata: {"code":"worker_lost","message":"the worker was lost","request_id":"r"}\n\n',
        ]),
    ]);
    const events: ChatStreamEvent[] = [];
    const last = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e), reconnect: time.policy });
    expect(last).toEqual({ type: 'error', data: { code: 'worker_lost', message: 'the worker was lost', request_id: 'r' } });
    expect(events.map((e) => e.type)).toEqual(['start', 'message', 'error']);
    expect(time.waits).toEqual([]);
  });

  it('a snapshot replaces the text shown, and the live events follow it', async () => {
    const time = fakeTime();
    const snapshot = {
      chat_id: 'c1',
      message_id: 'm2',
      user_message_id: 'm1',
      bot_id: 'b1',
      model: 'local',
      content: 'One two three four ',
    };
    scriptedFetch([
      () => sseResponse([START_ID, word(2, 'One '), word(3, 'two ')], { cutAfter: true }),
      () => sseResponse([idEv(40, 'snapshot', snapshot), word(41, 'five.'), doneEv(42)]),
    ]);
    const events: ChatStreamEvent[] = [];
    const last = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e), reconnect: time.policy });
    expect(last?.type).toBe('done');
    expect(events.map((e) => e.type)).toEqual(['start', 'message', 'message', 'snapshot', 'message', 'done']);
    expect(events[3]).toEqual({ type: 'snapshot', data: snapshot });
    expect(textOf(events)).toBe('One two three four five.');
  });

  it('waits longer between failed attempts and gives up once the 30 s budget is spent', async () => {
    const time = fakeTime();
    const calls = scriptedFetch([
      () => sseResponse([START_ID, word(2, 'partial')]),
      ...Array.from({ length: 30 }, () => networkDown),
    ]);
    const events: ChatStreamEvent[] = [];
    const states: string[] = [];
    const err = await streamChat(
      { bot_id: 'b1', message: 'Hi' },
      { onEvent: (e) => events.push(e), onConnection: (s) => states.push(s), reconnect: time.policy },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('stream_interrupted');
    expect(err.message).toBe('The connection was lost before the answer finished.');
    // 0.25 + 0.5 + 1 + 2 + 4 * 6 = 27.75 s; another 4 s would pass 30 s
    expect(time.waits).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000]);
    expect(calls.filter((c) => c.method === 'GET')).toHaveLength(10);
    expect(calls.slice(1).every((c) => c.headers['Last-Event-ID'] === '2')).toBe(true);
    expect(states).toEqual(['reconnecting']);
    expect(textOf(events)).toBe('partial');
  });

  it('retries a busy server (503) and a connection that brings nothing, with growing waits', async () => {
    const time = fakeTime();
    const calls = scriptedFetch([
      () => sseResponse([START_ID, word(2, 'x')]),
      () => jsonResponse(503, { error: { code: 'no_workers', message: 'no worker', request_id: 'r' } }),
      () => sseResponse([': keepalive\n\n']),
      () => sseResponse([word(3, 'y'), doneEv(4)]),
    ]);
    const events: ChatStreamEvent[] = [];
    const last = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: (e) => events.push(e), reconnect: time.policy });
    expect(last?.type).toBe('done');
    expect(textOf(events)).toBe('xy');
    expect(time.waits).toEqual([250, 500, 1000]);
    expect(calls.slice(1).map((c) => c.headers['Last-Event-ID'])).toEqual(['2', '2', '2']);
  });

  it('a 204 (finished, nothing more to send) ends it cleanly with null', async () => {
    const time = fakeTime();
    const calls = scriptedFetch([
      () => sseResponse([START_ID, word(2, 'all of it')]),
      () => new Response(null, { status: 204 }),
    ]);
    const events: ChatStreamEvent[] = [];
    const states: string[] = [];
    const last = await streamChat(
      { bot_id: 'b1', message: 'Hi' },
      { onEvent: (e) => events.push(e), onConnection: (s) => states.push(s), reconnect: time.policy },
    );
    expect(last).toBeNull();
    expect(calls).toHaveLength(2);
    expect(states).toEqual(['reconnecting', 'connected']);
    expect(textOf(events)).toBe('all of it');
  });

  it.each([
    [404, 'no_stream', 'The connection was lost and the answer could not be resumed: the server no longer has it.'],
    [404, 'chat_not_found', 'The connection was lost and the answer could not be resumed: this chat was not found.'],
    [400, 'invalid_last_event_id', 'The connection was lost and the server could not resume the answer from where it stopped.'],
  ])('a %i %s ends it at once with a clear message', async (status, code, message) => {
    const time = fakeTime();
    const calls = scriptedFetch([
      () => sseResponse([START_ID, word(2, 'x')]),
      () => jsonResponse(status, { error: { code, message: 'terse', request_id: 'r-1' } }),
    ]);
    const err = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: () => {}, reconnect: time.policy }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status, code, message, requestId: 'r-1' });
    expect(calls).toHaveLength(2);
  });

  it('does not try to resume a stream cut before its start (no answer to name)', async () => {
    const calls = scriptedFetch([() => sseResponse([': keepalive\n\n'], { cutAfter: true })]);
    const err = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: () => {}, reconnect: fakeTime().policy }).catch((e) => e);
    expect(err.code).toBe('stream_interrupted');
    expect(calls).toHaveLength(1);
  });

  it('with reconnect: false a cut stream is stream_interrupted with no second request', async () => {
    const calls = scriptedFetch([() => sseResponse([START_ID, word(2, 'x')])]);
    const err = await streamChat({ bot_id: 'b1', message: 'Hi' }, { onEvent: () => {}, reconnect: false }).catch((e) => e);
    expect(err.code).toBe('stream_interrupted');
    expect(calls).toHaveLength(1);
  });

  it('Stop while waiting to reconnect rejects with the AbortError and asks nothing more', async () => {
    const ctl = new AbortController();
    const calls = scriptedFetch([() => sseResponse([START_ID, word(2, 'x')])]);
    const err = await streamChat(
      { bot_id: 'b1', message: 'Hi' },
      {
        signal: ctl.signal,
        onEvent: () => {},
        onConnection: (s) => {
          if (s === 'reconnecting') ctl.abort();
        },
        // the real wait, cut short by the abort
        reconnect: { delays: [60_000], budgetMs: 120_000 },
      },
    ).catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(calls).toHaveLength(1);
  });
});

describe('resumeChat', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('attaches from the start (no Last-Event-ID), naming the answer when known', async () => {
    const calls = scriptedFetch([() => sseResponse([START_ID, word(2, 'Hi '), word(3, 'there'), doneEv(4)])]);
    const events: ChatStreamEvent[] = [];
    const states: string[] = [];
    const last = await resumeChat(
      'c1',
      { messageId: 'm2' },
      { onEvent: (e) => events.push(e), onConnection: (s) => states.push(s), reconnect: fakeTime().policy },
    );
    expect(last?.type).toBe('done');
    expect(textOf(events)).toBe('Hi there');
    expect(calls).toHaveLength(1);
    expect(`${calls[0].method} ${calls[0].url}`).toBe('GET /api/v1/chats/c1/stream?message_id=m2');
    expect(calls[0].headers['Last-Event-ID']).toBeUndefined();
    expect(states).toEqual([]);
  });

  it('the chat\'s answer in progress without a message id; from a given event id', async () => {
    const calls = scriptedFetch([() => sseResponse([word(8, 'rest'), doneEv(9)])]);
    const events: ChatStreamEvent[] = [];
    await resumeChat('c 1', { lastEventId: 7 }, { onEvent: (e) => events.push(e), reconnect: fakeTime().policy });
    expect(calls[0].url).toBe('/api/v1/chats/c%201/stream');
    expect(calls[0].headers['Last-Event-ID']).toBe('7');
    expect(textOf(events)).toBe('rest');
  });

  it('a first request that cannot connect is retried like a lost connection', async () => {
    const time = fakeTime();
    const states: string[] = [];
    const calls = scriptedFetch([networkDown, () => sseResponse([START_ID, doneEv(2)])]);
    const last = await resumeChat('c1', {}, { onEvent: () => {}, onConnection: (s) => states.push(s), reconnect: time.policy });
    expect(last?.type).toBe('done');
    expect(calls).toHaveLength(2);
    expect(time.waits).toEqual([250]);
    expect(states).toEqual(['reconnecting', 'connected']);
  });

  it('404 no_stream: nothing to attach to', async () => {
    scriptedFetch([() => jsonResponse(404, { error: { code: 'no_stream', message: 'nothing to resume', request_id: 'r' } })]);
    const onEvent = vi.fn();
    const err = await resumeChat('c1', {}, { onEvent, reconnect: fakeTime().policy }).catch((e) => e);
    expect(err).toMatchObject({ status: 404, code: 'no_stream' });
    expect(onEvent).not.toHaveBeenCalled();
  });
});

describe('cancelAnswer', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('POSTs the cancel of the named answer', async () => {
    const calls = scriptedFetch([() => jsonResponse(200, { message_id: 'm2', status: 'cancelled' })]);
    await expect(cancelAnswer('c1', 'm2')).resolves.toEqual({ message_id: 'm2', status: 'cancelled' });
    expect(`${calls[0].method} ${calls[0].url}`).toBe('POST /api/v1/chats/c1/cancel?message_id=m2');
  });

  it('409 not_streaming when nothing is in progress', async () => {
    scriptedFetch([() => jsonResponse(409, { error: { code: 'not_streaming', message: 'nothing is streaming', request_id: 'r' } })]);
    await expect(cancelAnswer('c1', 'm2')).rejects.toMatchObject({ status: 409, code: 'not_streaming' });
  });
});
