// The one API client: fetch + the bearer token from the auth store, JSON in
// and out, every failure an ApiError.  On a 401 it refreshes the session
// once (shared by concurrent callers, see store/auth.ts) and retries once.
//
// The auth store registers itself with setAuthHooks(), so this module does
// not import the store (no import cycle; tests can plug in their own).

import {
  ACCOUNT_DISABLED_MESSAGE,
  ApiError,
  SESSION_ENDED_MESSAGE,
  errorFromResponse,
  isAbortError,
  networkError,
} from './errors';
import type {
  AdminUsage,
  AdminToolCall,
  Agent,
  AgentCategory,
  AgentInput,
  AdminUserPatch,
  Bot,
  BotInput,
  Chat,
  ChatWithMessages,
  CognitoExchangeRequest,
  LoginRequest,
  McpServer,
  McpServerInput,
  ModelList,
  MyUsage,
  Page,
  RegisterRequest,
  ServerConfig,
  TokenResponse,
  User,
  UserPatch,
} from './types';

export const API_BASE = '/api/v1';

export type RefreshOutcome = 'ok' | 'rejected' | 'unreachable';

export interface AuthHooks {
  /** The current access token, or null when signed out. */
  getToken(): string | null;
  /** Get a new access token (single-flight). 'rejected': the session is
   * over and the store has signed out. */
  refresh(): Promise<RefreshOutcome>;
  /** A 403 account_disabled: the store signs out with a notice. */
  accountDisabled(message: string): void;
}

const noAuth: AuthHooks = {
  getToken: () => null,
  refresh: async () => 'rejected',
  accountDisabled: () => {},
};

let hooks: AuthHooks = noAuth;

export function setAuthHooks(h: AuthHooks | null): void {
  hooks = h ?? noAuth;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  method?: string;
  /** JSON body (serialized here). */
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  /** Send the bearer token and refresh on 401 (default true). */
  auth?: boolean;
  /** Extra headers, e.g. Accept for a stream. */
  headers?: Record<string, string>;
}

export function buildUrl(path: string, query?: Query): string {
  let url = path.startsWith('/api/') ? path : `${API_BASE}${path}`;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += `?${s}`;
  }
  return url;
}

async function send(url: string, opts: RequestOptions, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(url, {
      method: opts.method ?? 'GET',
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: opts.signal,
    });
  } catch (e) {
    if (isAbortError(e) || opts.signal?.aborted) throw e;
    throw networkError();
  }
}

/**
 * fetch with auth: resolves with a 2xx Response, or rejects with ApiError
 * (or the AbortError of opts.signal).  Used by request() and the SSE reader.
 */
export async function apiFetch(path: string, opts: RequestOptions = {}): Promise<Response> {
  const url = buildUrl(path, opts.query);
  const auth = opts.auth !== false;
  let token = auth ? hooks.getToken() : null;
  let res = await send(url, opts, token);

  if (res.status === 401 && auth) {
    // Another request may have refreshed already while this one was in
    // flight: then just retry with the newer token.
    const current = hooks.getToken();
    let outcome: RefreshOutcome = 'ok';
    if (!current || current === token) outcome = await hooks.refresh();
    if (outcome === 'unreachable') throw networkError();
    if (outcome === 'rejected') {
      await res.text().catch(() => '');
      throw new ApiError(401, 'session_expired', SESSION_ENDED_MESSAGE);
    }
    token = hooks.getToken();
    res = await send(url, opts, token);
    if (res.status === 401) {
      const err = await errorFromResponse(res);
      throw err;
    }
  }

  if (res.ok) return res;
  const err = await errorFromResponse(res);
  if (auth && res.status === 403 && err.code === 'account_disabled') {
    hooks.accountDisabled(ACCOUNT_DISABLED_MESSAGE);
  }
  throw err;
}

/** A JSON request; 204 (or an empty body) resolves with undefined. */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await apiFetch(path, opts);
  if (res.status === 204) return undefined as T;
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    if (isAbortError(e)) throw e;
    throw networkError();
  }
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(
      res.status,
      'bad_response',
      'The server sent an answer that could not be read.',
      res.headers.get('X-Request-Id'),
    );
  }
}

// ---- typed endpoints ----------------------------------------------------

const pub = { auth: false } as const;

export const api = {
  // public
  config: (signal?: AbortSignal) => request<ServerConfig>('/config', { ...pub, signal }),
  login: (body: LoginRequest) =>
    request<TokenResponse>('/auth/login', { ...pub, method: 'POST', body }),
  register: (body: RegisterRequest) =>
    request<TokenResponse>('/auth/register', { ...pub, method: 'POST', body }),
  /** Cookie session: the HttpOnly refresh cookie goes by itself. */
  refresh: () => request<TokenResponse>('/auth/refresh', { ...pub, method: 'POST', body: {} }),
  logout: () => request<void>('/auth/logout', { ...pub, method: 'POST', body: {} }),
  cognitoExchange: (body: CognitoExchangeRequest) =>
    request<TokenResponse>('/auth/cognito', { ...pub, method: 'POST', body }),

  // the caller
  me: (signal?: AbortSignal) => request<User>('/users/me', { signal }),
  updateMe: (patch: UserPatch) => request<User>('/users/me', { method: 'PATCH', body: patch }),
  deleteMe: () => request<void>('/users/me', { method: 'DELETE' }),
  exportMe: () => request<unknown>('/users/me/export'),
  myUsage: (q: { from?: string; to?: string } = {}, signal?: AbortSignal) =>
    request<MyUsage>('/users/me/usage', { query: q, signal }),

  // models and bots
  models: (signal?: AbortSignal) => request<ModelList>('/models', { signal }),
  bots: (q: { limit?: number; cursor?: string | null } = {}, signal?: AbortSignal) =>
    request<Page<Bot>>('/bots', { query: q, signal }),
  bot: (id: string, signal?: AbortSignal) =>
    request<Bot>(`/bots/${encodeURIComponent(id)}`, { signal }),
  createBot: (body: BotInput) => request<Bot>('/bots', { method: 'POST', body }),
  updateBot: (id: string, body: BotInput) =>
    request<Bot>(`/bots/${encodeURIComponent(id)}`, { method: 'PATCH', body }),
  deleteBot: (id: string) =>
    request<void>(`/bots/${encodeURIComponent(id)}`, { method: 'DELETE' }),

  // the agent marketplace
  agents: (
    q: { category?: string; q?: string; limit?: number; cursor?: string | null } = {},
    signal?: AbortSignal,
  ) => request<Page<Agent>>('/agents', { query: q, signal }),
  agentCategories: (signal?: AbortSignal) =>
    request<{ items: AgentCategory[] }>('/agents/categories', { signal }),
  agent: (id: string, signal?: AbortSignal) =>
    request<Agent>(`/agents/${encodeURIComponent(id)}`, { signal }),

  // chats
  chats: (q: { limit?: number; cursor?: string | null } = {}, signal?: AbortSignal) =>
    request<Page<Chat>>('/chats', { query: q, signal }),
  chat: (id: string, q: { limit?: number; cursor?: string | null } = {}, signal?: AbortSignal) =>
    request<ChatWithMessages>(`/chats/${encodeURIComponent(id)}`, { query: q, signal }),
  renameChat: (id: string, title: string) =>
    request<Chat>(`/chats/${encodeURIComponent(id)}`, { method: 'PATCH', body: { title } }),
  deleteChat: (id: string) =>
    request<void>(`/chats/${encodeURIComponent(id)}`, { method: 'DELETE' }),

  // administrators
  adminUsers: (
    q: { q?: string; limit?: number; cursor?: string | null } = {},
    signal?: AbortSignal,
  ) => request<Page<User>>('/admin/users', { query: q, signal }),
  adminUpdateUser: (id: string, patch: AdminUserPatch) =>
    request<User>(`/admin/users/${encodeURIComponent(id)}`, { method: 'PATCH', body: patch }),
  adminUsage: (
    q: { from?: string; to?: string; user_id?: string; limit?: number; cursor?: string | null },
    signal?: AbortSignal,
  ) => request<AdminUsage>('/admin/usage', { query: q, signal }),

  // administrators: agents (every status) and MCP servers
  adminAgents: (
    q: { category?: string; q?: string; limit?: number; cursor?: string | null } = {},
    signal?: AbortSignal,
  ) => request<Page<Agent>>('/admin/agents', { query: q, signal }),
  adminAgent: (id: string, signal?: AbortSignal) =>
    request<Agent>(`/admin/agents/${encodeURIComponent(id)}`, { signal }),
  adminCreateAgent: (body: AgentInput) => request<Agent>('/admin/agents', { method: 'POST', body }),
  adminUpdateAgent: (id: string, body: AgentInput) =>
    request<Agent>(`/admin/agents/${encodeURIComponent(id)}`, { method: 'PATCH', body }),
  /** The audit of agents' tool calls, newest first. */
  adminToolCalls: (
    q: { user_id?: string; tool?: string; limit?: number; cursor?: string | null } = {},
    signal?: AbortSignal,
  ) => request<Page<AdminToolCall>>('/admin/tool-calls', { query: q, signal }),
  mcpServers: (signal?: AbortSignal) => request<{ items: McpServer[] }>('/admin/mcp-servers', { signal }),
  mcpServer: (id: string, signal?: AbortSignal) =>
    request<McpServer>(`/admin/mcp-servers/${encodeURIComponent(id)}`, { signal }),
  createMcpServer: (body: McpServerInput) =>
    request<McpServer>('/admin/mcp-servers', { method: 'POST', body }),
  updateMcpServer: (id: string, body: McpServerInput) =>
    request<McpServer>(`/admin/mcp-servers/${encodeURIComponent(id)}`, { method: 'PATCH', body }),
  deleteMcpServer: (id: string) =>
    request<void>(`/admin/mcp-servers/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  /** List the server's tools now: the server with fresh tools, or 502
   * mcp_unavailable saying why. */
  refreshMcpServer: (id: string) =>
    request<McpServer>(`/admin/mcp-servers/${encodeURIComponent(id)}/refresh`, { method: 'POST', body: {} }),
};
