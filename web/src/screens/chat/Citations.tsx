import { useId, useRef } from 'react';
import type { Citation } from '../../api/types';
import { Dialog } from '../../components/Dialog';

function pageOf(c: Citation): string | null {
  return c.page && c.page > 0 ? `page ${c.page}` : null;
}

/** "[2] handbook.pdf, page 4" */
export function citationLabel(c: Citation): string {
  const page = pageOf(c);
  return `[${c.n}] ${c.document}${page ? `, ${page}` : ''}`;
}

/** The list of sources under an answer; each opens its passage. */
export function Sources({ citations, onOpen }: { citations: Citation[]; onOpen: (c: Citation) => void }) {
  const headingId = useId();
  return (
    <div className="mt-3 border-t border-gray-200 pt-2">
      <h3 id={headingId} className="text-xs font-semibold text-gray-700">
        Sources
      </h3>
      <ol aria-labelledby={headingId} className="mt-1 space-y-0.5">
        {citations.map((c) => (
          <li key={c.n} data-cite={c.n}>
            <button
              type="button"
              className="link break-words text-left text-sm"
              onClick={() => onOpen(c)}
            >
              {citationLabel(c)}
            </button>
          </li>
        ))}
      </ol>
    </div>
  );
}

/** One source's passage: what the answer's [n] refers to. */
export function CitationDialog({ citation: c, onClose }: { citation: Citation; onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  const page = pageOf(c);
  return (
    <Dialog title={`Source [${c.n}]`} onClose={onClose} initialFocus={closeRef} size="lg">
      <dl className="grid grid-cols-[auto,1fr] gap-x-3 gap-y-1 text-sm">
        <dt className="text-gray-600">Document</dt>
        <dd className="break-words font-medium text-gray-900">{c.document}</dd>
        {page ? (
          <>
            <dt className="text-gray-600">Page</dt>
            <dd>{c.page}</dd>
          </>
        ) : null}
        {c.heading ? (
          <>
            <dt className="text-gray-600">Section</dt>
            <dd className="break-words">{c.heading}</dd>
          </>
        ) : null}
        {typeof c.score === 'number' && Number.isFinite(c.score) ? (
          <>
            <dt className="text-gray-600">Relevance</dt>
            <dd>{c.score.toFixed(3)}</dd>
          </>
        ) : null}
      </dl>
      {c.snippet ? (
        <div className="prose-chat mt-4">
          <blockquote className="whitespace-pre-wrap">{c.snippet}</blockquote>
        </div>
      ) : (
        <p className="mt-4 text-sm text-gray-700">The passage itself is shown only to the bot’s owner.</p>
      )}
      <div className="mt-4 flex justify-end">
        <button type="button" ref={closeRef} className="btn-secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
