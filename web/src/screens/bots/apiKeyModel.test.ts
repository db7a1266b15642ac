// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { ApiKey } from '../../api/types';
import { DEFAULT_KEY_FORM, keyInput, keyState } from './apiKeyModel';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const key = (extra: Partial<ApiKey> = {}): ApiKey => ({
  id: 'k', name: 'n', prefix: 'mgk_abcdefgh', rate_per_second: 5, burst: 10, expires_at: null,
  revoked_at: null, created_at: '2026-12-01T00:00:00Z', last_used_at: null, ...extra,
});

describe('keyState', () => {
  it('is revoked, expired or active', () => {
    expect(keyState(key(), NOW)).toBe('active');
    expect(keyState(key({ expires_at: '2026-12-07T00:00:00Z' }), NOW)).toBe('active');
    expect(keyState(key({ expires_at: '2026-12-06T11:59:59Z' }), NOW)).toBe('expired');
    expect(keyState(key({ revoked_at: '2026-12-05T00:00:00Z', expires_at: '2026-12-01T00:00:00Z' }), NOW)).toBe('revoked');
  });
});

describe('keyInput', () => {
  it('sends the name, rate, burst and no expiry by default', () => {
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: ' CI ' }, NOW)).toEqual({
      ok: true,
      body: { name: 'CI', rate_per_second: 5, burst: 10, expires_at: null },
    });
  });

  it('expires at the end of the chosen UTC day', () => {
    const r = keyInput({ ...DEFAULT_KEY_FORM, name: 'a', expires: '2026-12-31' }, NOW);
    expect(r).toMatchObject({ ok: true, body: { expires_at: '2026-12-31T23:59:59Z' } });
  });

  it('refuses what the server would', () => {
    expect(keyInput({ ...DEFAULT_KEY_FORM }, NOW)).toMatchObject({ ok: false, field: 'name' });
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: 'x'.repeat(101) }, NOW)).toMatchObject({ ok: false, field: 'name' });
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: 'a', rate: '0.05' }, NOW)).toMatchObject({ ok: false, field: 'rate' });
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: 'a', rate: 'fast' }, NOW)).toMatchObject({ ok: false, field: 'rate' });
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: 'a', burst: '1.5' }, NOW)).toMatchObject({ ok: false, field: 'burst' });
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: 'a', burst: '10001' }, NOW)).toMatchObject({ ok: false, field: 'burst' });
    expect(keyInput({ ...DEFAULT_KEY_FORM, name: 'a', expires: '2026-12-05' }, NOW)).toMatchObject({ ok: false, field: 'expires' });
  });

  it('leaves out an empty rate or burst (the server’s defaults)', () => {
    expect(keyInput({ name: 'a', rate: '', burst: '', expires: '' }, NOW)).toEqual({ ok: true, body: { name: 'a', expires_at: null } });
  });
});
