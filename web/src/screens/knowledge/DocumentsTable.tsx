import { useState } from 'react';
import { knowledgeApi } from '../../api/knowledge';
import type { KbDocument } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorAlert } from '../../components/ErrorAlert';
import { n } from '../../lib/format';
import { formatBytes, typeLabel } from './format';

const BADGE: Record<KbDocument['status'], string> = {
  queued: 'bg-gray-100 text-gray-700 ring-gray-300',
  processing: 'bg-accent-50 text-accent-800 ring-accent-200',
  ready: 'bg-green-50 text-green-800 ring-green-200',
  failed: 'bg-red-50 text-red-800 ring-red-200',
};

const STATUS_WORD: Record<KbDocument['status'], string> = {
  queued: 'Queued',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
};

export function StatusBadge({ doc }: { doc: KbDocument }) {
  const p = doc.progress;
  return (
    <div>
      <span
        className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ${BADGE[doc.status]}`}
      >
        {STATUS_WORD[doc.status]}
      </span>
      {doc.status === 'processing' ? (
        <p className="mt-1 text-xs text-gray-700">
          {p && p.total > 0 ? `${n(p.done)} of ${n(p.total)} chunks done` : 'Reading the document…'}
        </p>
      ) : null}
      {doc.status === 'failed' && doc.error ? (
        <p className="mt-1 max-w-sm break-words text-xs text-red-800">{doc.error}</p>
      ) : null}
    </div>
  );
}

interface Props {
  kbId: string;
  documents: KbDocument[];
  onChanged: (d: KbDocument) => void;
  onRemoved: (id: string) => void;
}

/** The documents of a knowledge base with their ingestion status; a failed
 * one can be retried, any one deleted (after confirming). */
export function DocumentsTable({ kbId, documents, onChanged, onRemoved }: Props) {
  const [deleting, setDeleting] = useState<KbDocument | null>(null);
  const [retrying, setRetrying] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function retry(d: KbDocument) {
    setRetrying(d.id);
    setError(null);
    try {
      onChanged(await knowledgeApi.retryDocument(kbId, d.id));
    } catch (e) {
      setError(e);
    } finally {
      setRetrying(null);
    }
  }

  if (documents.length === 0) {
    return <p className="mt-3 text-sm text-gray-700">No documents yet: upload files or add a web page above.</p>;
  }

  return (
    <>
      <ErrorAlert error={error} className="mt-3" />
      <div
        role="region"
        aria-label="Documents table"
        tabIndex={0}
        className="card mt-3 overflow-x-auto focus-visible:ring-inset"
      >
        <table className="w-full min-w-[36rem] text-left text-sm">
          <thead className="border-b border-gray-200 bg-gray-50 text-xs text-gray-700">
            <tr>
              <th scope="col" className="px-3 py-2 font-medium">
                Document
              </th>
              <th scope="col" className="px-3 py-2 font-medium">
                Type
              </th>
              <th scope="col" className="px-3 py-2 text-right font-medium">
                Size
              </th>
              <th scope="col" className="px-3 py-2 font-medium">
                Status
              </th>
              <th scope="col" className="px-3 py-2 text-right font-medium">
                Chunks
              </th>
              <th scope="col" className="px-3 py-2 font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {documents.map((d) => (
              <tr key={d.id} data-document-id={d.id} data-status={d.status} className="border-t border-gray-100">
                <th scope="row" className="max-w-[12rem] px-3 py-2 font-medium text-gray-900">
                  <span className="block break-words">{d.filename}</span>
                  {d.source_url ? (
                    <span className="block break-words text-xs font-normal text-gray-700">{d.source_url}</span>
                  ) : null}
                </th>
                <td className="px-3 py-2 text-gray-700">{typeLabel(d.content_type, d.filename)}</td>
                <td className="px-3 py-2 text-right tabular-nums text-gray-700">{formatBytes(d.size_bytes)}</td>
                <td className="px-3 py-2">
                  <StatusBadge doc={d} />
                </td>
                <td className="px-3 py-2 text-right text-gray-700">{n(d.chunk_count)}</td>
                <td className="px-3 py-2">
                  <div className="flex justify-end gap-2">
                    {d.status === 'failed' ? (
                      <button
                        type="button"
                        className="btn-secondary btn-sm"
                        disabled={retrying === d.id}
                        aria-label={`Retry ${d.filename}`}
                        onClick={() => void retry(d)}
                      >
                        Retry
                      </button>
                    ) : null}
                    <button
                      type="button"
                      className="btn-secondary btn-sm"
                      aria-label={`Delete ${d.filename}`}
                      onClick={() => setDeleting(d)}
                    >
                      Delete
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {deleting ? (
        <ConfirmDialog
          title="Delete this document?"
          description={<>“{deleting.filename}” and its passages will be removed from this knowledge base.</>}
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await knowledgeApi.removeDocument(kbId, deleting.id);
            onRemoved(deleting.id);
          }}
        />
      ) : null}
    </>
  );
}
