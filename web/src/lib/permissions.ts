// What the signed-in user may do: GET /users/me's "permissions" when the
// server sends them; before that (or from a server that predates groups),
// what the token's groups say under the server's defaults (every user may
// create bots; administrators and the "publishers" group may publish).
import type { Permissions, User } from '../api/types';
import { useAuth } from '../store/auth';

export const DEFAULT_PUBLISH_GROUP = 'publishers';

export function permissionsOf(profile: User | null, groups: string[]): Permissions {
  const p = profile?.permissions;
  const admin = groups.includes('admin') || profile?.role === 'admin';
  if (p && typeof p === 'object') {
    return {
      admin: Boolean(p.admin),
      create_bots: p.create_bots !== false,
      publish_bots: Boolean(p.publish_bots),
    };
  }
  return { admin, create_bots: true, publish_bots: admin || groups.includes(DEFAULT_PUBLISH_GROUP) };
}

export function usePermissions(): Permissions {
  const profile = useAuth((s) => s.profile);
  const groups = useAuth((s) => s.groups);
  return permissionsOf(profile, groups);
}

export const CREATE_NOT_ALLOWED =
  'Your account may not create bots: creating bots is limited to a group you are not in. Ask an administrator.';
export const PUBLISH_NOT_ALLOWED =
  'Your account may not publish bots (to the store or as an API): publishing is limited to a group you are not in. Ask an administrator.';
