// The bot store (/store): bots their owners listed, most used first, with
// a search on name and description.  Each can be opened, chatted with and
// pinned (a pinned bot stays under "Shared with me" and in the chat's bot
// picker).
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { isOwnBot, sharingApi } from '../../api/sharing';
import type { AnyBot } from '../../api/types';
import { ListStatus } from '../../components/ListStatus';
import { plural } from '../../lib/format';
import { useTitle } from '../../lib/useTitle';
import { useAuth } from '../../store/auth';
import { PinButton } from '../bots/botBits';

const PAGE = 24;

export default function StoreScreen() {
  useTitle('Bot store');
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const [draft, setDraft] = useState(q);
  const [bots, setBots] = useState<AnyBot[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const searchId = useId();
  const navigate = useNavigate();
  const me = useAuth((s) => s.profile?.username ?? s.username);

  const load = useCallback(
    async (after: string | null) => {
      setLoading(true);
      setError(null);
      try {
        const page = await sharingApi.store({ q: q || undefined, limit: PAGE, cursor: after });
        setBots((cur) => (after ? [...cur, ...page.items.filter((b) => !cur.some((c) => c.id === b.id))] : page.items));
        setCursor(page.next_cursor);
        setLoaded(true);
      } catch (e) {
        setError(e);
      } finally {
        setLoading(false);
      }
    },
    [q],
  );

  useEffect(() => {
    setLoaded(false);
    void load(null);
  }, [load]);

  useEffect(() => setDraft(q), [q]);

  function search(e: FormEvent) {
    e.preventDefault();
    const p = new URLSearchParams(params);
    if (draft.trim()) p.set('q', draft.trim());
    else p.delete('q');
    setParams(p, { replace: true });
  }

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-5xl px-4 py-6 sm:px-6">
        <h1 className="text-2xl font-semibold text-gray-900">Bot store</h1>
        <p className="mt-1 text-sm text-gray-700">Bots people on this server made for everyone. Most used first.</p>

        <form role="search" className="mt-4 flex flex-wrap gap-2" onSubmit={search}>
          <label htmlFor={searchId} className="sr-only">
            Search the store
          </label>
          <input
            id={searchId}
            type="search"
            className="input max-w-sm flex-1"
            placeholder="Search by name or description"
            value={draft}
            maxLength={200}
            onChange={(e) => setDraft(e.target.value)}
          />
          <button type="submit" className="btn-secondary">
            Search
          </button>
        </form>

        <ListStatus
          error={error}
          loading={loading}
          loaded={loaded}
          label="Loading the store…"
          onRetry={() => void load(loaded ? cursor : null)}
        />

        {loaded && bots.length === 0 && !error ? (
          <div className="card mt-6 p-8 text-center">
            <h2 className="text-lg font-semibold text-gray-900">No bots found</h2>
            <p className="mt-2 text-gray-700">
              {q ? `No bot in the store matches “${q}”.` : 'No bot is in the store yet.'}
            </p>
          </div>
        ) : null}

        <ul className="mt-6 grid gap-4 sm:grid-cols-2 lg:grid-cols-3" aria-label="Bots in the store">
          {bots.map((b) => {
            const mine = isOwnBot(b);
            return (
              <li key={b.id}>
                <article className="card flex h-full flex-col p-4" data-bot-id={b.id}>
                  <h2 className="truncate text-base font-semibold text-gray-900" title={b.name}>
                    <Link to={`/bots/${encodeURIComponent(b.id)}`} className="hover:underline">
                      {b.name}
                    </Link>
                  </h2>
                  <p className="mt-1 text-xs text-gray-700">
                    by {mine ? `${me} (you)` : (b.owner?.username ?? 'another user')} ·{' '}
                    <span data-use-count={b.use_count ?? 0}>{plural(b.use_count ?? 0, 'chat')}</span>
                  </p>
                  {b.description ? <p className="mt-2 line-clamp-3 text-sm text-gray-700">{b.description}</p> : null}
                  <div className="mt-auto flex flex-wrap gap-2 pt-4">
                    <button
                      type="button"
                      className="btn-primary btn-sm"
                      aria-label={`Chat with ${b.name}`}
                      onClick={() => navigate(`/chat?bot=${encodeURIComponent(b.id)}`)}
                    >
                      Chat
                    </button>
                    {!mine ? (
                      <PinButton
                        bot={b}
                        size="btn-sm"
                        onChange={(pinned) => setBots((cur) => cur.map((x) => (x.id === b.id ? { ...x, pinned } : x)))}
                      />
                    ) : null}
                  </div>
                </article>
              </li>
            );
          })}
        </ul>

        {cursor ? (
          <div className="mt-6 flex justify-center">
            <button type="button" className="btn-secondary" disabled={loading} onClick={() => void load(cursor)}>
              Load more bots
            </button>
          </div>
        ) : null}
      </div>
    </div>
  );
}
