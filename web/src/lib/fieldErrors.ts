import { ApiError } from '../api/errors';

/** The field a 400 is about: the worker's validation messages read
 * `field "name" must ...`. */
export function errorField(e: unknown): string | null {
  if (!(e instanceof ApiError) || e.status !== 400) return null;
  const m = /field "([^"]+)"/.exec(e.message);
  return m ? m[1] : null;
}
