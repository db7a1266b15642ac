import { useCallback, useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { knowledgeApi } from '../../api/knowledge';
import type { KnowledgeBase } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ListStatus } from '../../components/ListStatus';
import { n, plural } from '../../lib/format';
import { useTitle } from '../../lib/useTitle';
import { KnowledgeBaseForm } from './KnowledgeBaseForm';
import { embeddingLabel } from './format';

const PAGE = 20;

export function KnowledgeList() {
  useTitle('Knowledge');
  const [items, setItems] = useState<KnowledgeBase[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<KnowledgeBase | 'new' | null>(null);
  const [deleting, setDeleting] = useState<KnowledgeBase | null>(null);

  const load = useCallback(async (after: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const page = await knowledgeApi.list({ limit: PAGE, cursor: after });
      setItems((cur) => {
        if (!after) return page.items;
        const have = new Set(cur.map((k) => k.id));
        return [...cur, ...page.items.filter((k) => !have.has(k.id))];
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
  }, [load]);

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-4xl px-4 py-6 sm:px-6">
        <div className="flex flex-wrap items-center justify-between gap-3">
          <div>
            <h1 className="text-2xl font-semibold text-gray-900">Knowledge</h1>
            <p className="mt-1 text-sm text-gray-700">
              Documents your bots can answer from, with the sources cited.
            </p>
          </div>
          <button type="button" className="btn-primary" onClick={() => setEditing('new')}>
            Create knowledge base
          </button>
        </div>

        <ListStatus
          error={error}
          loading={loading}
          loaded={loaded}
          label="Loading knowledge bases…"
          onRetry={() => void load(loaded ? cursor : null)}
        />

        {loaded && items.length === 0 ? (
          <div className="card mt-6 p-8 text-center">
            <h2 className="text-lg font-semibold text-gray-900">No knowledge bases yet</h2>
            <p className="mt-2 text-gray-700">
              Create one, add documents to it, then let a bot use it.
            </p>
          </div>
        ) : null}

        <ul className="mt-6 grid gap-4 sm:grid-cols-2" aria-label="Your knowledge bases">
          {items.map((kb) => (
            <li key={kb.id}>
              <article className="card flex h-full flex-col p-4">
                <h2 className="truncate text-base font-semibold" title={kb.name}>
                  <Link to={`/knowledge/${encodeURIComponent(kb.id)}`} className="link text-gray-900">
                    {kb.name}
                  </Link>
                </h2>
                {kb.description ? (
                  <p className="mt-1 line-clamp-3 text-sm text-gray-700">{kb.description}</p>
                ) : null}
                <dl className="mt-3 grid grid-cols-[auto,1fr] gap-x-3 gap-y-1 text-xs text-gray-700">
                  <dt className="text-gray-600">Documents</dt>
                  <dd>{n(kb.document_count)}</dd>
                  <dt className="text-gray-600">Chunks</dt>
                  <dd>{n(kb.chunk_count)}</dd>
                  <dt className="text-gray-600">Embedding</dt>
                  <dd className="truncate">{embeddingLabel(kb.embedding_model)}</dd>
                </dl>
                <div className="mt-4 flex flex-wrap gap-2 pt-1">
                  <Link
                    to={`/knowledge/${encodeURIComponent(kb.id)}`}
                    className="btn-primary btn-sm"
                    aria-label={`Open ${kb.name}`}
                  >
                    Open
                  </Link>
                  <button
                    type="button"
                    className="btn-secondary btn-sm"
                    onClick={() => setEditing(kb)}
                    aria-label={`Edit ${kb.name}`}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="btn-secondary btn-sm"
                    onClick={() => setDeleting(kb)}
                    aria-label={`Delete ${kb.name}`}
                  >
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
              Load more knowledge bases
            </button>
          </div>
        ) : null}
      </div>

      {editing ? (
        <KnowledgeBaseForm
          kb={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            setItems((cur) =>
              cur.some((k) => k.id === saved.id) ? cur.map((k) => (k.id === saved.id ? saved : k)) : [saved, ...cur],
            );
            setLoaded(true);
          }}
        />
      ) : null}

      {deleting ? (
        <ConfirmDialog
          title="Delete this knowledge base?"
          description={
            <>
              “{deleting.name}” and its {plural(deleting.document_count, 'document')} will be deleted. Bots that use
              it will no longer find them. This cannot be undone.
            </>
          }
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await knowledgeApi.remove(deleting.id);
            setItems((cur) => cur.filter((k) => k.id !== deleting.id));
          }}
        />
      ) : null}
    </div>
  );
}
