// A bot published as an API (/bots/:botId/api-keys): the bot's daily
// quota over all its keys, its keys (prefix, rate, burst, expiry, last use,
// today's usage, revoke), and a new key shown once, with the curl to call
// the bot with it.
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router-dom';
import { ApiError } from '../../api/errors';
import { apiKeysApi, isOwnBot, parseQuota, sharingApi } from '../../api/sharing';
import type { AnyBot, ApiKey, ApiKeyCreated, Publication } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { CopyButton } from '../../components/CopyButton';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { FormRow } from '../../components/FormRow';
import { Spinner } from '../../components/Loading';
import { curlCommand, publishedUrl } from '../../lib/curl';
import { n } from '../../lib/format';
import { PUBLISH_NOT_ALLOWED, usePermissions } from '../../lib/permissions';
import { useTitle } from '../../lib/useTitle';
import { DEFAULT_KEY_FORM, KEY_STATE_TEXT, keyInput, keyState, type KeyForm } from './apiKeyModel';

function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export default function ApiKeysScreen() {
  const { botId = '' } = useParams();
  const perms = usePermissions();
  const [bot, setBot] = useState<AnyBot | null>(null);
  const [error, setError] = useState<unknown>(null);
  useTitle(bot ? `API keys of ${bot.name}` : 'API keys');

  useEffect(() => {
    const ctl = new AbortController();
    setBot(null);
    setError(null);
    sharingApi.bot(botId, ctl.signal).then(setBot, (e) => {
      if (!ctl.signal.aborted) setError(e);
    });
    return () => ctl.abort();
  }, [botId]);

  const notFound = (error instanceof ApiError && error.status === 404) || (bot && !isOwnBot(bot));

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-5xl space-y-6 px-4 py-6 sm:px-6">
        <p className="text-sm">
          <Link to={`/bots/${encodeURIComponent(botId)}`} className="link">
            ← Back to the bot
          </Link>
        </p>
        <div>
          <h1 className="text-2xl font-semibold text-gray-900">API keys{bot ? ` of ${bot.name}` : ''}</h1>
          <p className="mt-1 text-sm text-gray-700">
            Programs call the bot with a key, without signing in. Each answer counts against the key’s rate and the
            bot’s daily quota; the chats they make belong to no one’s chat list.
          </p>
        </div>
        {notFound ? (
          <ErrorAlert>This bot was not found among yours: only its owner manages its API keys.</ErrorAlert>
        ) : error ? (
          <ErrorAlert error={error} />
        ) : !bot ? (
          <Spinner label="Loading the bot…" />
        ) : !perms.publish_bots ? (
          <p role="note" className="alert-info">
            {PUBLISH_NOT_ALLOWED}
          </p>
        ) : (
          <>
            <QuotaPanel botId={bot.id} />
            <KeysPanel botId={bot.id} />
          </>
        )}
      </div>
    </div>
  );
}

// ---- the daily quota ------------------------------------------------------------

function QuotaPanel({ botId }: { botId: string }) {
  const id = useId();
  const [pub, setPub] = useState<Publication | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [requests, setRequests] = useState('');
  const [tokens, setTokens] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');

  const show = (p: Publication) => {
    setPub(p);
    setRequests(p.quota_requests === null ? '' : String(p.quota_requests));
    setTokens(p.quota_tokens === null ? '' : String(p.quota_tokens));
  };

  useEffect(() => {
    const ctl = new AbortController();
    apiKeysApi.publication(botId, ctl.signal).then(show, (e) => {
      if (!ctl.signal.aborted) setLoadError(e);
    });
    return () => ctl.abort();
  }, [botId]);

  async function save(e: FormEvent) {
    e.preventDefault();
    const qr = parseQuota(requests);
    const qt = parseQuota(tokens);
    if (qr === undefined || qt === undefined) {
      setError('A quota is a whole number (0 or more), or empty for no limit.');
      return;
    }
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      show(await apiKeysApi.updatePublication(botId, { quota_requests: qr, quota_tokens: qt }));
      setStatus('Daily quota saved.');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby={`${id}-h`} className="card p-5">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Daily quota
      </h2>
      <p className="mt-1 text-sm text-gray-700">
        Over all of this bot’s keys, per UTC day. Past it, calls get HTTP 429 until midnight UTC. Empty: no limit.
      </p>
      {loadError ? <ErrorAlert error={loadError} className="mt-3" /> : null}
      {!pub && !loadError ? <Spinner label="Loading the quota…" /> : null}
      {pub ? (
        <form onSubmit={save} className="mt-3 space-y-3" noValidate>
          <div className="grid gap-4 sm:grid-cols-2">
            <FormRow id={`${id}-req`} label="Requests per day" hint="Empty: unlimited.">
              {(p) => (
                <input {...p} className="input" inputMode="numeric" value={requests} onChange={(e) => setRequests(e.target.value)} />
              )}
            </FormRow>
            <FormRow id={`${id}-tok`} label="Tokens per day" hint="Input and output tokens. Empty: unlimited.">
              {(p) => (
                <input {...p} className="input" inputMode="numeric" value={tokens} onChange={(e) => setTokens(e.target.value)} />
              )}
            </FormRow>
          </div>
          {error ? <ErrorAlert>{error}</ErrorAlert> : null}
          <div className="flex flex-wrap items-center gap-3">
            <button type="submit" className="btn-primary" disabled={busy}>
              Save quota
            </button>
            <span role="status" aria-live="polite" className="text-sm text-gray-700">
              {status}
            </span>
          </div>
          <dl className="grid grid-cols-[auto,1fr] gap-x-3 gap-y-1 pt-2 text-sm text-gray-700">
            <dt className="text-gray-600">Endpoint</dt>
            <dd className="break-all font-mono text-xs">POST {window.location.origin}{pub.endpoint}</dd>
            <dt className="text-gray-600">Streaming</dt>
            <dd className="break-all font-mono text-xs">POST {window.location.origin}{pub.stream_endpoint}</dd>
          </dl>
        </form>
      ) : null}
    </section>
  );
}

// ---- the keys --------------------------------------------------------------------

function KeysPanel({ botId }: { botId: string }) {
  const id = useId();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [status, setStatus] = useState('');

  const load = useCallback(async () => {
    setError(null);
    try {
      setKeys((await apiKeysApi.list(botId)).items);
    } catch (e) {
      setError(e);
    }
  }, [botId]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section aria-labelledby={`${id}-h`} className="card p-5">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
          Keys
        </h2>
        <button type="button" className="btn-primary" onClick={() => setCreating(true)}>
          Create API key
        </button>
      </div>
      <p role="status" aria-live="polite" className="mt-1 text-sm text-gray-700">
        {status}
      </p>
      {error ? (
        <div className="mt-3 space-y-2">
          <ErrorAlert error={error} />
          <button type="button" className="btn-secondary btn-sm" onClick={() => void load()}>
            Try again
          </button>
        </div>
      ) : null}
      {!keys && !error ? <Spinner label="Loading keys…" /> : null}
      {keys && keys.length === 0 ? <p className="mt-3 text-sm text-gray-700">No keys yet.</p> : null}
      {keys && keys.length > 0 ? (
        <div className="relative mt-3 overflow-x-auto" tabIndex={0} role="region" aria-label="API keys, table">
          <table className="w-full min-w-[52rem] text-left text-sm">
            <caption className="sr-only">API keys</caption>
            <thead className="text-gray-700">
              <tr className="border-b border-gray-200">
                <th scope="col" className="py-2 pr-3 font-medium">Name</th>
                <th scope="col" className="py-2 pr-3 font-medium">Key</th>
                <th scope="col" className="py-2 pr-3 font-medium">Rate</th>
                <th scope="col" className="py-2 pr-3 font-medium">Expires</th>
                <th scope="col" className="py-2 pr-3 font-medium">Last used</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Today</th>
                <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                <th scope="col" className="py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => {
                const state = keyState(k);
                const today = k.today ?? { requests: 0, input_tokens: 0, output_tokens: 0 };
                return (
                  <tr key={k.id} className="border-b border-gray-100 align-middle" data-key-id={k.id} data-state={state}>
                    <th scope="row" className="py-2 pr-3 font-medium text-gray-900">{k.name}</th>
                    <td className="py-2 pr-3 font-mono text-xs">{k.prefix}…</td>
                    <td className="py-2 pr-3 whitespace-nowrap">
                      {n(k.rate_per_second)}/s, burst {n(k.burst)}
                    </td>
                    <td className="py-2 pr-3">{k.expires_at ? when(k.expires_at) : 'Never'}</td>
                    <td className="py-2 pr-3">{k.last_used_at ? when(k.last_used_at) : 'Never'}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">
                      {n(today.requests)} req · {n(today.input_tokens + today.output_tokens)} tok
                    </td>
                    <td className="py-2 pr-3">
                      <span
                        className={`rounded-full px-2 py-0.5 text-xs font-medium ring-1 ${
                          state === 'active'
                            ? 'bg-green-50 text-green-800 ring-green-200'
                            : 'bg-gray-100 text-gray-800 ring-gray-300'
                        }`}
                      >
                        {KEY_STATE_TEXT[state]}
                      </span>
                    </td>
                    <td className="py-2 text-right">
                      {state !== 'revoked' ? (
                        <button
                          type="button"
                          className="btn-secondary btn-sm"
                          aria-label={`Revoke ${k.name}`}
                          onClick={() => setRevoking(k)}
                        >
                          Revoke
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}

      {creating ? (
        <CreateKeyDialog
          botId={botId}
          onClose={() => setCreating(false)}
          onCreated={(k) => setKeys((cur) => [k, ...(cur ?? []).filter((x) => x.id !== k.id)])}
        />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title="Revoke this key?"
          description={
            <>
              Programs using “{revoking.name}” ({revoking.prefix}…) are refused from now on. This cannot be undone.
            </>
          }
          confirmLabel="Revoke"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            const k = await apiKeysApi.revoke(botId, revoking.id);
            setKeys((cur) =>
              (cur ?? []).map((x) =>
                x.id === revoking.id ? { ...x, ...(k ?? {}), revoked_at: k?.revoked_at ?? new Date().toISOString() } : x,
              ),
            );
            setStatus(`Revoked ${revoking.name}.`);
          }}
        />
      ) : null}
    </section>
  );
}

function CreateKeyDialog({
  botId,
  onClose,
  onCreated,
}: {
  botId: string;
  onClose: () => void;
  onCreated: (k: ApiKeyCreated) => void;
}) {
  const id = useId();
  const nameRef = useRef<HTMLInputElement>(null);
  const [form, setForm] = useState<KeyForm>(DEFAULT_KEY_FORM);
  const [problem, setProblem] = useState<{ field: keyof KeyForm | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const set = (k: keyof KeyForm) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const errFor = (k: keyof KeyForm) => (problem?.field === k ? problem.message : null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const r = keyInput(form);
    if (!r.ok) {
      setProblem({ field: r.field, message: r.message });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      const k = await apiKeysApi.create(botId, r.body);
      setCreated(k);
      onCreated(k);
    } catch (err) {
      setProblem({ field: null, message: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  }

  if (created) return <NewKeyDialog botId={botId} created={created} onClose={onClose} />;

  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  return (
    <Dialog title="Create API key" onClose={busy ? () => {} : onClose} initialFocus={nameRef}>
      <form onSubmit={submit} className="space-y-4" noValidate>
        <FormRow id={`${id}-name`} label="Key name" error={errFor('name')} hint="Which program uses it, e.g. “Website widget”.">
          {(p) => (
            <input {...p} ref={nameRef} className="input" maxLength={100} value={form.name} onChange={set('name')} />
          )}
        </FormRow>
        <div className="grid gap-4 sm:grid-cols-2">
          <FormRow id={`${id}-rate`} label="Requests per second" error={errFor('rate')} hint="0.1 to 1000.">
            {(p) => (
              <input {...p} className="input" type="number" inputMode="decimal" min={0.1} max={1000} step="any" value={form.rate} onChange={set('rate')} />
            )}
          </FormRow>
          <FormRow id={`${id}-burst`} label="Burst" error={errFor('burst')} hint="Requests allowed at once, 1 to 10000.">
            {(p) => (
              <input {...p} className="input" type="number" inputMode="numeric" min={1} max={10000} step={1} value={form.burst} onChange={set('burst')} />
            )}
          </FormRow>
        </div>
        <FormRow id={`${id}-expires`} label="Expires" error={errFor('expires')} hint="The key works until the end of this day (UTC). Empty: never.">
          {(p) => <input {...p} className="input" type="date" min={tomorrow} value={form.expires} onChange={set('expires')} />}
        </FormRow>
        {problem && !problem.field ? <ErrorAlert>{problem.message}</ErrorAlert> : null}
        <div className="flex justify-end gap-2">
          <button type="button" className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-primary" disabled={busy}>
            Create key
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The new key, this once, with the curl commands that use it. */
function NewKeyDialog({ botId, created, onClose }: { botId: string; created: ApiKeyCreated; onClose: () => void }) {
  const id = useId();
  const doneRef = useRef<HTMLButtonElement>(null);
  const origin = window.location.origin;
  const plain = curlCommand({ origin, botId, key: created.key });
  const stream = curlCommand({ origin, botId, key: created.key, stream: true });
  return (
    <Dialog title="Your new API key" onClose={onClose} size="lg" initialFocus={doneRef}>
      <div className="space-y-4">
        <p role="alert" className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
          Copy the key now: this is the only time it is shown. Mangoo keeps only a hash of it.
        </p>
        <div>
          <label htmlFor={`${id}-key`} className="label">
            API key “{created.name}”
          </label>
          <div className="flex flex-wrap items-center gap-2">
            <input
              id={`${id}-key`}
              className="input min-w-0 flex-1 basis-64 font-mono text-xs"
              readOnly
              value={created.key}
              data-api-key=""
              onFocus={(e) => e.currentTarget.select()}
            />
            <CopyButton text={created.key} label="Copy key" />
          </div>
        </div>
        <div>
          <h3 id={`${id}-curl`} className="label">
            Call the bot (JSON answer)
          </h3>
          <pre
            aria-labelledby={`${id}-curl`}
            tabIndex={0}
            className="overflow-x-auto rounded-md bg-gray-900 p-3 font-mono text-xs leading-snug text-gray-100"
            data-curl="json"
          >
            {plain}
          </pre>
          <div className="mt-1 flex flex-wrap items-center gap-2">
            <CopyButton text={plain} label="Copy command" />
          </div>
        </div>
        <div>
          <h3 id={`${id}-curl-stream`} className="label">
            Streamed as it is written (Server-Sent Events)
          </h3>
          <pre
            aria-labelledby={`${id}-curl-stream`}
            tabIndex={0}
            className="overflow-x-auto rounded-md bg-gray-900 p-3 font-mono text-xs leading-snug text-gray-100"
            data-curl="stream"
          >
            {stream}
          </pre>
          <div className="mt-1 flex flex-wrap items-center gap-2">
            <CopyButton text={stream} label="Copy streaming command" />
          </div>
        </div>
        <p className="hint">
          Continue a conversation by sending back the <code>chat_id</code> of an answer with the same key. The endpoint:{' '}
          <span className="break-all font-mono">{publishedUrl(origin, botId)}</span>
        </p>
        <div className="flex justify-end">
          <button type="button" ref={doneRef} className="btn-primary" onClick={onClose}>
            Done
          </button>
        </div>
      </div>
    </Dialog>
  );
}
