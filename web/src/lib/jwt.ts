// Read (not verify) the payload of a JWT: the server verifies tokens; the
// app only needs the user's id, name and groups to draw the interface.

import type { AccessClaims } from '../api/types';

function base64UrlDecode(part: string): Uint8Array {
  let b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  while (b64.length % 4) b64 += '=';
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The claims of a JWT, or null when it is not one. */
export function decodeJwt(token: string): AccessClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const json = new TextDecoder().decode(base64UrlDecode(parts[1]));
    const claims = JSON.parse(json) as unknown;
    if (typeof claims !== 'object' || claims === null) return null;
    const c = claims as AccessClaims;
    if (typeof c.sub !== 'string') return null;
    return c;
  } catch {
    return null;
  }
}

export function groupsOf(claims: AccessClaims | null): string[] {
  const g = claims?.['cognito:groups'];
  return Array.isArray(g) ? g.filter((x): x is string => typeof x === 'string') : [];
}

export function usernameOf(claims: AccessClaims | null): string {
  return claims?.username ?? claims?.['cognito:username'] ?? claims?.sub ?? '';
}
