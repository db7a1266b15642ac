// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api, request, setAuthHooks } from './client';
import { ApiError } from './errors';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

describe('API client error mapping', () => {
  beforeEach(() => {
    setAuthHooks({
      getToken: () => 'tok',
      refresh: async () => 'rejected',
      accountDisabled: () => {},
    });
  });
  afterEach(() => {
    setAuthHooks(null);
    vi.unstubAllGlobals();
  });

  it('maps a JSON error body to ApiError with status, code, message and request id', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(404, { error: { code: 'chat_not_found', message: 'chat not found', request_id: 'req-1' } }),
      ),
    );
    const err = await api.chat('nope').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: 'chat_not_found', message: 'chat not found', requestId: 'req-1' });
  });

  it('maps a non-JSON 502 from a proxy to bad_response, with the X-Request-Id header', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response('<html><body><h1>502 Bad Gateway</h1></body></html>', {
            status: 502,
            headers: { 'Content-Type': 'text/html', 'X-Request-Id': 'hdr-9' },
          }),
      ),
    );
    const err = await api.bots().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('bad_response');
    expect(err.requestId).toBe('hdr-9');
    expect(err.message).toMatch(/502/);
  });

  it('maps a JSON body of the wrong shape to bad_response', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(500, { oops: true })));
    const err = await api.bots().catch((e) => e);
    expect(err).toMatchObject({ status: 500, code: 'bad_response' });
  });

  it('maps a network failure to network_error (status 0)', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    const err = await api.bots().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 0, code: 'network_error' });
  });

  it('maps an unreadable 200 body to bad_response', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('not json', { status: 200 })));
    const err = await api.bots().catch((e) => e);
    expect(err).toMatchObject({ status: 200, code: 'bad_response' });
  });

  it('resolves a 204 with undefined', async () => {
    const fetchMock = vi.fn(async () => new Response(null, { status: 204 }));
    vi.stubGlobal('fetch', fetchMock);
    await expect(api.deleteChat('c1')).resolves.toBeUndefined();
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/chats/c1');
    expect(init.method).toBe('DELETE');
  });

  it('sends JSON with the bearer token and same-origin credentials', async () => {
    const fetchMock = vi.fn(async () => json(201, { id: 'b1' }));
    vi.stubGlobal('fetch', fetchMock);
    await api.createBot({ name: 'Helper' });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    const headers = init.headers as Record<string, string>;
    expect(url).toBe('/api/v1/bots');
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('same-origin');
    expect(headers.Authorization).toBe('Bearer tok');
    expect(headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body as string)).toEqual({ name: 'Helper' });
  });

  it('sends no token to the public auth endpoints and builds queries', async () => {
    const fetchMock = vi.fn(async () => json(200, { items: [], next_cursor: null }));
    vi.stubGlobal('fetch', fetchMock);
    await request('/auth/login', { auth: false, method: 'POST', body: {} });
    await api.adminUsers({ q: 'a b', limit: 5, cursor: null });
    const [, init0] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect((init0.headers as Record<string, string>).Authorization).toBeUndefined();
    const [url1] = fetchMock.mock.calls[1] as unknown as [string];
    expect(url1).toBe('/api/v1/admin/users?q=a+b&limit=5');
  });

  it('reports account_disabled to the auth store', async () => {
    const accountDisabled = vi.fn();
    setAuthHooks({ getToken: () => 'tok', refresh: async () => 'ok', accountDisabled });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => json(403, { error: { code: 'account_disabled', message: 'this account is disabled', request_id: 'r' } })),
    );
    const err = await api.bots().catch((e) => e);
    expect(err.code).toBe('account_disabled');
    expect(accountDisabled).toHaveBeenCalledTimes(1);
  });
});
