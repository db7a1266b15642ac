// The knowledge-base endpoints of the API client: knowledge bases,
// documents (uploads with progress), search.  The same request() as
// client.ts (bearer token, one refresh and retry on 401, every failure an
// ApiError); kept in a module of its own so that only the screens that use
// it (knowledge, bots) load it, never the sign-in page.
//
// Uploads go through XMLHttpRequest, not fetch: only XHR reports how much
// of a request body has been sent (upload.onprogress).  The file is the raw
// body, with its Content-Type, and its name in ?filename=.

import { buildUrl, request, type AuthHooks, type RefreshOutcome } from './client';
import {
  ACCOUNT_DISABLED_MESSAGE,
  ApiError,
  SESSION_ENDED_MESSAGE,
  errorFromResponse,
  networkError,
} from './errors';
import type {
  KbDocument,
  KnowledgeBase,
  KnowledgeBaseInput,
  Page,
  SearchRequest,
  SearchResult,
} from './types';
import { useAuth } from '../store/auth';

const kbPath = (id: string) => `/knowledge-bases/${encodeURIComponent(id)}`;
const docPath = (kb: string, doc: string) => `${kbPath(kb)}/documents/${encodeURIComponent(doc)}`;

type PageQuery = { limit?: number; cursor?: string | null };

export const knowledgeApi = {
  list: (q: PageQuery = {}, signal?: AbortSignal) =>
    request<Page<KnowledgeBase>>('/knowledge-bases', { query: q, signal }),
  get: (id: string, signal?: AbortSignal) => request<KnowledgeBase>(kbPath(id), { signal }),
  create: (body: KnowledgeBaseInput) =>
    request<KnowledgeBase>('/knowledge-bases', { method: 'POST', body }),
  update: (id: string, body: KnowledgeBaseInput) =>
    request<KnowledgeBase>(kbPath(id), { method: 'PATCH', body }),
  remove: (id: string) => request<void>(kbPath(id), { method: 'DELETE' }),

  documents: (kbId: string, q: PageQuery = {}, signal?: AbortSignal) =>
    request<Page<KbDocument>>(`${kbPath(kbId)}/documents`, { query: q, signal }),
  document: (kbId: string, docId: string, signal?: AbortSignal) =>
    request<KbDocument>(docPath(kbId, docId), { signal }),
  /** A web page by address: the ingest worker fetches it. */
  addUrl: (kbId: string, url: string) =>
    request<KbDocument>(`${kbPath(kbId)}/documents`, { method: 'POST', body: { url } }),
  removeDocument: (kbId: string, docId: string) =>
    request<void>(docPath(kbId, docId), { method: 'DELETE' }),
  /** A failed document back to the queue (409 not_failed otherwise). */
  retryDocument: (kbId: string, docId: string) =>
    request<KbDocument>(`${docPath(kbId, docId)}/retry`, { method: 'POST', body: {} }),

  search: (kbId: string, body: SearchRequest, signal?: AbortSignal) =>
    request<SearchResult>(`${kbPath(kbId)}/search`, { method: 'POST', body, signal }),
};

/** Every knowledge base of the caller (pickers: a bot links to at most 10). */
export async function allKnowledgeBases(signal?: AbortSignal): Promise<KnowledgeBase[]> {
  const all: KnowledgeBase[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 10; i++) {
    const page: Page<KnowledgeBase> = await knowledgeApi.list({ limit: 100, cursor }, signal);
    all.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return all;
}

// ---- uploads -------------------------------------------------------------

/** The types the server extracts text from. */
export const UPLOAD_TYPES = ['text/plain', 'text/markdown', 'text/html', 'application/pdf'] as const;

const BY_EXTENSION: Record<string, string> = {
  txt: 'text/plain',
  text: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  html: 'text/html',
  htm: 'text/html',
  pdf: 'application/pdf',
};

/** What the file input's `accept` lists. */
export const UPLOAD_ACCEPT = '.txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf';

/** The Content-Type to upload a file with: its own when the server knows
 * it, else one from its extension (browsers often leave .md untyped), else
 * its own or application/octet-stream (the server answers 415). */
export function uploadContentType(file: { name: string; type: string }): string {
  const own = file.type.split(';')[0].trim().toLowerCase();
  if ((UPLOAD_TYPES as readonly string[]).includes(own)) return file.type;
  const dot = file.name.lastIndexOf('.');
  const ext = dot >= 0 ? file.name.slice(dot + 1).toLowerCase() : '';
  return BY_EXTENSION[ext] ?? (file.type || 'application/octet-stream');
}

export interface UploadProgress {
  /** Bytes sent so far. */
  loaded: number;
  /** Bytes to send (the file's size when the browser does not say). */
  total: number;
}

export interface UploadOptions {
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
  /** Token source; the auth store's by default (tests plug in their own). */
  auth?: AuthHooks;
}

const storeAuth: AuthHooks = {
  getToken: () => useAuth.getState().accessToken,
  refresh: () => useAuth.getState().refresh(),
  accountDisabled: (message) => {
    const s = useAuth.getState();
    if (s.status === 'signed-in') void s.signOut({ notice: message, cognitoLogout: false });
  },
};

interface XhrAnswer {
  status: number;
  text: string;
  requestId: string | null;
}

function abortError(): DOMException {
  return new DOMException('The upload was cancelled.', 'AbortError');
}

function sendOnce(
  url: string,
  file: Blob,
  contentType: string,
  token: string | null,
  opts: UploadOptions,
): Promise<XhrAnswer> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortError());
      return;
    }
    const xhr = new XMLHttpRequest();
    const onAbortSignal = () => xhr.abort();
    const done = () => opts.signal?.removeEventListener('abort', onAbortSignal);
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', contentType);
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e: ProgressEvent) => {
      opts.onProgress?.({ loaded: e.loaded, total: e.lengthComputable && e.total > 0 ? e.total : file.size });
    };
    xhr.onload = () => {
      done();
      resolve({ status: xhr.status, text: xhr.responseText ?? '', requestId: xhr.getResponseHeader('X-Request-Id') });
    };
    xhr.onerror = () => {
      done();
      reject(networkError());
    };
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => {
      done();
      reject(abortError());
    };
    opts.signal?.addEventListener('abort', onAbortSignal);
    opts.onProgress?.({ loaded: 0, total: file.size });
    xhr.send(file);
  });
}

/** Words for a refusal that came without the API's JSON body (nginx's own
 * 413 page, say). */
const PLAIN_REFUSALS: Record<number, [string, string]> = {
  413: ['payload_too_large', 'The file is too large to upload.'],
  415: ['unsupported_media_type', 'This type of file is not supported: upload text, Markdown, HTML or PDF.'],
};

async function errorOf(a: XhrAnswer): Promise<ApiError> {
  if (a.status < 200 || a.status > 599) return networkError();
  const headers: Record<string, string> = {};
  if (a.requestId) headers['X-Request-Id'] = a.requestId;
  const err = await errorFromResponse(new Response(a.text, { status: a.status, headers }));
  const plain = PLAIN_REFUSALS[a.status];
  if (err.code === 'bad_response' && plain) return new ApiError(a.status, plain[0], plain[1], err.requestId);
  return err;
}

/**
 * Upload one file into a knowledge base.  Resolves with the document
 * (`queued`; or the existing one with `duplicate: true`); rejects with an
 * ApiError (413 payload_too_large, 415 unsupported_media_type, 400
 * empty_document, 404 knowledge_base_not_found, network_error...) or an
 * AbortError when options.signal aborts.
 */
export async function uploadDocument(kbId: string, file: File, opts: UploadOptions = {}): Promise<KbDocument> {
  const auth = opts.auth ?? storeAuth;
  const url = buildUrl(`${kbPath(kbId)}/documents`, { filename: file.name });
  const contentType = uploadContentType(file);
  let token = auth.getToken();
  let answer = await sendOnce(url, file, contentType, token, opts);

  if (answer.status === 401) {
    // as the client does: refresh once (unless another request already
    // did) and send again
    const current = auth.getToken();
    let outcome: RefreshOutcome = 'ok';
    if (!current || current === token) outcome = await auth.refresh();
    if (outcome === 'unreachable') throw networkError();
    if (outcome === 'rejected') throw new ApiError(401, 'session_expired', SESSION_ENDED_MESSAGE);
    token = auth.getToken();
    answer = await sendOnce(url, file, contentType, token, opts);
  }

  if (answer.status >= 200 && answer.status < 300) {
    try {
      return JSON.parse(answer.text) as KbDocument;
    } catch {
      throw new ApiError(answer.status, 'bad_response', 'The server sent an answer that could not be read.', answer.requestId);
    }
  }
  const err = await errorOf(answer);
  if (answer.status === 403 && err.code === 'account_disabled') auth.accountDisabled(ACCOUNT_DISABLED_MESSAGE);
  throw err;
}
