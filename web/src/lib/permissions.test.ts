// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { User } from '../api/types';
import { permissionsOf } from './permissions';

const user = (extra: Partial<User> = {}): User => ({
  id: 'u', username: 'u', email: null, role: 'user', disabled: false,
  created_at: '', updated_at: '', ...extra,
});

describe('permissionsOf', () => {
  it('takes the server\'s permissions when it sends them', () => {
    const p = permissionsOf(user({ permissions: { admin: false, create_bots: false, publish_bots: true } }), []);
    expect(p).toEqual({ admin: false, create_bots: false, publish_bots: true });
  });

  it('falls back to the defaults from the token\'s groups', () => {
    expect(permissionsOf(null, [])).toEqual({ admin: false, create_bots: true, publish_bots: false });
    expect(permissionsOf(null, ['publishers'])).toEqual({ admin: false, create_bots: true, publish_bots: true });
    expect(permissionsOf(null, ['admin'])).toEqual({ admin: true, create_bots: true, publish_bots: true });
    expect(permissionsOf(user({ role: 'admin' }), [])).toMatchObject({ admin: true, publish_bots: true });
  });
});
