// /admin/mcp-servers/new and /admin/mcp-servers/:serverId: how the server
// is reached (a command over stdio, or a URL over Streamable HTTP, with
// write-only headers or environment), whether it is enabled; then its
// tools, listed on demand ("List tools"), each allowed or not for agents;
// and Delete.
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../../../api/client';
import type { McpServer, McpTransport } from '../../../api/types';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { ErrorAlert, errorMessage } from '../../../components/ErrorAlert';
import { FormRow } from '../../../components/FormRow';
import { WarningIcon } from '../../../components/Icons';
import { Spinner } from '../../../components/Loading';
import { plural } from '../../../lib/format';
import { useTitle } from '../../../lib/useTitle';
import { Notice, useNotice } from '../notice';
import { EnabledBadge, TransportBadge } from './McpServersScreen';
import {
  allowRows,
  allowedChanged,
  allowedFromRows,
  mcpBody,
  mcpErrorField,
  mcpFormFrom,
  newSecretRow,
  notAllowableReason,
  secretsChanged,
  secretRowsFrom,
  type McpErrors,
  type McpField,
  type McpFormState,
  type SecretKind,
  type SecretRow,
} from './mcpForm';

export default function McpServerScreen() {
  const { serverId } = useParams();
  return <McpServerEditor key={serverId ?? 'new'} serverId={serverId ?? null} />;
}

function McpServerEditor({ serverId }: { serverId: string | null }) {
  const navigate = useNavigate();
  const [server, setServer] = useState<McpServer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [deleting, setDeleting] = useState(false);
  const [notice, setNotice] = useNotice();
  // the form starts afresh from the server after each of its own saves
  const [formKey, setFormKey] = useState(0);
  useTitle(serverId ? `${server?.name ?? 'MCP server'} · Administration` : 'Register an MCP server · Administration');

  useEffect(() => {
    if (!serverId) return;
    const ctl = new AbortController();
    api.mcpServer(serverId, ctl.signal).then(setServer, (e) => {
      if (!ctl.signal.aborted) setError(e);
    });
    return () => ctl.abort();
  }, [serverId]);

  return (
    <section aria-labelledby="mcp-server-h" className="space-y-4">
      <p>
        <Link to="/admin/mcp-servers" className="link text-sm">
          ← All MCP servers
        </Link>
      </p>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <h2 id="mcp-server-h" className="break-all text-lg font-semibold text-gray-900">
          {serverId ? (server ? server.name : 'MCP server') : 'Register an MCP server'}
        </h2>
        {server ? (
          <>
            <TransportBadge transport={server.transport} />
            <EnabledBadge enabled={server.enabled} />
          </>
        ) : null}
      </div>
      <Notice text={notice} onDismiss={() => setNotice(null)} />

      {serverId && error ? (
        <ErrorAlert error={error} />
      ) : serverId && !server ? (
        <Spinner label="Loading the MCP server…" />
      ) : (
        <>
          <McpServerForm
            key={formKey}
            server={server}
            onSaved={(saved, changed) => {
              if (server) {
                setServer(saved);
                setFormKey((k) => k + 1);
                setNotice(changed ? `Saved “${saved.name}”.` : 'Nothing to save: no field changed.');
              } else {
                navigate(`/admin/mcp-servers/${encodeURIComponent(saved.id)}`, {
                  state: { notice: `Registered “${saved.name}”. List its tools and allow the ones agents may use.` },
                });
              }
            }}
          />
          {server ? (
            <>
              <ToolsAllowList server={server} onServer={setServer} />
              <section aria-labelledby="mcp-delete-h" className="card space-y-3 p-5">
                <h3 id="mcp-delete-h" className="text-base font-semibold text-gray-900">
                  Delete this server
                </h3>
                <p className="text-sm text-gray-700">
                  Agents given its tools lose them: their tool references stay on the agents but are no longer offered.
                </p>
                <button type="button" className="btn-danger" onClick={() => setDeleting(true)}>
                  Delete
                </button>
              </section>
            </>
          ) : null}
        </>
      )}

      {deleting && server ? (
        <ConfirmDialog
          title="Delete this MCP server?"
          description={
            <>
              “{server.name}” will be removed with its headers and environment. Agents that use its tools lose them. This
              cannot be undone.
            </>
          }
          confirmLabel="Delete"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await api.deleteMcpServer(server.id);
            navigate('/admin/mcp-servers', { state: { notice: `Deleted “${server.name}”.` } });
          }}
        />
      ) : null}
    </section>
  );
}

// ---- the registration form -----------------------------------------------------------

const FIELD_ORDER: McpField[] = ['name', 'description', 'transport', 'url', 'command', 'headers', 'env', 'enabled'];
const GROUPS = new Set<McpField>(['transport', 'headers', 'env']);

function McpServerForm({
  server,
  onSaved,
}: {
  server: McpServer | null;
  onSaved: (s: McpServer, changed: boolean) => void;
}) {
  const id = useId();
  const [form, setForm] = useState<McpFormState>(() => mcpFormFrom(server));
  const [errors, setErrors] = useState<McpErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const focusErrors = useRef(false);

  useEffect(() => {
    if (!focusErrors.current) return;
    focusErrors.current = false;
    const first = FIELD_ORDER.find((f) => errors[f]);
    if (first) document.getElementById(GROUPS.has(first) ? `${id}-${first}-error` : `${id}-${first}`)?.focus();
  }, [errors, id]);

  function set<K extends keyof McpFormState>(key: K, value: McpFormState[K]) {
    setForm((f) => ({ ...f, [key]: value }));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setError(null);
    const { body, errors: mine } = mcpBody(form, server);
    if (Object.keys(mine).length > 0) {
      focusErrors.current = true;
      setErrors(mine);
      return;
    }
    setErrors({});
    if (server && Object.keys(body).length === 0) {
      onSaved(server, false);
      return;
    }
    setBusy(true);
    try {
      const saved = server ? await api.updateMcpServer(server.id, body) : await api.createMcpServer(body);
      setBusy(false);
      onSaved(saved, true);
    } catch (err) {
      setBusy(false);
      const field = mcpErrorField(err);
      if (field && field !== 'allowed_tools') {
        focusErrors.current = true;
        setErrors({ [field]: errorMessage(err) });
      } else {
        setError(err);
      }
    }
  }

  const err = (f: McpField) => errors[f] ?? null;
  const fid = (f: McpField) => `${id}-${f}`;
  const http = form.transport === 'http';
  const reachChanged =
    server !== null &&
    (form.transport !== server.transport ||
      (http ? form.url.trim() !== (server.url ?? '') : form.command !== mcpFormFrom(server).command));

  return (
    <form onSubmit={submit} noValidate aria-labelledby="mcp-server-h" className="card space-y-4 p-5">
      <h3 className="text-base font-semibold text-gray-900">Registration</h3>
      <FormRow
        id={fid('name')}
        label="Name"
        error={err('name')}
        hint="1 to 32 lowercase letters, digits, “-” or “_”. Agents name its tools mcp:<name>/<tool>, so renaming a server takes its tools away from them."
      >
        {(p) => (
          <input
            {...p}
            className="input font-mono"
            value={form.name}
            maxLength={32}
            autoCapitalize="off"
            autoComplete="off"
            spellCheck={false}
            required
            onChange={(e) => set('name', e.target.value)}
          />
        )}
      </FormRow>
      <FormRow id={fid('description')} label="Description" error={err('description')}>
        {(p) => (
          <textarea {...p} className="input" rows={2} maxLength={2000} value={form.description} onChange={(e) => set('description', e.target.value)} />
        )}
      </FormRow>

      <fieldset aria-describedby={err('transport') ? `${id}-transport-error` : undefined}>
        <legend className="label">Transport</legend>
        <div className="flex flex-col gap-2 sm:flex-row sm:gap-6">
          {(
            [
              ['stdio', 'stdio (a program)', 'Mangoo starts the program and talks to it on its standard input and output.'],
              ['http', 'HTTP (Streamable HTTP)', 'Mangoo connects to the server’s URL.'],
            ] as [McpTransport, string, string][]
          ).map(([value, label, hint]) => (
            <div key={value} className="flex items-start gap-2">
              <input
                id={`${id}-transport-${value}`}
                type="radio"
                name={`${id}-transport`}
                value={value}
                className="mt-0.5 h-4 w-4 shrink-0"
                checked={form.transport === value}
                aria-describedby={`${id}-transport-${value}-hint`}
                onChange={() => set('transport', value)}
              />
              <div>
                <label htmlFor={`${id}-transport-${value}`} className="text-sm font-medium text-gray-900">
                  {label}
                </label>
                <p id={`${id}-transport-${value}-hint`} className="text-xs text-gray-600">
                  {hint}
                </p>
              </div>
            </div>
          ))}
        </div>
        {err('transport') ? (
          <p id={`${id}-transport-error`} tabIndex={-1} role="alert" className="mt-1 text-sm text-red-800">
            {err('transport')}
          </p>
        ) : null}
      </fieldset>

      {http ? (
        <FormRow id={fid('url')} label="URL" error={err('url')} hint="The server’s Streamable HTTP endpoint, e.g. https://tools.example.com/mcp.">
          {(p) => (
            <input
              {...p}
              className="input font-mono"
              type="url"
              inputMode="url"
              autoComplete="off"
              spellCheck={false}
              maxLength={2048}
              value={form.url}
              onChange={(e) => set('url', e.target.value)}
            />
          )}
        </FormRow>
      ) : (
        <FormRow
          id={fid('command')}
          label="Command"
          error={err('command')}
          hint="One argument a line, the program first (at most 32). Each worker runs it on its own machine."
        >
          {(p) => (
            <textarea
              {...p}
              className="input whitespace-pre font-mono text-[0.85rem]"
              rows={Math.min(8, Math.max(3, form.command.split('\n').length + 1))}
              wrap="off"
              autoCapitalize="off"
              autoComplete="off"
              spellCheck={false}
              value={form.command}
              onChange={(e) => set('command', e.target.value)}
            />
          )}
        </FormRow>
      )}
      {reachChanged && server?.tools ? (
        <p className="text-sm text-gray-700">Changing how the server is reached clears its listed tools: list them again after saving.</p>
      ) : null}

      {http ? (
        <SecretRowsField
          id={id}
          kind="headers"
          stored={server?.headers ?? []}
          rows={form.headers}
          onChange={(rows) => set('headers', rows)}
          error={err('headers')}
        />
      ) : (
        <SecretRowsField id={id} kind="env" stored={server?.env ?? []} rows={form.env} onChange={(rows) => set('env', rows)} error={err('env')} />
      )}

      <div className="flex items-start gap-2">
        <input
          id={fid('enabled')}
          type="checkbox"
          className="mt-0.5 h-4 w-4"
          checked={form.enabled}
          aria-describedby={`${id}-enabled-hint`}
          onChange={(e) => set('enabled', e.target.checked)}
        />
        <div>
          <label htmlFor={fid('enabled')} className="text-sm font-medium text-gray-900">
            Enabled
          </label>
          <p id={`${id}-enabled-hint`} className="text-xs text-gray-600">
            Agents are offered a disabled server’s tools no more, and it is not started.
          </p>
        </div>
      </div>

      {error ? <ErrorAlert error={error} /> : null}
      <div className="flex flex-wrap justify-end gap-2">
        {server ? null : (
          <Link to="/admin/mcp-servers" className="btn-secondary">
            Cancel
          </Link>
        )}
        <button type="submit" className="btn-primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

// ---- headers and environment: write-only name/value rows ----------------------

function SecretRowsField({
  id,
  kind,
  stored,
  rows,
  onChange,
  error,
}: {
  id: string;
  kind: SecretKind;
  stored: string[];
  rows: SecretRow[];
  onChange: (rows: SecretRow[]) => void;
  error: string | null;
}) {
  const base = `${id}-${kind}`;
  const noun = kind === 'headers' ? 'header' : 'variable';
  const title = kind === 'headers' ? 'Headers' : 'Environment';
  const changed = secretsChanged(stored, rows);
  const hasStored = rows.some((r) => r.stored);
  const update = (key: string, patch: Partial<SecretRow>) => onChange(rows.map((r) => (r.key === key ? { ...r, ...patch } : r)));
  const hintId = `${base}-hint`;
  const hiddenId = `${base}-hidden`;

  return (
    <fieldset className="space-y-2 rounded-md border border-gray-200 px-3 pb-3 pt-1" aria-describedby={hintId}>
      <legend className="px-1 text-sm font-medium text-gray-900">{title}</legend>
      <p id={hintId} className="text-xs text-gray-600">
        {kind === 'headers'
          ? 'Sent with every request to the server, e.g. Authorization. '
          : 'Set for the command, e.g. an API key. '}
        Values are write-only: they are stored but never shown again.
      </p>
      {rows.length === 0 ? (
        <p className="text-sm text-gray-700">{stored.length > 0 ? `All ${kind === 'headers' ? 'headers' : 'variables'} will be removed.` : `No ${kind === 'headers' ? 'headers' : 'variables'}.`}</p>
      ) : (
        <ul className="space-y-2">
          {rows.map((r, i) => {
            const nameId = `${base}-${r.key}-name`;
            const valueId = `${base}-${r.key}-value`;
            const label = r.name.trim() || `${noun} ${i + 1}`;
            return (
              <li key={r.key} className="grid grid-cols-[1fr,auto] gap-2 sm:grid-cols-[minmax(0,2fr),minmax(0,3fr),auto]">
                <div className="min-w-0">
                  <label htmlFor={nameId} className="sr-only">
                    Name of {noun} {i + 1}
                  </label>
                  <input
                    id={nameId}
                    className="input font-mono"
                    value={r.name}
                    placeholder={kind === 'headers' ? 'Header name' : 'NAME'}
                    autoCapitalize="off"
                    autoComplete="off"
                    spellCheck={false}
                    maxLength={128}
                    onChange={(e) => update(r.key, { name: e.target.value })}
                  />
                </div>
                <div className="order-last col-span-2 min-w-0 sm:order-none sm:col-span-1">
                  <label htmlFor={valueId} className="sr-only">
                    Value of {label}
                  </label>
                  <input
                    id={valueId}
                    className="input"
                    type="password"
                    autoComplete="new-password"
                    value={r.value}
                    placeholder={r.stored ? 'value hidden — enter a new value to replace' : 'Value'}
                    aria-describedby={r.stored ? hiddenId : undefined}
                    onChange={(e) => update(r.key, { value: e.target.value })}
                  />
                </div>
                <button
                  type="button"
                  className="btn-secondary btn-sm self-start sm:self-center"
                  aria-label={`Remove ${label}`}
                  onClick={() => onChange(rows.filter((x) => x.key !== r.key))}
                >
                  Remove
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {hasStored ? (
        <p id={hiddenId} className="text-xs text-gray-600">
          Stored values are hidden — enter a new value to replace one. A change replaces them all together, so then enter
          every value again.
        </p>
      ) : null}
      <div className="flex flex-wrap gap-2">
        <button type="button" className="btn-secondary btn-sm" onClick={() => onChange([...rows, newSecretRow()])}>
          Add {noun}
        </button>
        {rows.length > 0 ? (
          <button type="button" className="btn-secondary btn-sm" onClick={() => onChange([])}>
            Remove all {kind === 'headers' ? 'headers' : 'variables'}
          </button>
        ) : null}
        {stored.length > 0 && changed ? (
          <button type="button" className="btn-ghost btn-sm" onClick={() => onChange(secretRowsFrom(stored))}>
            Keep the stored {kind === 'headers' ? 'headers' : 'variables'}
          </button>
        ) : null}
      </div>
      {error ? (
        <p id={`${id}-${kind}-error`} tabIndex={-1} role="alert" className="text-sm text-red-800">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}

// ---- tools and which are allowed ------------------------------------------------------

function when(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function ToolsAllowList({ server, onServer }: { server: McpServer; onServer: (s: McpServer) => void }) {
  const id = useId();
  const [listing, setListing] = useState(false);
  const [listError, setListError] = useState<unknown>(null);
  const [ticked, setTicked] = useState<Set<string>>(() => new Set(server.allowed_tools));
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const storedKey = server.allowed_tools.join('\n');

  // what is stored changed (a save here or elsewhere): start from it
  useEffect(() => {
    setTicked(new Set(server.allowed_tools));
    // on a change of the stored list only
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [storedKey]);

  const rows = allowRows(server.tools, [...new Set([...server.allowed_tools, ...ticked])]);
  const next = allowedFromRows(rows, ticked);
  const dirty = allowedChanged(server.allowed_tools, next);

  async function list() {
    setListing(true);
    setListError(null);
    setSaved(null);
    try {
      onServer(await api.refreshMcpServer(server.id));
    } catch (e) {
      setListError(e);
    } finally {
      setListing(false);
    }
  }

  async function save() {
    setSaving(true);
    setSaveError(null);
    setSaved(null);
    try {
      const s = await api.updateMcpServer(server.id, { allowed_tools: next });
      onServer(s);
      setSaved(
        s.allowed_tools.length === 0
          ? 'Saved: no tool is allowed.'
          : `Saved: ${plural(s.allowed_tools.length, 'tool')} allowed.`,
      );
    } catch (e) {
      setSaveError(e);
    } finally {
      setSaving(false);
    }
  }

  function toggle(name: string, on: boolean) {
    setSaved(null);
    setTicked((cur) => {
      const s = new Set(cur);
      if (on) s.add(name);
      else s.delete(name);
      return s;
    });
  }

  return (
    <section aria-labelledby={`${id}-h`} className="card space-y-4 p-5">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h3 id={`${id}-h`} className="text-base font-semibold text-gray-900">
            Tools
          </h3>
          <p className="mt-1 text-sm text-gray-700">
            {server.tools
              ? `${plural(server.tools.length, 'tool')} listed${server.tools_listed_at ? ` on ${when(server.tools_listed_at)}` : ''}.`
              : 'Not listed yet.'}{' '}
            Agents can be given only the allowed ones.
          </p>
        </div>
        <button type="button" className="btn-secondary" disabled={listing} onClick={() => void list()}>
          {listing ? 'Listing tools…' : 'List tools'}
        </button>
      </div>
      {listing ? <Spinner label="Asking the server for its tools…" /> : null}
      {listError ? (
        <ErrorAlert>
          The tools could not be listed: {errorMessage(listError)}
        </ErrorAlert>
      ) : server.last_error ? (
        <p className="flex items-start gap-1.5 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
          <WarningIcon className="mt-0.5 h-4 w-4 shrink-0 text-amber-700" />
          <span className="min-w-0 break-words">
            <span className="font-medium">Last error:</span> {server.last_error}
          </span>
        </p>
      ) : null}

      {rows.length > 0 ? (
        <ul aria-label={`Tools of ${server.name}`} className="divide-y divide-gray-100 rounded-md border border-gray-200">
          {rows.map((r) => {
            const cid = `${id}-allow-${r.name}`;
            const on = ticked.has(r.name);
            const reason = notAllowableReason(server.name, r.name);
            return (
              <li key={r.name} data-tool-name={r.name} className="flex flex-wrap items-start gap-x-4 gap-y-2 p-3">
                <div className="min-w-0 flex-1 basis-60">
                  <p className="break-all font-mono text-sm font-medium text-gray-900">
                    {r.name}
                    {!r.listed ? <span className="ml-2 font-sans text-xs font-normal text-amber-900">(not in the last listing)</span> : null}
                  </p>
                  {r.description ? <p className="mt-0.5 whitespace-pre-line break-words text-sm text-gray-700">{r.description}</p> : null}
                  {r.schema ? (
                    <details className="mt-1">
                      <summary className="cursor-pointer text-xs font-medium text-accent-700">
                        Input schema<span className="sr-only"> of {r.name}</span>
                      </summary>
                      <pre className="mt-1 max-h-60 overflow-auto whitespace-pre-wrap break-words rounded bg-gray-50 p-2 font-mono text-xs text-gray-900 ring-1 ring-gray-200">
                        {r.schema}
                      </pre>
                    </details>
                  ) : null}
                  {reason ? <p className="mt-1 text-xs text-amber-900">{reason}</p> : null}
                </div>
                <div className="flex items-center gap-2">
                  <input
                    id={cid}
                    type="checkbox"
                    className="h-4 w-4"
                    checked={on}
                    aria-label={`Allowed: ${r.name}`}
                    disabled={Boolean(reason) && !on}
                    onChange={(e) => toggle(r.name, e.target.checked)}
                  />
                  <label htmlFor={cid} className="text-sm text-gray-900">
                    Allowed
                  </label>
                </div>
              </li>
            );
          })}
        </ul>
      ) : server.tools ? (
        <p className="text-sm text-gray-700">The server lists no tools.</p>
      ) : null}

      <Row>
        {rows.length > 0 ? (
          <button type="button" className="btn-primary" disabled={!dirty || saving} onClick={() => void save()}>
            {saving ? 'Saving…' : 'Save allowed tools'}
          </button>
        ) : null}
        {dirty ? <span className="text-sm text-gray-700">Unsaved changes.</span> : null}
        <span role="status" className="text-sm text-green-800">
          {saved}
        </span>
      </Row>
      {saveError ? <ErrorAlert error={saveError} /> : null}
    </section>
  );
}

function Row({ children }: { children: ReactNode }) {
  return <div className="flex flex-wrap items-center gap-3">{children}</div>;
}
