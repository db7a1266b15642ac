// Issue 15's endpoints: sharing a bot (visibility, named people, pins),
// the bot store, a bot's usage, a bot published as an API (keys, daily
// quota), and the administrators' groups and sign-up rules.  The same
// request() as client.ts (bearer token, one refresh on 401, every failure
// an ApiError); a module of its own so that only the screens that use it
// load it.

import { request } from './client';
import type {
  AdminPermissions,
  AnyBot,
  ApiKey,
  ApiKeyCreated,
  ApiKeyInput,
  Bot,
  BotShare,
  BotUsage,
  Invitation,
  InvitationCreated,
  InvitationInput,
  Page,
  Publication,
  SharedBot,
  SignupRules,
  UsageDay,
  Visibility,
} from './types';

const botPath = (id: string) => `/bots/${encodeURIComponent(id)}`;
const keyPath = (bot: string, key: string) => `${botPath(bot)}/api-keys/${encodeURIComponent(key)}`;

type PageQuery = { limit?: number; cursor?: string | null };

export const sharingApi = {
  /** The bot as the caller may see it: the owner's view, or others'. */
  bot: (id: string, signal?: AbortSignal) => request<AnyBot>(botPath(id), { signal }),
  setVisibility: (id: string, visibility: Visibility) =>
    request<Bot>(botPath(id), { method: 'PATCH', body: { visibility } }),
  /** Bots shared with the caller (named shares and pins). */
  shared: (q: PageQuery = {}, signal?: AbortSignal) =>
    request<Page<SharedBot>>('/bots/shared', { query: q, signal }),
  /** The store: listed bots, most used first, searched by name/description. */
  store: (q: { q?: string } & PageQuery = {}, signal?: AbortSignal) =>
    request<Page<AnyBot>>('/store/bots', { query: q, signal }),
  pin: (id: string) => request<{ pinned: boolean }>(`${botPath(id)}/pin`, { method: 'PUT', body: {} }),
  unpin: (id: string) => request<{ pinned: boolean }>(`${botPath(id)}/pin`, { method: 'DELETE' }),
  shares: (id: string, signal?: AbortSignal) =>
    request<{ items: BotShare[] }>(`${botPath(id)}/shares`, { signal }),
  /** By username or e-mail address. */
  addShare: (id: string, username: string) =>
    request<BotShare>(`${botPath(id)}/shares`, { method: 'POST', body: { username } }),
  removeShare: (id: string, userId: string) =>
    request<void>(`${botPath(id)}/shares/${encodeURIComponent(userId)}`, { method: 'DELETE' }),
  usage: (id: string, days = 30, signal?: AbortSignal) =>
    request<BotUsage>(`${botPath(id)}/usage`, { query: { days }, signal }),
};

export const apiKeysApi = {
  list: (botId: string, signal?: AbortSignal) =>
    request<{ items: ApiKey[] }>(`${botPath(botId)}/api-keys`, { signal }),
  create: (botId: string, body: ApiKeyInput) =>
    request<ApiKeyCreated>(`${botPath(botId)}/api-keys`, { method: 'POST', body }),
  revoke: (botId: string, keyId: string) => request<ApiKey>(keyPath(botId, keyId), { method: 'DELETE' }),
  usage: (botId: string, keyId: string, days = 30, signal?: AbortSignal) =>
    request<{ days: UsageDay[] }>(`${keyPath(botId, keyId)}/usage`, { query: { days }, signal }),
  publication: (botId: string, signal?: AbortSignal) =>
    request<Publication>(`${botPath(botId)}/publication`, { signal }),
  updatePublication: (botId: string, body: { quota_requests: number | null; quota_tokens: number | null }) =>
    request<Publication>(`${botPath(botId)}/publication`, { method: 'PATCH', body }),
};

export const signupApi = {
  permissions: (signal?: AbortSignal) => request<AdminPermissions>('/admin/permissions', { signal }),
  rules: (signal?: AbortSignal) => request<SignupRules>('/admin/signup', { signal }),
  updateRules: (body: Partial<SignupRules>) => request<SignupRules>('/admin/signup', { method: 'PATCH', body }),
  invitations: (signal?: AbortSignal) => request<{ items: Invitation[] }>('/admin/invitations', { signal }),
  invite: (body: InvitationInput) => request<InvitationCreated>('/admin/invitations', { method: 'POST', body }),
  revokeInvitation: (id: string) =>
    request<void>(`/admin/invitations/${encodeURIComponent(id)}`, { method: 'DELETE' }),
};

// ---- pure helpers ----------------------------------------------------------

/** The caller's own bot (the owner's view, with its instructions). */
export function isOwnBot(b: AnyBot): b is Bot {
  return b.is_owner !== false && 'instructions' in b;
}

export function visibilityOf(b: AnyBot): Visibility {
  return b.visibility ?? 'private';
}

export const VISIBILITY_TEXT: Record<Visibility, string> = {
  private: 'Private',
  shared: 'Shared',
  store: 'In the store',
};

/** Every bot shared with the caller, all pages (a picker's list). */
export async function allSharedBots(signal?: AbortSignal): Promise<SharedBot[]> {
  const all: SharedBot[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 10; i++) {
    const page: Page<SharedBot> = await sharingApi.shared({ limit: 100, cursor }, signal);
    all.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return all;
}

/** The address to send people for a shared bot. */
export function botLink(origin: string, botId: string): string {
  return `${origin.replace(/\/+$/, '')}/bots/${encodeURIComponent(botId)}`;
}

/** The sign-up address that carries an invitation code. */
export function invitationLink(origin: string, code: string): string {
  return `${origin.replace(/\/+$/, '')}/signup?invitation=${encodeURIComponent(code)}`;
}

/** Domains as typed (commas, spaces or new lines; "@example.com" and
 * "Example.COM" too): lower case, without "@", without duplicates. */
export function parseDomains(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/[\s,;]+/)) {
    const d = raw.trim().replace(/^@+/, '').replace(/\.+$/, '').toLowerCase();
    if (d && !out.includes(d)) out.push(d);
  }
  return out;
}

/** A domain that cannot be one (the server has the last word). */
export function badDomain(d: string): boolean {
  return !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(d);
}

/** Group names as typed (commas or spaces), without duplicates. */
export function parseGroups(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const g = raw.trim();
    if (g && !out.includes(g)) out.push(g);
  }
  return out;
}

/** Why a group list cannot be saved, or null (the server's rules: at most
 * 20, each 1 to 128 printable characters without spaces, not "admin"). */
export function groupsProblem(groups: string[]): string | null {
  if (groups.length > 20) return 'At most 20 groups.';
  for (const g of groups) {
    if (g === 'admin') return '“admin” is given by the Administrator role, not as a group.';
    if (g.length > 128) return `“${g.slice(0, 20)}…” is longer than 128 characters.`;
    // eslint-disable-next-line no-control-regex
    if (/[\s\x00-\x1f\x7f]/.test(g)) return `“${g}” has a space or a control character.`;
  }
  return null;
}

/** A quota field: '' is unlimited (null); otherwise a whole number >= 0,
 * or undefined when it is not one. */
export function parseQuota(text: string): number | null | undefined {
  const t = text.trim().replace(/[_,\s]/g, '');
  if (t === '') return null;
  if (!/^\d+$/.test(t)) return undefined;
  const v = Number(t);
  return Number.isSafeInteger(v) ? v : undefined;
}
