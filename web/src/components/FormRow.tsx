import type { InputHTMLAttributes, ReactNode } from 'react';

// One labelled control with its server error and hint, wired for screen
// readers (aria-describedby, aria-invalid).  The control is the caller's:
// an input, a select or a textarea gets the props it needs.

export interface ControlProps {
  id: string;
  'aria-invalid'?: boolean;
  'aria-describedby'?: string;
}

export function FormRow({
  id,
  label,
  error,
  hint,
  children,
}: {
  id: string;
  label: string;
  error?: string | null;
  hint?: string;
  children: (p: ControlProps) => ReactNode;
}) {
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errId : null, hint ? hintId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div>
      <label htmlFor={id} className="label">
        {label}
      </label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {error ? (
        <p id={errId} role="alert" className="mt-1 text-sm text-red-800">
          {error}
        </p>
      ) : null}
      {hint ? (
        <p id={hintId} className="hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** The common case: a text input. */
export function InputRow({
  id,
  label,
  error,
  hint,
  ...input
}: { id: string; label: string; error?: string | null; hint?: string } & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <FormRow id={id} label={label} error={error} hint={hint}>
      {(p) => <input className="input" {...input} {...p} />}
    </FormRow>
  );
}
