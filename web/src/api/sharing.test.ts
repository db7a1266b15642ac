// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setAuthHooks } from './client';
import { ApiError } from './errors';
import {
  apiKeysApi,
  badDomain,
  botLink,
  groupsProblem,
  invitationLink,
  isOwnBot,
  parseDomains,
  parseGroups,
  parseQuota,
  sharingApi,
  signupApi,
} from './sharing';
import type { AnyBot } from './types';

function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('issue 15 endpoints', () => {
  let calls: { url: string; method: string; body: unknown }[];
  let answer: () => Response;
  beforeEach(() => {
    calls = [];
    answer = () => json(200, {});
    setAuthHooks({ getToken: () => 'tok', refresh: async () => 'rejected', accountDisabled: () => {} });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push({ url, method: init.method ?? 'GET', body: init.body ? JSON.parse(String(init.body)) : undefined });
        return answer();
      }),
    );
  });
  afterEach(() => {
    setAuthHooks(null);
    vi.unstubAllGlobals();
  });

  it('sends each call to its path, with its method and body', async () => {
    await sharingApi.setVisibility('b 1', 'store');
    await sharingApi.shared({ limit: 5 });
    await sharingApi.store({ q: 'tax help', cursor: 'c1' });
    await sharingApi.pin('b1');
    await sharingApi.unpin('b1');
    await sharingApi.addShare('b1', 'bob@example.com');
    answer = () => json(204, null);
    await sharingApi.removeShare('b1', 'u/2');
    answer = () => json(200, {});
    await sharingApi.usage('b1', 7);
    await apiKeysApi.create('b1', { name: 'CI', expires_at: null });
    await apiKeysApi.revoke('b1', 'k1');
    await apiKeysApi.updatePublication('b1', { quota_requests: 100, quota_tokens: null });
    await signupApi.updateRules({ allowed_domains: ['example.com'] });
    await signupApi.invite({ email: 'a@example.com', expires_in_days: 3 });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'PATCH /api/v1/bots/b%201',
      'GET /api/v1/bots/shared?limit=5',
      'GET /api/v1/store/bots?q=tax+help&cursor=c1',
      'PUT /api/v1/bots/b1/pin',
      'DELETE /api/v1/bots/b1/pin',
      'POST /api/v1/bots/b1/shares',
      'DELETE /api/v1/bots/b1/shares/u%2F2',
      'GET /api/v1/bots/b1/usage?days=7',
      'POST /api/v1/bots/b1/api-keys',
      'DELETE /api/v1/bots/b1/api-keys/k1',
      'PATCH /api/v1/bots/b1/publication',
      'PATCH /api/v1/admin/signup',
      'POST /api/v1/admin/invitations',
    ]);
    expect(calls[0].body).toEqual({ visibility: 'store' });
    expect(calls[5].body).toEqual({ username: 'bob@example.com' });
    expect(calls[10].body).toEqual({ quota_requests: 100, quota_tokens: null });
  });

  it('turns a refusal into an ApiError with the server\u2019s code and message', async () => {
    answer = () => json(403, { error: { code: 'publish_not_allowed', message: 'only the group "publishers" may publish bots' } });
    const err = await sharingApi.setVisibility('b1', 'store').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 403, code: 'publish_not_allowed', message: 'only the group "publishers" may publish bots' });
  });
});

describe('sharing helpers', () => {
  it('tells the owner\u2019s view from others\u2019', () => {
    const others = { id: 'b', name: 'x', is_owner: false } as AnyBot;
    const mine = { id: 'b', name: 'x', instructions: 'hi' } as AnyBot;
    expect(isOwnBot(others)).toBe(false);
    expect(isOwnBot(mine)).toBe(true);
    expect(isOwnBot({ ...mine, is_owner: true } as AnyBot)).toBe(true);
  });

  it('makes the links', () => {
    expect(botLink('https://m.example/', 'b1')).toBe('https://m.example/bots/b1');
    expect(invitationLink('https://m.example', 'a+b/c')).toBe('https://m.example/signup?invitation=a%2Bb%2Fc');
  });

  it('reads domains as typed', () => {
    expect(parseDomains(' Example.COM, @corp.example.org\nexample.com; x.io. ')).toEqual([
      'example.com',
      'corp.example.org',
      'x.io',
    ]);
    expect(badDomain('example.com')).toBe(false);
    expect(badDomain('localhost')).toBe(true);
    expect(badDomain('exa mple.com')).toBe(true);
    expect(badDomain('-bad.com')).toBe(true);
  });

  it('reads and checks groups', () => {
    expect(parseGroups('publishers, creators  publishers')).toEqual(['publishers', 'creators']);
    expect(groupsProblem(['publishers'])).toBeNull();
    expect(groupsProblem(['admin'])).toMatch(/role/);
    expect(groupsProblem(Array.from({ length: 21 }, (_, i) => `g${i}`))).toMatch(/20/);
    expect(groupsProblem(['x'.repeat(129)])).toMatch(/128/);
  });

  it('reads a quota: empty is unlimited', () => {
    expect(parseQuota('')).toBeNull();
    expect(parseQuota(' 1,000 ')).toBe(1000);
    expect(parseQuota('0')).toBe(0);
    expect(parseQuota('-1')).toBeUndefined();
    expect(parseQuota('1.5')).toBeUndefined();
  });
});
