import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { knowledgeApi } from '../../api/knowledge';
import { isAbortError } from '../../api/errors';
import type { SearchResult } from '../../api/types';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { pageLabel, scoreLabel } from './format';

const MAX_QUERY = 2000;

/** Try the knowledge base: the passages a bot would be given for a
 * question (hybrid search, ready documents only). */
export function SearchPanel({ kbId }: { kbId: string }) {
  const id = useId();
  const [query, setQuery] = useState('');
  const [asked, setAsked] = useState<string | null>(null);
  const [result, setResult] = useState<SearchResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const ctl = useRef<AbortController | null>(null);

  useEffect(() => () => ctl.current?.abort(), []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const q = query.trim();
    if (!q) return;
    ctl.current?.abort();
    const c = new AbortController();
    ctl.current = c;
    setBusy(true);
    setError(null);
    try {
      const r = await knowledgeApi.search(kbId, { query: q, top_k: 5 }, c.signal);
      setResult(r);
      setAsked(q);
    } catch (err) {
      if (isAbortError(err)) return;
      setError(err);
      setResult(null);
    } finally {
      if (ctl.current === c) setBusy(false);
    }
  }

  return (
    <section aria-labelledby="kb-search" className="mt-6">
      <h2 id="kb-search" className="text-lg font-semibold text-gray-900">
        Search
      </h2>
      <form role="search" onSubmit={submit} className="mt-3 flex flex-col gap-2 sm:flex-row">
        <label htmlFor={id} className="sr-only">
          Search this knowledge base
        </label>
        <input
          id={id}
          type="search"
          className="input"
          placeholder="Search this knowledge base"
          value={query}
          maxLength={MAX_QUERY}
          onChange={(e) => setQuery(e.target.value)}
        />
        <button type="submit" className="btn-primary shrink-0" disabled={busy || !query.trim()}>
          Search
        </button>
      </form>
      <ErrorAlert error={error} className="mt-3" />
      {busy ? (
        <div className="mt-3">
          <Spinner label="Searching…" />
        </div>
      ) : null}
      {result && !busy ? (
        result.items.length === 0 ? (
          <p role="status" className="mt-3 text-sm text-gray-700">
            Nothing found for “{asked}” in the ready documents.
          </p>
        ) : (
          <>
            <p role="status" className="sr-only">
              {result.items.length} {result.items.length === 1 ? 'passage' : 'passages'} found.
            </p>
            <ol className="mt-3 space-y-2" aria-label="Search results">
              {result.items.map((hit, i) => {
                const page = pageLabel(hit.page);
                return (
                  <li key={hit.chunk_id} className="card p-3" data-document-id={hit.document_id}>
                    <div className="flex flex-wrap items-center justify-between gap-x-3 gap-y-1">
                      <p className="min-w-0 break-words text-sm font-semibold text-gray-900">
                        <span className="text-gray-600">{i + 1}. </span>
                        {hit.document}
                        {page ? <span className="font-normal text-gray-700">, {page}</span> : null}
                      </p>
                      <p className="text-xs text-gray-700">score {scoreLabel(hit.score)}</p>
                    </div>
                    {hit.heading ? <p className="mt-0.5 text-xs text-gray-700">{hit.heading}</p> : null}
                    <p className="mt-2 whitespace-pre-wrap break-words text-sm text-gray-900">{hit.snippet || hit.text}</p>
                  </li>
                );
              })}
            </ol>
          </>
        )
      ) : null}
    </section>
  );
}
