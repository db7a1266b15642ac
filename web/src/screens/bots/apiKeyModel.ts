// Pure parts of the API keys page: a key's state, the create form's
// values as the API wants them.
import type { ApiKey, ApiKeyInput } from '../../api/types';

export type KeyState = 'active' | 'revoked' | 'expired';

export function keyState(k: ApiKey, now = Date.now()): KeyState {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && Date.parse(k.expires_at) <= now) return 'expired';
  return 'active';
}

export const KEY_STATE_TEXT: Record<KeyState, string> = {
  active: 'Active',
  revoked: 'Revoked',
  expired: 'Expired',
};

export interface KeyForm {
  name: string;
  rate: string;
  burst: string;
  /** YYYY-MM-DD (the key works to the end of that UTC day), or ''. */
  expires: string;
}

export const DEFAULT_KEY_FORM: KeyForm = { name: '', rate: '5', burst: '10', expires: '' };

/** The body of POST /bots/{id}/api-keys, or the field and why not. */
export function keyInput(
  f: KeyForm,
  now = Date.now(),
): { ok: true; body: ApiKeyInput } | { ok: false; field: keyof KeyForm; message: string } {
  const name = f.name.trim();
  if (!name) return { ok: false, field: 'name', message: 'Give the key a name (1 to 100 characters).' };
  if ([...name].length > 100) return { ok: false, field: 'name', message: 'The name is longer than 100 characters.' };
  const body: ApiKeyInput = { name };
  if (f.rate.trim() !== '') {
    const rate = Number(f.rate);
    if (!Number.isFinite(rate) || rate < 0.1 || rate > 1000) {
      return { ok: false, field: 'rate', message: 'Requests per second: 0.1 to 1000.' };
    }
    body.rate_per_second = rate;
  }
  if (f.burst.trim() !== '') {
    const burst = Number(f.burst);
    if (!Number.isInteger(burst) || burst < 1 || burst > 10000) {
      return { ok: false, field: 'burst', message: 'Burst: a whole number from 1 to 10000.' };
    }
    body.burst = burst;
  }
  if (f.expires) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(f.expires) || Number.isNaN(Date.parse(`${f.expires}T23:59:59Z`))) {
      return { ok: false, field: 'expires', message: 'Pick a day for the key to expire, or leave it empty.' };
    }
    const at = `${f.expires}T23:59:59Z`;
    if (Date.parse(at) <= now) return { ok: false, field: 'expires', message: 'The expiry must be in the future.' };
    body.expires_at = at;
  } else {
    body.expires_at = null;
  }
  return { ok: true, body };
}
