// Server-sent events over fetch: POST /api/v1/chat/stream is a POST with a
// JSON body and a bearer token, which EventSource cannot send.
//
// SseParser follows the HTML spec's "event stream interpretation": lines
// end with LF, CRLF or CR (a CR ending one chunk and the LF starting the
// next are one line ending); "event", "data" (several lines joined with
// LF), "id"; "retry" and unknown fields ignored; lines starting with ":"
// are comments; a blank line dispatches; an event not closed by a blank
// line when the stream ends is dropped.  Bytes are decoded as UTF-8 with a
// streaming TextDecoder, so a character split across chunks is kept whole.

import { apiFetch } from './client';
import { ApiError, RESUME_ERROR_MESSAGES, STREAM_INTERRUPTED_MESSAGE, isAbortError } from './errors';
import type { CancelResult, ChatStreamEvent, ChatTurnRequest } from './types';

export interface SseEvent {
  /** The event type ("message" when the stream named none). */
  event: string;
  data: string;
  /** The last event id seen so far ("" when none). */
  id: string;
  /** The event had an id line of its own (else `id` is an earlier one's). */
  ownId: boolean;
}

export class SseParser {
  private decoder = new TextDecoder('utf-8');
  /** Text of the current, unfinished line. */
  private line = '';
  /** The previous chunk ended with CR: a LF starting the next is skipped. */
  private afterCR = false;
  private eventType = '';
  private dataLines: string[] = [];
  private lastEventId = '';
  private eventHasId = false;

  /** Feed bytes (or already decoded text); returns the events completed. */
  feed(chunk: Uint8Array | string): SseEvent[] {
    const text =
      typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.feedText(text);
  }

  /** The stream ended: flush the decoder.  An event without its closing
   * blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const rest = this.decoder.decode();
    const events = rest ? this.feedText(rest) : [];
    this.line = '';
    this.afterCR = false;
    this.eventType = '';
    this.dataLines = [];
    this.eventHasId = false;
    return events;
  }

  private feedText(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let i = 0;
    const n = text.length;
    if (n === 0) return out;
    if (this.afterCR) {
      this.afterCR = false;
      if (text.charCodeAt(0) === 10) i = 1;
    }
    let start = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 10 || c === 13) {
        const line = this.line + text.slice(start, i);
        this.line = '';
        this.processLine(line, out);
        if (c === 13) {
          if (i + 1 < n) {
            if (text.charCodeAt(i + 1) === 10) i++;
          } else {
            this.afterCR = true;
          }
        }
        i++;
        start = i;
      } else {
        i++;
      }
    }
    if (start < n) this.line += text.slice(start);
    return out;
  }

  private processLine(line: string, out: SseEvent[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return; // comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
          this.eventHasId = true;
        }
        break;
      default:
        // "retry" and unknown fields: ignored
        break;
    }
  }

  private dispatch(out: SseEvent[]): void {
    const ownId = this.eventHasId;
    this.eventHasId = false;
    if (this.dataLines.length === 0) {
      this.eventType = '';
      return;
    }
    out.push({
      event: this.eventType || 'message',
      data: this.dataLines.join('\n'),
      id: this.lastEventId,
      ownId,
    });
    this.eventType = '';
    this.dataLines = [];
  }
}

// ---- the chat stream ------------------------------------------------------
//
// Every event of an answer carries an id (1, 2, 3 ... within the answer).
// When the connection fails mid-answer (a network error, or the body ends
// without `done`/`error`), the answer goes on in the worker for a grace
// period, and the reader comes back by itself through
// GET /api/v1/chats/{chat_id}/stream?message_id= with Last-Event-ID: the
// events it missed, then the live rest.  A `snapshot` event (the missed
// events were too old to replay) carries the whole text so far, which
// replaces what the reader showed.  Waits between attempts grow (0.25 s,
// 0.5, 1, 2, then 4 s each) and it gives up once 30 s have passed since
// the connection was lost without an event getting through.

export type ConnectionState = 'reconnecting' | 'connected';

export interface ReconnectPolicy {
  /** The wait before each attempt, in ms; the last one repeats. */
  delays: number[];
  /** Give up once this long (ms) has passed since the connection was lost
   * (reset whenever a reconnection brings events). */
  budgetMs: number;
  /** For tests: the clock and the wait. */
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = {
  delays: [250, 500, 1000, 2000, 4000],
  budgetMs: 30_000,
  now: () => Date.now(),
  sleep: abortableSleep,
};

export interface StreamChatOptions {
  signal?: AbortSignal;
  onEvent: (ev: ChatStreamEvent) => void;
  /** 'reconnecting' when the connection is lost mid-answer, 'connected'
   * when a resume request is answered. */
  onConnection?: (state: ConnectionState) => void;
  /** How to reconnect (false: not at all). */
  reconnect?: Partial<ReconnectPolicy> | false;
}

/** Which answer to resume and from where. */
export interface ResumeTarget {
  /** The answer (message id); the chat's answer in progress when absent. */
  messageId?: string | null;
  /** The id of the last event already handled; from the start when absent. */
  lastEventId?: number | null;
}

const KNOWN = new Set([
  'start',
  'citations',
  'message',
  'tool_call',
  'tool_result',
  'agent',
  'snapshot',
  'done',
  'error',
]);

function toChatEvent(ev: SseEvent): ChatStreamEvent | null {
  if (!KNOWN.has(ev.event)) return null;
  let data: unknown;
  try {
    data = JSON.parse(ev.data);
  } catch {
    throw new ApiError(0, 'bad_response', 'The server sent an answer that could not be read.');
  }
  if (typeof data !== 'object' || data === null) {
    throw new ApiError(0, 'bad_response', 'The server sent an answer that could not be read.');
  }
  return { type: ev.event, data } as ChatStreamEvent;
}

function interrupted(): ApiError {
  return new ApiError(0, 'stream_interrupted', STREAM_INTERRUPTED_MESSAGE);
}

/** Failures worth another attempt: no answer at all, or a server (or the
 * proxy before it) that is busy or restarting. */
function retryable(e: ApiError): boolean {
  return e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500;
}

/** The resume request's refusals, in words a person can act on. */
function resumeRefusal(e: ApiError): ApiError {
  const message = RESUME_ERROR_MESSAGES[e.code];
  return message ? new ApiError(e.status, e.code, message, e.requestId) : e;
}

/** The events of one answer, over as many connections as it takes. */
class AnswerReader {
  chatId: string | null;
  messageId: string | null;
  /** The id of the last event handled (null: none had an id). */
  lastId: number | null;
  terminal: ChatStreamEvent | null = null;
  /** Events handled, over all connections. */
  handled = 0;

  constructor(
    private readonly opts: StreamChatOptions,
    chatId: string | null,
    messageId: string | null,
    lastId: number | null,
  ) {
    this.chatId = chatId;
    this.messageId = messageId;
    this.lastId = lastId;
  }

  private handle(raw: SseEvent): void {
    if (this.terminal) return;
    const ev = toChatEvent(raw);
    if (!ev) return;
    // only an event's own id counts: one without (e.g. the closing error
    // nginx adds when the worker is lost) inherits the one before it
    const id = raw.ownId && /^\d+$/.test(raw.id) ? Number(raw.id) : null;
    // an event already handled (a replay that overlaps) is not applied
    // twice; a snapshot replaces the text, so it always applies
    if (id !== null && this.lastId !== null && id <= this.lastId && ev.type !== 'snapshot') return;
    if (id !== null) this.lastId = id;
    if (ev.type === 'start' || ev.type === 'snapshot') {
      if (typeof ev.data.chat_id === 'string') this.chatId = ev.data.chat_id;
      if (typeof ev.data.message_id === 'string') this.messageId = ev.data.message_id;
    }
    this.handled += 1;
    this.opts.onEvent(ev);
    if (ev.type === 'done' || ev.type === 'error') this.terminal = ev;
  }

  /** Read one response to its end: true when the answer's last event came,
   * false when the connection ended or failed before it. */
  async read(res: Response): Promise<boolean> {
    const { signal } = this.opts;
    if (!res.body) return false;
    const reader = res.body.getReader();
    const parser = new SseParser();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (isAbortError(e) || signal?.aborted) throw abortError(signal, e);
          return false;
        }
        if (chunk.done) {
          for (const ev of parser.end()) this.handle(ev);
          break;
        }
        for (const ev of parser.feed(chunk.value)) this.handle(ev);
        if (this.terminal) break;
      }
    } finally {
      // stop reading (the server closes after done/error anyway)
      reader.cancel().catch(() => {});
    }
    if (this.terminal) return true;
    if (signal?.aborted) throw abortError(signal);
    return false;
  }

  /** GET the answer's events after lastId. */
  private open(): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.lastId !== null) headers['Last-Event-ID'] = String(this.lastId);
    return apiFetch(`/chats/${encodeURIComponent(this.chatId ?? '')}/stream`, {
      query: { message_id: this.messageId },
      headers,
      signal: this.opts.signal,
    });
  }

  /**
   * Follow the answer through the resume request until its last event
   * (resolves with it), a 204 (resolves null: nothing more to come), a
   * refusal (rejects with it) or the time budget spent (rejects with
   * stream_interrupted).  `lost`: the connection was just lost (wait
   * before the first attempt and say so); otherwise this is a first
   * attachment.
   */
  async follow(lost: boolean): Promise<ChatStreamEvent | null> {
    const { signal, onConnection } = this.opts;
    const policy: ReconnectPolicy = { ...DEFAULT_RECONNECT, ...(this.opts.reconnect || {}) };
    let since = policy.now();
    let attempt = lost ? 0 : -1; // -1: right away
    if (lost) onConnection?.('reconnecting');
    for (;;) {
      if (attempt >= 0) {
        const delay = policy.delays[Math.min(attempt, policy.delays.length - 1)] ?? 0;
        if (policy.now() - since + delay > policy.budgetMs) throw interrupted();
        await policy.sleep(delay, signal);
      }
      attempt += 1;
      let res: Response;
      try {
        res = await this.open();
      } catch (e) {
        if (isAbortError(e) || signal?.aborted) throw abortError(signal, e);
        const err = e instanceof ApiError ? e : interrupted();
        if (this.opts.reconnect !== false && retryable(err)) {
          if (attempt === 0) {
            // a first attachment that could not connect: retry as a loss
            since = policy.now();
            onConnection?.('reconnecting');
          }
          continue;
        }
        throw resumeRefusal(err);
      }
      if (lost || attempt > 0) onConnection?.('connected');
      if (res.status === 204) {
        res.body?.cancel().catch(() => {});
        return null;
      }
      const before = this.handled;
      if (await this.read(res)) return this.terminal;
      if (this.opts.reconnect === false) throw interrupted();
      if (this.handled > before || attempt === 0) {
        // events got through: the wait and the budget start over
        since = policy.now();
        attempt = 0;
      }
      lost = true;
      onConnection?.('reconnecting');
    }
  }

  /** Can the answer be resumed after a loss? Only once it is known by its
   * chat, its id and an event id. */
  resumable(): boolean {
    return this.opts.reconnect !== false && this.chatId !== null && this.messageId !== null && this.lastId !== null;
  }
}

/**
 * One chat turn as a stream.  Calls onEvent for each start / citations /
 * message / tool_call / tool_result / agent / snapshot / done / error event
 * (others are ignored) and resolves with the last one (done or error), or
 * with null when a resume request answered 204 (the answer is finished and
 * nothing more is to come).  A connection lost mid-answer is resumed by
 * itself (see above).
 * Rejects with an ApiError when the server refuses the turn before the
 * stream starts (413 message_too_large, 429 quota_exceeded, ...), with
 * ApiError stream_interrupted when the stream ends without done or error
 * and cannot be resumed (before `start`, or reconnecting did not succeed
 * in time), with the resume request's refusal (404 no_stream,
 * chat_not_found, 400 invalid_last_event_id), and with the AbortError when
 * options.signal aborts.
 */
export async function streamChat(
  body: ChatTurnRequest,
  options: StreamChatOptions,
): Promise<ChatStreamEvent | null> {
  const res = await apiFetch('/chat/stream', {
    method: 'POST',
    body,
    signal: options.signal,
    headers: { Accept: 'text/event-stream' },
  });
  const answer = new AnswerReader(options, body.chat_id ?? null, null, null);
  if (await answer.read(res)) return answer.terminal;
  if (!answer.resumable()) throw interrupted();
  return answer.follow(true);
}

/**
 * Attach to an answer of the chat (in progress, or finished and stored):
 * GET /api/v1/chats/{chatId}/stream, from its start (or the `snapshot` of
 * it) unless target.lastEventId says which events were handled already.
 * The same events, results and rejections as streamChat; a first request
 * that cannot connect is retried like a lost connection.
 */
export async function resumeChat(
  chatId: string,
  target: ResumeTarget,
  options: StreamChatOptions,
): Promise<ChatStreamEvent | null> {
  const answer = new AnswerReader(options, chatId, target.messageId ?? null, target.lastEventId ?? null);
  return answer.follow(false);
}

/** POST /api/v1/chats/{chatId}/cancel: stop the answer in progress now
 * (every reader of it gets a final `done` with stop_reason "cancelled").
 * Rejects with ApiError 409 not_streaming when nothing is in progress. */
export async function cancelAnswer(chatId: string, messageId?: string | null): Promise<CancelResult> {
  const res = await apiFetch(`/chats/${encodeURIComponent(chatId)}/cancel`, {
    method: 'POST',
    query: { message_id: messageId },
    body: {},
  });
  let text = '';
  try {
    text = await res.text();
  } catch {
    // the stop happened; its body is a detail
  }
  try {
    const out = JSON.parse(text) as CancelResult;
    if (out && typeof out === 'object') return out;
  } catch {
    // fall through
  }
  return { message_id: messageId ?? '', status: 'cancelled' };
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal?: AbortSignal, cause?: unknown): unknown {
  if (cause && isAbortError(cause)) return cause;
  const reason = signal?.reason;
  if (reason && isAbortError(reason)) return reason;
  return new DOMException('The answer was stopped.', 'AbortError');
}
