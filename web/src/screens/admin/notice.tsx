// A one-time notice carried to the next page in the history state
// ("Saved “Adder”."): shown once, then taken out of the state so a reload
// does not show it again.
import { useEffect, useState } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';

export interface NoticeState {
  notice?: string;
}

export function useNotice(): [string | null, (text: string | null) => void] {
  const location = useLocation();
  const navigate = useNavigate();
  const carried = (location.state as NoticeState | null)?.notice ?? null;
  const [notice, setNotice] = useState<string | null>(carried);

  useEffect(() => {
    if (!carried) return;
    setNotice(carried);
    navigate(location.pathname + location.search, { replace: true, state: null });
    // once per carried notice
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [carried]);

  return [notice, setNotice];
}

/** The notice, announced politely, with a way to dismiss it. */
export function Notice({ text, onDismiss }: { text: string | null; onDismiss: () => void }) {
  return (
    <div role="status" aria-live="polite">
      {text ? (
        <div className="alert-info flex items-start justify-between gap-3">
          <p>{text}</p>
          <button type="button" className="btn-ghost btn-sm -my-1 shrink-0" onClick={onDismiss}>
            Dismiss
          </button>
        </div>
      ) : null}
    </div>
  );
}
