import { useRef, useState, type ReactNode } from 'react';
import { Dialog } from './Dialog';
import { ErrorAlert } from './ErrorAlert';

export interface ConfirmDialogProps {
  title: string;
  description: ReactNode;
  confirmLabel?: string;
  /** Resolves when done; a rejection is shown in the dialog. */
  onConfirm: () => Promise<unknown> | unknown;
  onClose: () => void;
  /** Ask the user to type this text before the confirm button works. */
  requireText?: string;
  requireLabel?: string;
}

export function ConfirmDialog({
  title,
  description,
  confirmLabel = 'Delete',
  onConfirm,
  onClose,
  requireText,
  requireLabel,
}: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [typed, setTyped] = useState('');
  const cancelRef = useRef<HTMLButtonElement>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const ok = !requireText || typed === requireText;

  async function confirm(e: React.FormEvent) {
    e.preventDefault();
    if (!ok || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={title}
      onClose={busy ? () => {} : onClose}
      description={description}
      size="sm"
      initialFocus={requireText ? inputRef : cancelRef}
    >
      <form onSubmit={confirm} className="space-y-4">
        {requireText ? (
          <div>
            <label htmlFor="confirm-text" className="label">
              {requireLabel ?? `Type ${requireText} to confirm`}
            </label>
            <input
              id="confirm-text"
              ref={inputRef}
              className="input"
              value={typed}
              autoComplete="off"
              autoCapitalize="off"
              spellCheck={false}
              onChange={(e) => setTyped(e.target.value)}
            />
          </div>
        ) : null}
        <ErrorAlert error={error} />
        <div className="flex justify-end gap-2">
          <button type="button" ref={cancelRef} className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-danger" disabled={!ok || busy}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
