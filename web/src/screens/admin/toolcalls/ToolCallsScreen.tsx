// /admin/tool-calls: the audit of agents' tool calls, newest first, by
// user id and tool (the server's filters, kept in the address), paged with
// "Load more tool calls". A table on wide screens, a card a call on a
// phone; each call's button opens its input (JSON) and output or error.
import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api } from '../../../api/client';
import type { AdminToolCall } from '../../../api/types';
import { ListStatus } from '../../../components/ListStatus';
import { SearchField } from '../../../components/SearchField';
import { Spinner } from '../../../components/Loading';
import { CheckIcon, ChevronRightIcon, WarningIcon } from '../../../components/Icons';
import { useTitle } from '../../../lib/useTitle';
import { formatMs, prettyJson } from '../../chat/toolCallModel';
import { auditQuery, toolCallSummary, toolCallUser } from './toolCallAudit';

const PAGE = 50;

const PRE =
  'max-h-72 overflow-auto whitespace-pre-wrap break-words rounded bg-white p-2 font-mono text-xs leading-snug text-gray-900 ring-1 ring-gray-200';

// one markup for both: table parts on md and up, a flex card below
const CELL = 'md:table-cell md:px-3 md:py-2 md:align-top';

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export default function ToolCallsScreen() {
  useTitle('Tool calls · Administration');
  const id = useId();
  const [params, setParams] = useSearchParams();
  const userId = params.get('user_id') ?? '';
  const tool = params.get('tool') ?? '';
  const [userDraft, setUserDraft] = useState(userId);
  const [toolDraft, setToolDraft] = useState(tool);
  const [calls, setCalls] = useState<AdminToolCall[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const seq = useRef(0);
  const filters = useMemo(() => auditQuery(userId, tool), [userId, tool]);

  const load = useCallback(
    async (after: string | null) => {
      const mine = ++seq.current;
      setLoading(true);
      setError(null);
      try {
        const page = await api.adminToolCalls({ ...filters, limit: PAGE, cursor: after });
        if (mine !== seq.current) return;
        setCalls((cur) => (after ? [...cur, ...page.items.filter((c) => !cur.some((x) => x.id === c.id))] : page.items));
        setCursor(page.next_cursor);
        setLoaded(true);
      } catch (e) {
        if (mine === seq.current) setError(e);
      } finally {
        if (mine === seq.current) setLoading(false);
      }
    },
    [filters],
  );

  useEffect(() => {
    setLoaded(false);
    void load(null);
  }, [load]);

  // the filters apply a moment after the last key (or at once on Enter)
  const apply = useCallback(
    (u: string, t: string) => {
      const q = auditQuery(u, t);
      if ((q.user_id ?? '') === userId && (q.tool ?? '') === tool) return;
      const next = new URLSearchParams(params);
      for (const k of ['user_id', 'tool'] as const) {
        if (q[k]) next.set(k, q[k] as string);
        else next.delete(k);
      }
      setParams(next, { replace: true });
    },
    [params, setParams, userId, tool],
  );

  useEffect(() => {
    const t = setTimeout(() => apply(userDraft, toolDraft), 400);
    return () => clearTimeout(t);
  }, [userDraft, toolDraft, apply]);

  const filtered = Boolean(filters.user_id || filters.tool);

  return (
    <section aria-labelledby={`${id}-h`} className="space-y-4">
      <div>
        <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
          Tool calls
        </h2>
        <p className="mt-1 text-sm text-gray-700">Every tool an agent called, for whom, and what it answered. Newest first.</p>
      </div>

      <form
        role="search"
        aria-label="Filter tool calls"
        className="flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          apply(userDraft, toolDraft);
        }}
      >
        <SearchField
          id={`${id}-user`}
          label="User id"
          className="input font-mono"
          value={userDraft}
          maxLength={1024}
          autoComplete="off"
          spellCheck={false}
          onChange={setUserDraft}
        />
        <SearchField
          id={`${id}-tool`}
          label="Tool"
          basis="basis-40"
          className="input font-mono"
          value={toolDraft}
          maxLength={1024}
          autoComplete="off"
          spellCheck={false}
          placeholder="calculator"
          onChange={setToolDraft}
        />
        <button type="submit" className="btn-secondary">
          Filter
        </button>
      </form>

      <ListStatus
        error={error}
        loading={loading}
        loaded={loaded}
        label="Loading tool calls…"
        onRetry={() => void load(loaded ? cursor : null)}
      />

      {loaded && calls.length === 0 && !error ? (
        <div className="card p-8 text-center">
          <h3 className="text-lg font-semibold text-gray-900">{filtered ? 'No tool call matches' : 'No tool calls yet'}</h3>
          <p className="mt-2 text-gray-700">
            {filtered ? 'Nothing matches these filters (the user id and the tool must match exactly).' : 'They are listed here once an agent calls a tool.'}
          </p>
        </div>
      ) : null}

      {calls.length > 0 ? (
        <div className="card overflow-x-auto">
          <table className="block w-full text-left text-sm md:table">
            <caption className="sr-only">Tool calls, newest first</caption>
            <thead className="hidden text-gray-700 md:table-header-group">
              <tr className="border-b border-gray-200">
                <th scope="col" className="px-3 py-2 font-medium">Time</th>
                <th scope="col" className="px-3 py-2 font-medium">User</th>
                <th scope="col" className="px-3 py-2 font-medium">Tool</th>
                <th scope="col" className="px-3 py-2 font-medium">Result</th>
                <th scope="col" className="px-3 py-2 text-right font-medium">Took</th>
                <th scope="col" className="px-3 py-2 font-medium">Input → output</th>
                <th scope="col" className="px-3 py-2 font-medium">
                  <span className="sr-only">Details</span>
                </th>
              </tr>
            </thead>
            {calls.map((c) => (
              <ToolCallRow key={c.id} call={c} />
            ))}
          </table>
        </div>
      ) : null}

      {loading && loaded ? <Spinner label="Loading more tool calls…" /> : null}
      {cursor && !loading ? (
        <div className="flex justify-center">
          <button type="button" className="btn-secondary" onClick={() => void load(cursor)}>
            Load more tool calls
          </button>
        </div>
      ) : null}
    </section>
  );
}

function ToolCallRow({ call: c }: { call: AdminToolCall }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const time = when(c.created_at);
  const user = toolCallUser(c);
  return (
    <tbody
      data-tool-call-row=""
      data-tool-call-id={c.id}
      data-ok={c.ok ? 'true' : 'false'}
      data-tool={c.tool}
      data-user-id={c.user_id}
      className="block border-b border-gray-100 last:border-b-0 md:table-row-group"
    >
      <tr className="flex flex-wrap items-center gap-x-3 gap-y-1 p-3 md:table-row md:p-0">
        <td className={`${CELL} text-xs text-gray-700 md:whitespace-nowrap`}>
          <time dateTime={c.created_at}>{time}</time>
        </td>
        <td className={`${CELL} min-w-0 break-all text-gray-900`} title={c.user_id}>
          <span className="md:hidden">by </span>
          {user}
        </td>
        <td className={`${CELL} basis-full font-mono text-[0.8rem] font-medium text-gray-900 md:basis-auto`}>
          <span className="break-all">{c.tool}</span>
        </td>
        <td className={CELL}>
          {c.ok ? (
            <span className="inline-flex items-center gap-1 text-xs font-medium text-green-800">
              <CheckIcon className="h-4 w-4 shrink-0" />
              OK
            </span>
          ) : (
            <span className="inline-flex items-center gap-1 text-xs font-medium text-red-800">
              <WarningIcon className="h-4 w-4 shrink-0" />
              Failed
            </span>
          )}
        </td>
        <td className={`${CELL} text-xs tabular-nums text-gray-700 md:whitespace-nowrap md:text-right`}>
          {formatMs(c.duration_ms)}
        </td>
        <td className={`${CELL} min-w-0 basis-full md:basis-auto`}>
          <div
            data-tool-summary=""
            className={`break-words md:max-w-[13rem] md:truncate lg:max-w-[20rem] ${c.ok ? 'text-gray-700' : 'text-red-800'}`}
          >
            {toolCallSummary(c)}
          </div>
        </td>
        <td className={`${CELL} md:text-right`}>
          <button
            type="button"
            className="btn-secondary btn-sm"
            aria-expanded={open}
            aria-controls={open ? panelId : undefined}
            aria-label={`Details of ${c.tool} by ${user}, ${time}`}
            onClick={() => setOpen((o) => !o)}
          >
            Details
            <ChevronRightIcon
              className={`h-4 w-4 shrink-0 transition-transform motion-reduce:transition-none ${open ? 'rotate-90' : ''}`}
            />
          </button>
        </td>
      </tr>
      {open ? (
        <tr id={panelId} className="block md:table-row">
          <td colSpan={7} className="block bg-gray-50 px-3 pb-3 pt-2 md:table-cell">
            <dl className="grid gap-3 text-xs md:grid-cols-2">
              <div className="min-w-0">
                <dt className="mb-1 font-semibold text-gray-700">Input</dt>
                <dd>
                  <pre data-tool-input="" tabIndex={0} className={PRE}>
                    {prettyJson(c.input)}
                  </pre>
                </dd>
              </div>
              <div className="min-w-0">
                <dt className="mb-1 font-semibold text-gray-700">{c.ok ? 'Output' : 'Error'}</dt>
                <dd>
                  {c.ok ? (
                    <pre data-tool-output="" tabIndex={0} className={PRE}>
                      {c.output || '(empty)'}
                    </pre>
                  ) : (
                    <pre data-tool-error="" tabIndex={0} className={`${PRE} text-red-800`}>
                      {c.error || '(no message)'}
                    </pre>
                  )}
                </dd>
              </div>
              <div className="min-w-0 md:col-span-2">
                <dt className="sr-only">Where</dt>
                <dd className="break-all text-gray-700">
                  User id <span className="font-mono">{c.user_id}</span> · step {c.step} · call{' '}
                  <span className="font-mono">{c.call_id}</span>
                  {c.chat_id ? (
                    <>
                      {' '}
                      · chat <span className="font-mono">{c.chat_id}</span>
                    </>
                  ) : null}
                  {c.agent_id ? (
                    <>
                      {' '}
                      ·{' '}
                      <Link to={`/admin/agents/${encodeURIComponent(c.agent_id)}`} className="link">
                        the agent
                      </Link>
                    </>
                  ) : null}
                </dd>
              </div>
            </dl>
          </td>
        </tr>
      ) : null}
    </tbody>
  );
}
