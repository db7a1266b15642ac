import type { ReactNode } from 'react';
import { ApiError } from '../api/errors';

/** The message to show for any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function ErrorAlert({
  error,
  children,
  className = '',
  id,
}: {
  error?: unknown;
  children?: ReactNode;
  className?: string;
  id?: string;
}) {
  if (!error && !children) return null;
  return (
    <div role="alert" id={id} className={`alert-error ${className}`}>
      {children ?? errorMessage(error)}
    </div>
  );
}
