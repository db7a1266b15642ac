// Cognito hosted UI sign-in: authorization code with PKCE (S256).
// The verifier and state live in sessionStorage between the redirect and
// the callback; they are not tokens.

import type { CognitoConfig } from '../api/types';

const VERIFIER_KEY = 'mangoo.pkce.verifier';
const STATE_KEY = 'mangoo.pkce.state';
const RETURN_KEY = 'mangoo.pkce.return';

export function base64UrlEncode(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A random base64url string of exactly `length` characters. */
export function randomString(length: number): string {
  const bytes = new Uint8Array(Math.ceil((length * 3) / 4));
  crypto.getRandomValues(bytes);
  return base64UrlEncode(bytes).slice(0, length);
}

export async function challengeFor(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64UrlEncode(new Uint8Array(digest));
}

export function cognitoBase(domain: string): string {
  const d = domain.replace(/\/+$/, '');
  return /^https?:\/\//i.test(d) ? d : `https://${d}`;
}

function scopeString(scopes: CognitoConfig['scopes']): string {
  return Array.isArray(scopes) ? scopes.join(' ') : scopes;
}

export function redirectUri(): string {
  return `${window.location.origin}/auth/callback`;
}

/** Build the authorize URL and remember the verifier and state. */
export async function cognitoAuthorizeUrl(cfg: CognitoConfig, returnTo?: string): Promise<string> {
  const verifier = randomString(64);
  const state = randomString(32);
  const challenge = await challengeFor(verifier);
  sessionStorage.setItem(VERIFIER_KEY, verifier);
  sessionStorage.setItem(STATE_KEY, state);
  if (returnTo) sessionStorage.setItem(RETURN_KEY, returnTo);
  else sessionStorage.removeItem(RETURN_KEY);
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.client_id,
    redirect_uri: redirectUri(),
    scope: scopeString(cfg.scopes),
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return `${cognitoBase(cfg.domain)}/oauth2/authorize?${q.toString()}`;
}

/** Take (and forget) what the authorize redirect stored. */
export function takePkce(): { verifier: string | null; state: string | null; returnTo: string | null } {
  const out = {
    verifier: sessionStorage.getItem(VERIFIER_KEY),
    state: sessionStorage.getItem(STATE_KEY),
    returnTo: sessionStorage.getItem(RETURN_KEY),
  };
  sessionStorage.removeItem(VERIFIER_KEY);
  sessionStorage.removeItem(STATE_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  return out;
}

export function cognitoLogoutUrl(cfg: CognitoConfig): string {
  const q = new URLSearchParams({ client_id: cfg.client_id, logout_uri: `${window.location.origin}/` });
  return `${cognitoBase(cfg.domain)}/logout?${q.toString()}`;
}
