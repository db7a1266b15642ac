// Small parts the bot screens share: a visibility badge, Pin/Unpin.
import { useState } from 'react';
import { VISIBILITY_TEXT, sharingApi } from '../../api/sharing';
import type { AnyBot, Visibility } from '../../api/types';
import { errorMessage } from '../../components/ErrorAlert';
import { useChat } from '../chat/chatStore';

const BADGE = 'inline-flex shrink-0 items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1';
const TONE: Record<Visibility, string> = {
  private: 'bg-gray-100 text-gray-800 ring-gray-300',
  shared: 'bg-sky-50 text-sky-900 ring-sky-200',
  store: 'bg-green-50 text-green-800 ring-green-200',
};

export function VisibilityBadge({ visibility }: { visibility: Visibility | undefined }) {
  const v = visibility ?? 'private';
  return (
    <span className={`${BADGE} ${TONE[v] ?? TONE.private}`} data-visibility={v}>
      {VISIBILITY_TEXT[v] ?? v}
    </span>
  );
}

/** Pin (keep under "Shared with me" and in the chat's bot picker) or Unpin. */
export function PinButton({
  bot,
  onChange,
  size = '',
}: {
  bot: AnyBot;
  onChange: (pinned: boolean) => void;
  size?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const loadBots = useChat((s) => s.loadBots);
  const pinned = Boolean(bot.pinned);
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      <button
        type="button"
        className={`btn-secondary ${size}`}
        aria-label={`${pinned ? 'Unpin' : 'Pin'} ${bot.name}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            const r = pinned ? await sharingApi.unpin(bot.id) : await sharingApi.pin(bot.id);
            onChange(typeof r?.pinned === 'boolean' ? r.pinned : !pinned);
            void loadBots(true);
          } catch (e) {
            setError(errorMessage(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        {pinned ? 'Unpin' : 'Pin'}
      </button>
      {error ? (
        <span role="alert" className="text-xs text-red-800">
          {error}
        </span>
      ) : null}
    </span>
  );
}
