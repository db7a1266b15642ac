import { useCallback, useEffect, useId, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { UPLOAD_ACCEPT, knowledgeApi, uploadDocument } from '../../api/knowledge';
import { isAbortError } from '../../api/errors';
import type { KbDocument } from '../../api/types';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { formatBytes } from './format';

type UploadState = 'waiting' | 'uploading' | 'done' | 'duplicate' | 'error';

interface UploadItem {
  key: string;
  file: File;
  loaded: number;
  total: number;
  state: UploadState;
  error: string | null;
}

let seq = 0;

/** A bar for one file's upload: role="progressbar" with its percentage.
 * Drawn as SVG (attributes, no inline style: the CSP allows none). */
export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      aria-valuetext={`${pct}%`}
      className="h-2 w-full rounded-full bg-gray-100"
    >
      <svg className="block h-2 w-full" aria-hidden="true" focusable="false">
        <rect width={`${pct}%`} height="100%" rx="4" className="fill-accent-600" />
      </svg>
    </div>
  );
}

const STATE_TEXT: Record<UploadState, string> = {
  waiting: 'Waiting',
  uploading: 'Uploading',
  done: 'Uploaded',
  duplicate: 'Already in this knowledge base',
  error: 'Failed',
};

/** Add documents: files (chosen or dropped; one upload at a time, each
 * with its progress bar) and web pages by address. */
export function Uploads({ kbId, onDocument }: { kbId: string; onDocument: (d: KbDocument) => void }) {
  const inputId = useId();
  const urlId = useId();
  const hintId = useId();
  const [items, setItems] = useState<UploadItem[]>([]);
  const [dragging, setDragging] = useState(false);
  const [url, setUrl] = useState('');
  const [urlBusy, setUrlBusy] = useState(false);
  const [urlError, setUrlError] = useState<unknown>(null);
  const [urlDone, setUrlDone] = useState<string | null>(null);
  const running = useRef(false);
  const queue = useRef<UploadItem[]>([]);
  const controller = useRef<AbortController | null>(null);
  const onDocumentRef = useRef(onDocument);
  onDocumentRef.current = onDocument;

  // leaving the page cancels what is still uploading
  useEffect(() => () => controller.current?.abort(), []);

  const patch = useCallback((key: string, p: Partial<UploadItem>) => {
    setItems((cur) => cur.map((it) => (it.key === key ? { ...it, ...p } : it)));
  }, []);

  const pump = useCallback(async () => {
    if (running.current) return;
    running.current = true;
    try {
      for (let it = queue.current.shift(); it; it = queue.current.shift()) {
        const ctl = new AbortController();
        controller.current = ctl;
        const key = it.key;
        patch(key, { state: 'uploading' });
        try {
          const doc = await uploadDocument(kbId, it.file, {
            signal: ctl.signal,
            onProgress: (p) => patch(key, { loaded: p.loaded, total: p.total }),
          });
          patch(key, { state: doc.duplicate ? 'duplicate' : 'done', loaded: it.file.size, total: it.file.size || 1 });
          onDocumentRef.current(doc);
        } catch (e) {
          if (isAbortError(e)) return;
          patch(key, { state: 'error', error: errorMessage(e) });
        }
      }
    } finally {
      running.current = false;
      controller.current = null;
    }
  }, [kbId, patch]);

  const add = useCallback(
    (files: FileList | File[] | null) => {
      if (!files || files.length === 0) return;
      const fresh: UploadItem[] = Array.from(files).map((file) => {
        seq += 1;
        return { key: `up-${seq}`, file, loaded: 0, total: file.size, state: 'waiting', error: null };
      });
      queue.current.push(...fresh);
      setItems((cur) => [...cur, ...fresh]);
      void pump();
    },
    [pump],
  );

  function onDrop(e: DragEvent) {
    e.preventDefault();
    setDragging(false);
    add(e.dataTransfer?.files ?? null);
  }

  async function addUrl(e: FormEvent) {
    e.preventDefault();
    const u = url.trim();
    if (!u || urlBusy) return;
    setUrlBusy(true);
    setUrlError(null);
    setUrlDone(null);
    try {
      const doc = await knowledgeApi.addUrl(kbId, u);
      setUrl('');
      setUrlDone(doc.duplicate ? `${u} is already in this knowledge base.` : `Added ${u}: it is fetched and indexed next.`);
      onDocument(doc);
    } catch (err) {
      setUrlError(err);
    } finally {
      setUrlBusy(false);
    }
  }

  const finished = items.some((it) => it.state !== 'waiting' && it.state !== 'uploading');

  return (
    <section aria-labelledby="kb-add" className="mt-6">
      <h2 id="kb-add" className="text-lg font-semibold text-gray-900">
        Add documents
      </h2>
      <div className="mt-3 grid gap-4 sm:grid-cols-2">
        <div
          className={`card p-4 ${dragging ? 'bg-accent-50 ring-1 ring-accent-200' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <label htmlFor={inputId} className="label">
            Upload documents
          </label>
          <input
            id={inputId}
            type="file"
            multiple
            accept={UPLOAD_ACCEPT}
            aria-describedby={hintId}
            className="block w-full text-sm text-gray-700"
            onChange={(e) => {
              add(e.target.files);
              e.target.value = '';
            }}
          />
          <p id={hintId} className="hint">
            Text, Markdown, HTML or PDF; choose several or drop them here.
          </p>
        </div>

        <form onSubmit={addUrl} className="card p-4" noValidate>
          <label htmlFor={urlId} className="label">
            Web page URL
          </label>
          <div className="flex flex-col gap-2 sm:flex-row">
            <input
              id={urlId}
              type="url"
              inputMode="url"
              className="input"
              placeholder="https://example.com/page"
              value={url}
              maxLength={2048}
              autoComplete="off"
              aria-invalid={urlError ? true : undefined}
              onChange={(e) => setUrl(e.target.value)}
            />
            <button type="submit" className="btn-secondary shrink-0" disabled={urlBusy || !url.trim()}>
              Add page
            </button>
          </div>
          <ErrorAlert error={urlError} className="mt-2" />
          {urlDone ? (
            <p role="status" className="mt-2 text-sm text-gray-700">
              {urlDone}
            </p>
          ) : null}
        </form>
      </div>

      {items.length > 0 ? (
        <div className="mt-4">
          <div className="flex items-center justify-between gap-2">
            <h3 className="text-sm font-semibold text-gray-900">Uploads</h3>
            {finished ? (
              <button
                type="button"
                className="btn-ghost btn-sm"
                onClick={() => setItems((cur) => cur.filter((it) => it.state === 'waiting' || it.state === 'uploading'))}
              >
                Clear finished uploads
              </button>
            ) : null}
          </div>
          <ul className="mt-2 space-y-2" aria-label="Uploads">
            {items.map((it) => {
              const pct = it.total > 0 ? (it.loaded / it.total) * 100 : it.state === 'done' ? 100 : 0;
              return (
                <li key={it.key} data-upload-state={it.state} className="card p-3">
                  <div className="flex flex-wrap items-center justify-between gap-x-3 text-sm">
                    <span className="min-w-0 break-words font-medium text-gray-900">{it.file.name}</span>
                    <span className="text-xs text-gray-700">
                      {formatBytes(it.file.size)} · {STATE_TEXT[it.state]}
                    </span>
                  </div>
                  {it.state !== 'error' ? (
                    <div className="mt-2">
                      <ProgressBar value={pct} label={`Upload of ${it.file.name}`} />
                    </div>
                  ) : (
                    <ErrorAlert className="mt-2">{it.error}</ErrorAlert>
                  )}
                </li>
              );
            })}
          </ul>
        </div>
      ) : null}
    </section>
  );
}
