import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { knowledgeApi } from '../../api/knowledge';
import { ApiError } from '../../api/errors';
import type { KbDocument, KnowledgeBase } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { n, plural } from '../../lib/format';
import { useTitle } from '../../lib/useTitle';
import { DocumentsTable } from './DocumentsTable';
import { KnowledgeBaseForm } from './KnowledgeBaseForm';
import { SearchPanel } from './SearchPanel';
import { Uploads } from './Uploads';
import { embeddingLabel } from './format';
import { DocumentsPoller } from './poll';

const DOC_PAGE = 100;
const DOC_PAGES = 10;

async function allDocuments(kbId: string): Promise<KbDocument[]> {
  const all: KbDocument[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < DOC_PAGES; i++) {
    const page = await knowledgeApi.documents(kbId, { limit: DOC_PAGE, cursor });
    all.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return all;
}

function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 404 || e.code === 'knowledge_base_not_found');
}

/** One knowledge base: its documents (followed while they are ingested),
 * uploads, and a search box to try it out. */
export function KnowledgeBasePage({ kbId }: { kbId: string }) {
  const navigate = useNavigate();
  const [kb, setKb] = useState<KnowledgeBase | null>(null);
  const [kbError, setKbError] = useState<unknown>(null);
  const [docs, setDocs] = useState<KbDocument[] | null>(null);
  const [docsError, setDocsError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const pollerRef = useRef<DocumentsPoller | null>(null);
  useTitle(kb ? kb.name : 'Knowledge base');

  const loadKb = useCallback(async () => {
    try {
      setKb(await knowledgeApi.get(kbId));
      setKbError(null);
    } catch (e) {
      setKbError(e);
    }
  }, [kbId]);

  useEffect(() => {
    void loadKb();
    const poller = new DocumentsPoller({
      load: () => allDocuments(kbId),
      onDocuments: (d) => {
        setDocs(d);
        setDocsError(null);
      },
      onError: setDocsError,
      // the counts change when documents finish
      onSettled: () => void loadKb(),
    });
    pollerRef.current = poller;
    poller.kick();
    return () => poller.stop();
  }, [kbId, loadKb]);

  const refresh = useCallback(() => pollerRef.current?.kick(), []);

  /** A new or changed document: shown at once, then followed. */
  const upsert = useCallback(
    (doc: KbDocument) => {
      setDocs((cur) => {
        const list = cur ?? [];
        return list.some((d) => d.id === doc.id) ? list.map((d) => (d.id === doc.id ? doc : d)) : [doc, ...list];
      });
      refresh();
    },
    [refresh],
  );

  const removed = useCallback(
    (docId: string) => {
      setDocs((cur) => (cur ? cur.filter((d) => d.id !== docId) : cur));
      void loadKb();
    },
    [loadKb],
  );

  if (isNotFound(kbError) || (!kb && isNotFound(docsError))) {
    return (
      <div className="min-h-0 flex-1 overflow-y-auto">
        <div className="mx-auto max-w-md p-8 text-center">
          <h1 className="text-xl font-semibold text-gray-900">Knowledge base not found</h1>
          <p role="alert" className="mt-2 text-gray-700">
            This knowledge base was not found: it may have been deleted.
          </p>
          <p className="mt-6">
            <Link to="/knowledge" className="btn-primary">
              All knowledge bases
            </Link>
          </p>
        </div>
      </div>
    );
  }

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-5xl px-4 py-6 sm:px-6">
        <p className="text-sm">
          <Link to="/knowledge" className="link">
            ← All knowledge bases
          </Link>
        </p>

        {kbError ? (
          <div className="mt-4 space-y-2">
            <ErrorAlert error={kbError} />
            <button type="button" className="btn-secondary btn-sm" onClick={() => void loadKb()}>
              Try again
            </button>
          </div>
        ) : null}

        {!kb && !kbError ? (
          <div className="mt-6">
            <Spinner label="Loading the knowledge base…" />
          </div>
        ) : null}

        {kb ? (
          <>
            <div className="mt-3 flex flex-wrap items-start justify-between gap-3">
              <div className="min-w-0">
                <h1 className="break-words text-2xl font-semibold text-gray-900">{kb.name}</h1>
                {kb.description ? <p className="mt-1 text-sm text-gray-700">{kb.description}</p> : null}
                <p className="mt-2 text-xs text-gray-700">
                  {plural(kb.document_count, 'document')} · {n(kb.chunk_count)}{' '}
                  {kb.chunk_count === 1 ? 'chunk' : 'chunks'} · {embeddingLabel(kb.embedding_model)}
                </p>
              </div>
              <div className="flex gap-2">
                <button type="button" className="btn-secondary btn-sm" onClick={() => setEditing(true)}>
                  Edit
                </button>
                <button
                  type="button"
                  className="btn-secondary btn-sm"
                  onClick={() => setDeleting(true)}
                  aria-label="Delete knowledge base"
                >
                  Delete
                </button>
              </div>
            </div>

            <Uploads kbId={kbId} onDocument={upsert} />

            <section aria-labelledby="kb-documents" className="mt-6">
              <h2 id="kb-documents" className="text-lg font-semibold text-gray-900">
                Documents
              </h2>
              {docsError && !isNotFound(docsError) ? (
                <div className="mt-3 space-y-2">
                  <ErrorAlert error={docsError} />
                  <button type="button" className="btn-secondary btn-sm" onClick={refresh}>
                    Try again
                  </button>
                </div>
              ) : null}
              {docs === null && !docsError ? (
                <div className="mt-3">
                  <Spinner label="Loading documents…" />
                </div>
              ) : null}
              {docs !== null ? (
                <DocumentsTable kbId={kbId} documents={docs} onChanged={upsert} onRemoved={removed} />
              ) : null}
            </section>

            <SearchPanel kbId={kbId} />
          </>
        ) : null}
      </div>

      {editing && kb ? (
        <KnowledgeBaseForm kb={kb} onClose={() => setEditing(false)} onSaved={setKb} />
      ) : null}

      {deleting && kb ? (
        <ConfirmDialog
          title="Delete this knowledge base?"
          description={
            <>
              “{kb.name}” and its {plural(kb.document_count, 'document')} will be deleted. Bots that use it will no
              longer find them. This cannot be undone.
            </>
          }
          confirmLabel="Delete"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await knowledgeApi.remove(kb.id);
            navigate('/knowledge', { replace: true });
          }}
        />
      ) : null}
    </div>
  );
}
