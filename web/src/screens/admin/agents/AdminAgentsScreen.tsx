// /admin/agents: every agent, whatever its status, with a search (the
// server's) and a status filter (over the agents loaded so far: the API
// filters by text and category only), paged with "Load more agents".
import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../../../api/client';
import type { Agent, AgentStatus, Model } from '../../../api/types';
import { ListStatus } from '../../../components/ListStatus';
import { SearchField } from '../../../components/SearchField';
import { Spinner } from '../../../components/Loading';
import { PlusIcon } from '../../../components/Icons';
import { plural } from '../../../lib/format';
import { modelLabel } from '../../../lib/models';
import { useTitle } from '../../../lib/useTitle';
import { StatusBadge } from '../badges';
import { Notice, useNotice } from '../notice';
import { STATUS_TEXT } from './agentForm';

const PAGE = 25;

export default function AdminAgentsScreen() {
  useTitle('Agents · Administration');
  const id = useId();
  const [notice, setNotice] = useNotice();
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState<AgentStatus | ''>('');
  const [agents, setAgents] = useState<Agent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [models, setModels] = useState<Model[] | null>(null);
  const seq = useRef(0);

  const load = useCallback(async (search: string, after: string | null) => {
    const mine = ++seq.current;
    setLoading(true);
    setError(null);
    try {
      const page = await api.adminAgents({ q: search || undefined, limit: PAGE, cursor: after });
      if (mine !== seq.current) return;
      setAgents((cur) => (after ? [...cur, ...page.items.filter((a) => !cur.some((c) => c.id === a.id))] : page.items));
      setCursor(page.next_cursor);
      setLoaded(true);
    } catch (e) {
      if (mine === seq.current) setError(e);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, []);

  // search as you type, a moment after the last key
  useEffect(() => {
    const t = setTimeout(() => setQuery(q.trim()), 300);
    return () => clearTimeout(t);
  }, [q]);

  useEffect(() => {
    setLoaded(false);
    void load(query, null);
  }, [query, load]);

  useEffect(() => {
    const ctl = new AbortController();
    api.models(ctl.signal).then(
      (m) => setModels(m.items),
      () => setModels(null),
    );
    return () => ctl.abort();
  }, []);

  const shown = useMemo(() => (status ? agents.filter((a) => a.status === status) : agents), [agents, status]);

  return (
    <section aria-labelledby={`${id}-h`} className="space-y-4">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
            Agents
          </h2>
          <p className="mt-1 text-sm text-gray-700">
            Drafts, published and retired agents. Published ones are in the{' '}
            <Link to="/agents" className="link">
              marketplace
            </Link>
            .
          </p>
        </div>
        <Link to="/admin/agents/new" className="btn-primary">
          <PlusIcon />
          New agent
        </Link>
      </div>

      <Notice text={notice} onDismiss={() => setNotice(null)} />

      <form
        role="search"
        aria-label="Find agents"
        className="flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(q.trim());
        }}
      >
        <SearchField
          id={`${id}-q`}
          label="Search agents"
          value={q}
          maxLength={200}
          placeholder="Name or description"
          onChange={setQ}
        />
        <div>
          <label htmlFor={`${id}-status`} className="label">
            Status
          </label>
          <select
            id={`${id}-status`}
            className="input w-auto"
            value={status}
            onChange={(e) => setStatus(e.target.value as AgentStatus | '')}
          >
            <option value="">Any status</option>
            {(Object.keys(STATUS_TEXT) as AgentStatus[]).map((s) => (
              <option key={s} value={s}>
                {STATUS_TEXT[s]}
              </option>
            ))}
          </select>
        </div>
      </form>

      <ListStatus
        error={error}
        loading={loading}
        loaded={loaded}
        label="Loading agents…"
        onRetry={() => void load(query, loaded ? cursor : null)}
      />

      {loaded && agents.length === 0 && !error ? (
        <div className="card p-8 text-center">
          <h3 className="text-lg font-semibold text-gray-900">{query ? 'No agent matches' : 'No agents yet'}</h3>
          <p className="mt-2 text-gray-700">
            {query ? `Nothing matches “${query}”.` : 'Create the first one with “New agent”.'}
          </p>
        </div>
      ) : null}
      {loaded && agents.length > 0 && shown.length === 0 ? (
        <p className="text-sm text-gray-700">
          None of the {plural(agents.length, 'agent')} loaded is {STATUS_TEXT[status as AgentStatus].toLowerCase()}
          {cursor ? '; load more to look further.' : '.'}
        </p>
      ) : null}

      {shown.length > 0 ? (
        <ul aria-label="Agents" className="card divide-y divide-gray-100">
          {shown.map((a) => (
            <li key={a.id} data-agent-id={a.id} data-status={a.status} className="flex flex-wrap items-center gap-x-4 gap-y-2 p-4">
              <div className="min-w-0 flex-1 basis-64">
                <div className="flex flex-wrap items-center gap-2">
                  <Link to={`/admin/agents/${encodeURIComponent(a.id)}`} className="link break-words text-base">
                    {a.name}
                  </Link>
                  <StatusBadge status={a.status} />
                </div>
                <p className="mt-1 break-words text-xs text-gray-700">
                  {a.category} · {modelLabel(models, a.model_id)}
                </p>
              </div>
              <p className="text-xs text-gray-700">
                {plural(a.tools.length, 'tool')} · {plural(a.sub_agents.length, 'sub-agent')}
              </p>
            </li>
          ))}
        </ul>
      ) : null}

      {loading && loaded ? <Spinner label="Loading more agents…" /> : null}
      {cursor && !loading ? (
        <div className="flex justify-center">
          <button type="button" className="btn-secondary" onClick={() => void load(query, cursor)}>
            Load more agents
          </button>
        </div>
      ) : null}
    </section>
  );
}
