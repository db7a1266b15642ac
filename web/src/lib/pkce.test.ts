// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { base64UrlEncode, challengeFor, cognitoAuthorizeUrl, cognitoBase, cognitoLogoutUrl, randomString, takePkce } from './pkce';

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

describe('PKCE for the Cognito hosted UI', () => {
  beforeEach(async () => {
    // Node 18 has Web Crypto only as require('node:crypto').webcrypto
    if (!globalThis.crypto?.subtle) {
      const mod = 'node:crypto';
      const { webcrypto } = (await import(/* @vite-ignore */ mod)) as { webcrypto: Crypto };
      vi.stubGlobal('crypto', webcrypto);
    }
    vi.stubGlobal('sessionStorage', memoryStorage());
    vi.stubGlobal('window', { location: { origin: 'https://mangoo.example' } });
  });
  afterEach(() => vi.unstubAllGlobals());

  it('derives the S256 challenge of RFC 7636 appendix B', async () => {
    await expect(challengeFor('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).resolves.toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('makes 64-character base64url verifiers that differ', () => {
    const a = randomString(64);
    const b = randomString(64);
    expect(a).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(a).not.toBe(b);
    expect(base64UrlEncode(Uint8Array.of(0xfb, 0xff))).toBe('-_8');
  });

  it('builds the authorize URL and keeps verifier and state for the callback', async () => {
    const url = new URL(
      await cognitoAuthorizeUrl(
        { domain: 'auth.example.com', client_id: 'client1', scopes: ['openid', 'email'] },
        '/bots',
      ),
    );
    expect(url.origin + url.pathname).toBe('https://auth.example.com/oauth2/authorize');
    const q = url.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe('client1');
    expect(q.get('redirect_uri')).toBe('https://mangoo.example/auth/callback');
    expect(q.get('scope')).toBe('openid email');
    expect(q.get('code_challenge_method')).toBe('S256');
    const saved = takePkce();
    expect(saved.verifier).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(saved.state).toBe(q.get('state'));
    expect(saved.returnTo).toBe('/bots');
    expect(q.get('code_challenge')).toBe(await challengeFor(saved.verifier!));
    // taken once
    expect(takePkce().verifier).toBeNull();
  });

  it('builds the logout URL and accepts domains with or without a scheme', () => {
    expect(cognitoBase('https://x.auth.example.com/')).toBe('https://x.auth.example.com');
    expect(cognitoBase('x.auth.example.com')).toBe('https://x.auth.example.com');
    const url = new URL(cognitoLogoutUrl({ domain: 'x.auth.example.com', client_id: 'c', scopes: 'openid' }));
    expect(url.pathname).toBe('/logout');
    expect(url.searchParams.get('client_id')).toBe('c');
    expect(url.searchParams.get('logout_uri')).toBe('https://mangoo.example/');
  });
});
