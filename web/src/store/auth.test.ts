import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api } from '../api/client';
import { ACCOUNT_DISABLED_MESSAGE, ApiError } from '../api/errors';
import { refreshDelayMs, resetAuthForTests, useAuth } from './auth';

function b64url(s: string): string {
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

let serial = 0;
function jwt(claims: Record<string, unknown>): string {
  serial += 1;
  return [
    b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' })),
    b64url(JSON.stringify({ sub: 'u1', username: 'alice', 'cognito:groups': [], jti: serial, ...claims })),
    'signature',
  ].join('.');
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function tokens(token: string, expiresIn = 900): Response {
  return json(200, { access_token: token, token_type: 'Bearer', expires_in: expiresIn });
}

const ME = {
  id: 'u1',
  username: 'alice',
  email: null,
  role: 'user',
  disabled: false,
  created_at: '2024-01-01T00:00:00Z',
  updated_at: '2024-01-01T00:00:00Z',
};

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

interface Call {
  url: string;
  method: string;
  auth: string | undefined;
  body: unknown;
}

/** fetch routed by "METHOD path"; every call recorded. */
function mockFetch(routes: Record<string, Handler | Handler[]>) {
  const calls: Call[] = [];
  const queues = new Map<string, Handler[]>();
  for (const [k, v] of Object.entries(routes)) queues.set(k, Array.isArray(v) ? [...v] : [v]);
  const fn = vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET';
    const path = url.split('?')[0];
    const headers = (init.headers ?? {}) as Record<string, string>;
    calls.push({
      url: path,
      method,
      auth: headers.Authorization,
      body: init.body ? JSON.parse(init.body as string) : undefined,
    });
    const q = queues.get(`${method} ${path}`);
    if (!q || q.length === 0) throw new Error(`unexpected fetch ${method} ${path}`);
    const h = q.length > 1 ? q.shift()! : q[0];
    return h(url, init);
  });
  vi.stubGlobal('fetch', fn);
  return { fn, calls, of: (m: string, p: string) => calls.filter((c) => c.method === m && c.url === p) };
}

async function signIn(token: string, expiresIn = 900) {
  const f = mockFetch({
    'POST /api/v1/auth/login': () => tokens(token, expiresIn),
    'GET /api/v1/users/me': () => json(200, ME),
  });
  await useAuth.getState().login('alice', 'Correct-horse-1');
  await vi.waitFor(() => expect(useAuth.getState().profile).not.toBeNull());
  return f;
}

describe('auth store', () => {
  beforeEach(() => {
    resetAuthForTests();
    localStorage.clear();
    sessionStorage.clear();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    resetAuthForTests();
  });

  it('signs in with a cookie session and decodes the token', async () => {
    const admin = jwt({ 'cognito:groups': ['admin'] });
    const f = await signIn(admin);
    const login = f.of('POST', '/api/v1/auth/login')[0];
    expect(login.body).toEqual({ username: 'alice', password: 'Correct-horse-1', session: 'cookie' });
    const s = useAuth.getState();
    expect(s.status).toBe('signed-in');
    expect(s.accessToken).toBe(admin);
    expect(s.userId).toBe('u1');
    expect(s.username).toBe('alice');
    expect(s.isAdmin).toBe(true);
    expect(s.profile?.username).toBe('alice');
  });

  it('schedules the refresh a minute before the token expires', async () => {
    vi.useFakeTimers();
    const first = jwt({});
    await signIn(first, 900);
    const second = jwt({});
    const f = mockFetch({ 'POST /api/v1/auth/refresh': () => tokens(second, 900) });

    await vi.advanceTimersByTimeAsync(839_000);
    expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(1);
    expect(f.of('POST', '/api/v1/auth/refresh')[0].body).toEqual({});
    expect(useAuth.getState().accessToken).toBe(second);

    // and the next one is scheduled from the new token
    await vi.advanceTimersByTimeAsync(840_500);
    expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(2);
    expect(refreshDelayMs(900)).toBe(840_000);
    expect(refreshDelayMs(60)).toBe(30_000);
  });

  it('on a 401 refreshes exactly once, then retries once with the new token', async () => {
    const oldTok = jwt({});
    await signIn(oldTok);
    const newTok = jwt({});
    const f = mockFetch({
      'GET /api/v1/bots': [
        () => json(401, { error: { code: 'unauthorized', message: 'token expired', request_id: 'r1' } }),
        () => json(200, { items: [{ id: 'b1' }], next_cursor: null }),
      ],
      'POST /api/v1/auth/refresh': () => tokens(newTok),
    });
    const page = await api.bots();
    expect(page.items).toHaveLength(1);
    expect(f.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'GET /api/v1/bots',
      'POST /api/v1/auth/refresh',
      'GET /api/v1/bots',
    ]);
    expect(f.calls[0].auth).toBe(`Bearer ${oldTok}`);
    expect(f.calls[2].auth).toBe(`Bearer ${newTok}`);
  });

  it('does not loop when the retry is refused again', async () => {
    await signIn(jwt({}));
    const f = mockFetch({
      'GET /api/v1/bots': () => json(401, { error: { code: 'unauthorized', message: 'no', request_id: 'r' } }),
      'POST /api/v1/auth/refresh': () => tokens(jwt({})),
    });
    const err = await api.bots().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(401);
    expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(1);
    expect(f.of('GET', '/api/v1/bots')).toHaveLength(2);
  });

  it('shares one refresh between concurrent 401s', async () => {
    const oldTok = jwt({});
    await signIn(oldTok);
    const newTok = jwt({});
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const f = mockFetch({
      'GET /api/v1/bots': (_u, init) =>
        (init.headers as Record<string, string>).Authorization === `Bearer ${newTok}`
          ? json(200, { items: [], next_cursor: null })
          : json(401, { error: { code: 'unauthorized', message: 'expired', request_id: 'r' } }),
      'GET /api/v1/chats': (_u, init) =>
        (init.headers as Record<string, string>).Authorization === `Bearer ${newTok}`
          ? json(200, { items: [], next_cursor: null })
          : json(401, { error: { code: 'unauthorized', message: 'expired', request_id: 'r' } }),
      'POST /api/v1/auth/refresh': async () => {
        await gate;
        return tokens(newTok);
      },
    });
    const all = Promise.all([api.bots(), api.chats(), api.bots()]);
    await vi.waitFor(() => expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(1));
    release();
    await all;
    expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(1);
    expect(f.of('GET', '/api/v1/bots')).toHaveLength(4);
    expect(f.of('GET', '/api/v1/chats')).toHaveLength(2);
  });

  it('serializes refreshes across tabs with the Web Locks API', async () => {
    await signIn(jwt({}));
    const held: string[] = [];
    const request = vi.fn(async (name: string, _opts: unknown, cb: () => Promise<unknown>) => {
      held.push(name);
      return cb();
    });
    Object.defineProperty(navigator, 'locks', { value: { request }, configurable: true });
    try {
      const f = mockFetch({ 'POST /api/v1/auth/refresh': () => tokens(jwt({})) });
      await expect(useAuth.getState().refresh()).resolves.toBe('ok');
      expect(held).toEqual(['mangoo-refresh']);
      expect(f.of('POST', '/api/v1/auth/refresh')).toHaveLength(1);
    } finally {
      delete (navigator as unknown as { locks?: unknown }).locks;
    }
  });

  it('signs out when the refresh is refused', async () => {
    await signIn(jwt({}));
    const f = mockFetch({
      'GET /api/v1/bots': () => json(401, { error: { code: 'unauthorized', message: 'expired', request_id: 'r' } }),
      'POST /api/v1/auth/refresh': () =>
        json(401, { error: { code: 'invalid_refresh_token', message: 'refresh token is invalid', request_id: 'r' } }),
    });
    const err = await api.bots().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(401);
    expect(f.of('GET', '/api/v1/bots')).toHaveLength(1);
    const s = useAuth.getState();
    expect(s.status).toBe('signed-out');
    expect(s.accessToken).toBeNull();
    expect(s.profile).toBeNull();
  });

  it('signs out with the disabled message on 403 account_disabled', async () => {
    await signIn(jwt({}));
    const f = mockFetch({
      'GET /api/v1/chats': () =>
        json(403, { error: { code: 'account_disabled', message: 'this account is disabled', request_id: 'r' } }),
      'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }),
    });
    const err = await api.chats().catch((e) => e);
    expect(err.code).toBe('account_disabled');
    const s = useAuth.getState();
    expect(s.status).toBe('signed-out');
    expect(s.accessToken).toBeNull();
    expect(s.notice).toBe(ACCOUNT_DISABLED_MESSAGE);
    expect(ACCOUNT_DISABLED_MESSAGE).toBe('Your account has been disabled by an administrator.');
    await vi.waitFor(() => expect(f.of('POST', '/api/v1/auth/logout')).toHaveLength(1));
  });

  it('logout calls the endpoint, clears the token and tells the other tabs', async () => {
    await signIn(jwt({}));
    const other = new BroadcastChannel('mangoo-auth');
    const heard: unknown[] = [];
    other.onmessage = (e) => heard.push(e.data);
    try {
      const f = mockFetch({ 'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }) });
      await useAuth.getState().signOut();
      expect(f.of('POST', '/api/v1/auth/logout')).toHaveLength(1);
      expect(f.of('POST', '/api/v1/auth/logout')[0].body).toEqual({});
      const s = useAuth.getState();
      expect(s.status).toBe('signed-out');
      expect(s.accessToken).toBeNull();
      await vi.waitFor(() => expect(heard).toContainEqual({ type: 'signed-out', notice: null }));
    } finally {
      other.close();
    }
  });

  it('signs out when another tab does', async () => {
    await useAuth.getState().init().catch(() => {});
    await signIn(jwt({}));
    const f = mockFetch({});
    const other = new BroadcastChannel('mangoo-auth');
    try {
      other.postMessage({ type: 'signed-out', notice: null });
      await vi.waitFor(() => expect(useAuth.getState().status).toBe('signed-out'));
      expect(f.calls).toHaveLength(0); // the other tab already told the server
    } finally {
      other.close();
    }
  });

  it('restores the session on start from the refresh cookie', async () => {
    const tok = jwt({});
    const f = mockFetch({
      'GET /api/v1/config': () =>
        json(200, { identity: 'local', registration: 'open', can_register: true, cognito: null }),
      'POST /api/v1/auth/refresh': () => tokens(tok),
      'GET /api/v1/users/me': () => json(200, ME),
    });
    await useAuth.getState().init();
    expect(useAuth.getState().status).toBe('signed-in');
    expect(useAuth.getState().accessToken).toBe(tok);
    expect(useAuth.getState().config?.identity).toBe('local');
    expect(f.of('POST', '/api/v1/auth/refresh')[0].body).toEqual({});
  });

  it('starts signed out, with no notice, when there is no session', async () => {
    mockFetch({
      'GET /api/v1/config': () =>
        json(200, { identity: 'local', registration: 'closed', can_register: false, cognito: null }),
      'POST /api/v1/auth/refresh': () =>
        json(401, { error: { code: 'invalid_refresh_token', message: 'no', request_id: 'r' } }),
    });
    await useAuth.getState().init();
    expect(useAuth.getState().status).toBe('signed-out');
    expect(useAuth.getState().notice).toBeNull();
  });

  it('never writes the token to localStorage, sessionStorage or cookies', async () => {
    const setItem = vi.spyOn(Storage.prototype, 'setItem');
    const cookieSet = vi.fn();
    const desc = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie')!;
    Object.defineProperty(document, 'cookie', {
      configurable: true,
      get: () => desc.get!.call(document),
      set: (v: string) => {
        cookieSet(v);
        desc.set!.call(document, v);
      },
    });
    try {
      vi.useFakeTimers();
      const tok = jwt({});
      await signIn(tok, 120);
      const tok2 = jwt({});
      mockFetch({ 'POST /api/v1/auth/refresh': () => tokens(tok2, 120) });
      await vi.advanceTimersByTimeAsync(61_000);
      expect(useAuth.getState().accessToken).toBe(tok2);
      expect(setItem).not.toHaveBeenCalled();
      expect(cookieSet).not.toHaveBeenCalled();
      expect(localStorage.length).toBe(0);
      expect(sessionStorage.length).toBe(0);
    } finally {
      delete (document as unknown as { cookie?: string }).cookie;
    }
  });
});
