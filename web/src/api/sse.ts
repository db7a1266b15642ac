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
import { ApiError, STREAM_INTERRUPTED_MESSAGE, isAbortError } from './errors';
import type { ChatStreamEvent, ChatTurnRequest } from './types';

export interface SseEvent {
  /** The event type ("message" when the stream named none). */
  event: string;
  data: string;
  /** The last event id seen so far ("" when none). */
  id: string;
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
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      default:
        // "retry" and unknown fields: ignored
        break;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.dataLines.length === 0) {
      this.eventType = '';
      return;
    }
    out.push({
      event: this.eventType || 'message',
      data: this.dataLines.join('\n'),
      id: this.lastEventId,
    });
    this.eventType = '';
    this.dataLines = [];
  }
}

// ---- the chat stream ------------------------------------------------------

export interface StreamChatOptions {
  signal?: AbortSignal;
  onEvent: (ev: ChatStreamEvent) => void;
}

const KNOWN = new Set(['start', 'citations', 'message', 'tool_call', 'tool_result', 'agent', 'done', 'error']);

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

/**
 * One chat turn as a stream.  Calls onEvent for each start / citations /
 * message / tool_call / tool_result / agent / done / error event (others are
 * ignored) and resolves with the last one (done or error).
 * Rejects with an ApiError when the server refuses the turn before the
 * stream starts (413 message_too_large, 429 quota_exceeded, ...), with
 * ApiError stream_interrupted when the stream ends without done or error,
 * and with the AbortError when options.signal aborts.
 */
export async function streamChat(
  body: ChatTurnRequest,
  { signal, onEvent }: StreamChatOptions,
): Promise<ChatStreamEvent> {
  const res = await apiFetch('/chat/stream', {
    method: 'POST',
    body,
    signal,
    headers: { Accept: 'text/event-stream' },
  });
  if (!res.body) throw interrupted();

  const reader = res.body.getReader();
  const parser = new SseParser();
  let terminal: ChatStreamEvent | null = null;

  const handle = (events: SseEvent[]): void => {
    for (const raw of events) {
      if (terminal) return;
      const ev = toChatEvent(raw);
      if (!ev) continue;
      onEvent(ev);
      if (ev.type === 'done' || ev.type === 'error') terminal = ev;
    }
  };

  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (isAbortError(e) || signal?.aborted) throw abortError(signal, e);
        throw interrupted();
      }
      if (chunk.done) {
        handle(parser.end());
        break;
      }
      handle(parser.feed(chunk.value));
      if (terminal) break;
    }
  } finally {
    // stop reading (the server closes after done/error anyway)
    reader.cancel().catch(() => {});
  }
  if (terminal) return terminal;
  if (signal?.aborted) throw abortError(signal);
  throw interrupted();
}

function abortError(signal?: AbortSignal, cause?: unknown): unknown {
  if (cause && isAbortError(cause)) return cause;
  const reason = signal?.reason;
  if (reason && isAbortError(reason)) return reason;
  return new DOMException('The answer was stopped.', 'AbortError');
}
