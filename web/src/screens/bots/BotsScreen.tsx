import { useCallback, useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import type { Bot, Model } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ListStatus } from '../../components/ListStatus';
import { useTitle } from '../../lib/useTitle';
import { BotForm, botKnowledgeBaseIds, modelLabel } from './BotForm';

const PAGE = 20;

function knowledgeLabel(b: Bot): string {
  const count = botKnowledgeBaseIds(b).length;
  if (!b.rag_enabled || count === 0) return 'Off';
  return count === 1 ? '1 knowledge base' : `${count} knowledge bases`;
}

export default function BotsScreen() {
  useTitle('Bots');
  const [bots, setBots] = useState<Bot[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [models, setModels] = useState<Model[] | null>(null);
  const [defaultModel, setDefaultModel] = useState('local');
  const [modelsFailed, setModelsFailed] = useState(false);
  const [params, setParams] = useSearchParams();
  const [editing, setEditing] = useState<Bot | 'new' | null>(params.get('new') ? 'new' : null);
  const [deleting, setDeleting] = useState<Bot | null>(null);

  const load = useCallback(async (after: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const page = await api.bots({ limit: PAGE, cursor: after });
      setBots((cur) => {
        if (!after) return page.items;
        const have = new Set(cur.map((b) => b.id));
        return [...cur, ...page.items.filter((b) => !have.has(b.id))];
      });
      setCursor(page.next_cursor);
      setLoaded(true);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(null);
    const ctl = new AbortController();
    api.models(ctl.signal).then(
      (m) => {
        setModels(m.items);
        if (m.default) setDefaultModel(m.default);
      },
      () => setModelsFailed(true),
    );
    return () => ctl.abort();
  }, [load]);

  function closeForm() {
    setEditing(null);
    if (params.get('new')) {
      params.delete('new');
      setParams(params, { replace: true });
    }
  }

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-4xl px-4 py-6 sm:px-6">
        <div className="flex flex-wrap items-center justify-between gap-3">
          <div>
            <h1 className="text-2xl font-semibold text-gray-900">Bots</h1>
            <p className="mt-1 text-sm text-gray-700">A bot is a model with your instructions.</p>
          </div>
          <button type="button" className="btn-primary" onClick={() => setEditing('new')}>
            Create bot
          </button>
        </div>

        <ListStatus
          error={error}
          loading={loading}
          loaded={loaded}
          label="Loading bots…"
          onRetry={() => void load(loaded ? cursor : null)}
        />

        {loaded && bots.length === 0 ? (
          <div className="card mt-6 p-8 text-center">
            <h2 className="text-lg font-semibold text-gray-900">No bots yet</h2>
            <p className="mt-2 text-gray-700">Create your first bot to start chatting.</p>
          </div>
        ) : null}

        <ul className="mt-6 grid gap-4 sm:grid-cols-2" aria-label="Your bots">
          {bots.map((b) => (
            <li key={b.id}>
              <article className="card flex h-full flex-col p-4">
                <h2 className="truncate text-base font-semibold text-gray-900" title={b.name}>
                  {b.name}
                </h2>
                {b.description ? (
                  <p className="mt-1 line-clamp-3 text-sm text-gray-700">{b.description}</p>
                ) : null}
                <dl className="mt-3 grid grid-cols-[auto,1fr] gap-x-3 gap-y-1 text-xs text-gray-700">
                  <dt className="text-gray-600">Model</dt>
                  <dd className="truncate">{modelLabel(models, b.model_id)}</dd>
                  <dt className="text-gray-600">Temperature</dt>
                  <dd>{b.temperature}</dd>
                  <dt className="text-gray-600">Max tokens</dt>
                  <dd>{b.max_tokens}</dd>
                  <dt className="text-gray-600">Knowledge</dt>
                  <dd>{knowledgeLabel(b)}</dd>
                </dl>
                <div className="mt-4 flex flex-wrap gap-2 pt-1">
                  <Link to={`/chat?bot=${encodeURIComponent(b.id)}`} className="btn-primary btn-sm">
                    Talk to {b.name}
                  </Link>
                  <button type="button" className="btn-secondary btn-sm" onClick={() => setEditing(b)}>
                    Edit
                  </button>
                  <button type="button" className="btn-secondary btn-sm" onClick={() => setDeleting(b)}>
                    Delete
                  </button>
                </div>
              </article>
            </li>
          ))}
        </ul>

        {cursor ? (
          <div className="mt-6 flex justify-center">
            <button type="button" className="btn-secondary" disabled={loading} onClick={() => void load(cursor)}>
              Load more bots
            </button>
          </div>
        ) : null}
      </div>

      {editing ? (
        <BotForm
          bot={editing === 'new' ? null : editing}
          models={models}
          modelsFailed={modelsFailed}
          defaultModel={defaultModel}
          onClose={closeForm}
          onSaved={(saved) => {
            setBots((cur) =>
              cur.some((b) => b.id === saved.id) ? cur.map((b) => (b.id === saved.id ? saved : b)) : [saved, ...cur],
            );
            setLoaded(true);
          }}
        />
      ) : null}

      {deleting ? (
        <ConfirmDialog
          title="Delete this bot?"
          description={
            <>
              “{deleting.name}” will be deleted. Its chats stay, but cannot continue with it. This cannot be
              undone.
            </>
          }
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await api.deleteBot(deleting.id);
            setBots((cur) => cur.filter((b) => b.id !== deleting.id));
          }}
        />
      ) : null}
    </div>
  );
}
