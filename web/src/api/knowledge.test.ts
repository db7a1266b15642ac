// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuthHooks } from './client';
import { ApiError } from './errors';
import { uploadContentType, uploadDocument, type UploadProgress } from './knowledge';

// A stand-in for XMLHttpRequest: records what is sent, and lets each test
// script the answer (progress events, then a status and a body).
type Script = (x: FakeXhr) => void;
let scripts: Script[] = [];
let sent: FakeXhr[] = [];

class FakeXhr {
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  responseText = '';
  responseHeaders: Record<string, string> = {};
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  onabort: (() => void) | null = null;
  aborted = false;

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v;
  }
  getResponseHeader(k: string): string | null {
    return this.responseHeaders[k] ?? null;
  }
  send(body: unknown) {
    this.body = body;
    sent.push(this);
    const script = scripts.shift();
    if (!script) throw new Error('no scripted answer');
    // answer asynchronously, as a browser does
    setTimeout(() => script(this), 0);
  }
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true } as ProgressEvent);
  }
  answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
    this.responseHeaders = headers;
    this.onload?.();
  }
}

const DOC = {
  id: 'd1',
  knowledge_base_id: 'kb1',
  filename: 'notes.md',
  content_type: 'text/markdown',
  source_url: null,
  size_bytes: 10,
  status: 'queued',
  error: null,
  progress: { done: 0, total: 0 },
  chunk_count: 0,
  created_at: '2024-01-01T00:00:00Z',
  updated_at: '2024-01-01T00:00:00Z',
};

function auth(tokens: string[], outcome: 'ok' | 'rejected' | 'unreachable' = 'ok'): AuthHooks & { refreshes: number; disabled: string[] } {
  let i = 0;
  const h = {
    refreshes: 0,
    disabled: [] as string[],
    getToken: () => tokens[i] ?? null,
    refresh: async () => {
      h.refreshes += 1;
      if (outcome === 'ok') i += 1;
      return outcome;
    },
    accountDisabled: (m: string) => void h.disabled.push(m),
  };
  return h;
}

const file = (name: string, content: string, type = '') => new File([content], name, { type });

describe('document uploads (XMLHttpRequest)', () => {
  beforeEach(() => {
    scripts = [];
    sent = [];
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
  });
  afterEach(() => vi.unstubAllGlobals());

  it('sends the file as the raw body with its type, name and token, and reports progress to 100%', async () => {
    scripts.push((x) => {
      x.progress(4, 10);
      x.progress(10, 10);
      x.answer(202, DOC);
    });
    const seen: UploadProgress[] = [];
    const f = file('my notes.md', '# Title\nabc');
    const doc = await uploadDocument('kb 1', f, { auth: auth(['tok']), onProgress: (p) => seen.push(p) });
    expect(doc).toMatchObject({ id: 'd1', status: 'queued' });
    const x = sent[0];
    expect(x.method).toBe('POST');
    expect(x.url).toBe('/api/v1/knowledge-bases/kb%201/documents?filename=my+notes.md');
    expect(x.headers['Content-Type']).toBe('text/markdown'); // from the extension: the browser gave none
    expect(x.headers.Authorization).toBe('Bearer tok');
    expect(x.body).toBe(f);
    expect(seen).toEqual([
      { loaded: 0, total: f.size },
      { loaded: 4, total: 10 },
      { loaded: 10, total: 10 },
    ]);
  });

  it('maps the API error bodies to ApiError: 413, 415, 400', async () => {
    const cases: [number, string, string][] = [
      [413, 'payload_too_large', 'the document is larger than 20971520 bytes'],
      [415, 'unsupported_media_type', 'upload text, Markdown, HTML or PDF'],
      [400, 'empty_document', 'the document is empty'],
    ];
    for (const [status, code, message] of cases) {
      scripts.push((x) => x.answer(status, { error: { code, message, request_id: `r-${status}` } }));
      const err = await uploadDocument('kb1', file('a.txt', 'x'), { auth: auth(['tok']) }).catch((e) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ status, code, message, requestId: `r-${status}` });
    }
  });

  it('maps nginx\'s own HTML 413 page to payload_too_large, and a dropped connection to network_error', async () => {
    scripts.push((x) => x.answer(413, '<html><body>413 Request Entity Too Large</body></html>', { 'X-Request-Id': 'h1' }));
    const big = await uploadDocument('kb1', file('big.pdf', 'x'), { auth: auth(['tok']) }).catch((e) => e);
    expect(big).toMatchObject({ status: 413, code: 'payload_too_large', requestId: 'h1' });
    expect(big.message).toMatch(/too large/);

    scripts.push((x) => x.onerror?.());
    const net = await uploadDocument('kb1', file('a.txt', 'x'), { auth: auth(['tok']) }).catch((e) => e);
    expect(net).toMatchObject({ status: 0, code: 'network_error' });
  });

  it('on 401 refreshes once and sends again with the new token', async () => {
    scripts.push((x) => x.answer(401, { error: { code: 'token_expired', message: 'expired' } }));
    scripts.push((x) => x.answer(200, { ...DOC, duplicate: true }));
    const a = auth(['old', 'new']);
    const doc = await uploadDocument('kb1', file('a.txt', 'x', 'text/plain'), { auth: a });
    expect(doc.duplicate).toBe(true);
    expect(a.refreshes).toBe(1);
    expect(sent.map((x) => x.headers.Authorization)).toEqual(['Bearer old', 'Bearer new']);
  });

  it('a refresh the server refuses ends in session_expired, without a second send', async () => {
    scripts.push((x) => x.answer(401, { error: { code: 'token_expired', message: 'expired' } }));
    const err = await uploadDocument('kb1', file('a.txt', 'x'), { auth: auth(['old'], 'rejected') }).catch((e) => e);
    expect(err).toMatchObject({ status: 401, code: 'session_expired' });
    expect(sent).toHaveLength(1);
  });

  it('a 403 account_disabled is reported to the session', async () => {
    scripts.push((x) => x.answer(403, { error: { code: 'account_disabled', message: 'disabled' } }));
    const a = auth(['tok']);
    const err = await uploadDocument('kb1', file('a.txt', 'x'), { auth: a }).catch((e) => e);
    expect(err.code).toBe('account_disabled');
    expect(a.disabled).toHaveLength(1);
  });

  it('an abort cancels the request with an AbortError', async () => {
    scripts.push(() => {}); // never answers
    const ctl = new AbortController();
    const p = uploadDocument('kb1', file('a.txt', 'x'), { auth: auth(['tok']), signal: ctl.signal });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    ctl.abort();
    const err = await p.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(sent[0].aborted).toBe(true);
  });

  it('picks the Content-Type: the file\'s own when supported, else from the extension', () => {
    expect(uploadContentType({ name: 'a.md', type: '' })).toBe('text/markdown');
    expect(uploadContentType({ name: 'a.MD', type: 'application/octet-stream' })).toBe('text/markdown');
    expect(uploadContentType({ name: 'a.txt', type: 'text/plain' })).toBe('text/plain');
    expect(uploadContentType({ name: 'page.htm', type: '' })).toBe('text/html');
    expect(uploadContentType({ name: 'doc.pdf', type: '' })).toBe('application/pdf');
    expect(uploadContentType({ name: 'x.html', type: 'text/html; charset=utf-8' })).toBe('text/html; charset=utf-8');
    expect(uploadContentType({ name: 'photo.png', type: 'image/png' })).toBe('image/png');
    expect(uploadContentType({ name: 'blob', type: '' })).toBe('application/octet-stream');
  });
});
