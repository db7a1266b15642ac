// The agent marketplace (/agents): published agents by category, with a
// search, and one agent's page (/agents/:agentId) with what it can do and a
// way to start a chat with it.
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import type { Agent, AgentCategory } from '../../api/types';
import { ErrorAlert } from '../../components/ErrorAlert';
import { ListStatus } from '../../components/ListStatus';
import { Spinner } from '../../components/Loading';
import { useTitle } from '../../lib/useTitle';
import { useAgent } from './useAgent';
import { toolLabel } from '../../lib/agentTools';
import { newBotFromAgentPath } from '../bots/fromAgent';

export { TOOL_LABELS, toolLabel } from '../../lib/agentTools';

const PAGE = 24;

export default function AgentsScreen() {
  const { agentId } = useParams();
  return agentId ? <AgentPage agentId={agentId} /> : <Marketplace />;
}

function Marketplace() {
  useTitle('Agents');
  const [params, setParams] = useSearchParams();
  const category = params.get('category') ?? '';
  const q = params.get('q') ?? '';
  const [draft, setDraft] = useState(q);
  const [categories, setCategories] = useState<AgentCategory[] | null>(null);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const searchId = useId();

  const load = useCallback(
    async (after: string | null) => {
      setLoading(true);
      setError(null);
      try {
        const page = await api.agents({ category: category || undefined, q: q || undefined, limit: PAGE, cursor: after });
        setAgents((cur) => (after ? [...cur, ...page.items.filter((a) => !cur.some((c) => c.id === a.id))] : page.items));
        setCursor(page.next_cursor);
        setLoaded(true);
      } catch (e) {
        setError(e);
      } finally {
        setLoading(false);
      }
    },
    [category, q],
  );

  useEffect(() => {
    setLoaded(false);
    void load(null);
  }, [load]);

  useEffect(() => {
    const ctl = new AbortController();
    api.agentCategories(ctl.signal).then(
      (c) => setCategories(c.items),
      () => setCategories([]),
    );
    return () => ctl.abort();
  }, []);

  useEffect(() => setDraft(q), [q]);

  function choose(next: string) {
    const p = new URLSearchParams(params);
    if (next) p.set('category', next);
    else p.delete('category');
    setParams(p, { replace: true });
  }

  function search(e: FormEvent) {
    e.preventDefault();
    const p = new URLSearchParams(params);
    if (draft.trim()) p.set('q', draft.trim());
    else p.delete('q');
    setParams(p, { replace: true });
  }

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-5xl px-4 py-6 sm:px-6">
        <h1 className="text-2xl font-semibold text-gray-900">Agents</h1>
        <p className="mt-1 text-sm text-gray-700">Ready-made assistants with their own tools. Pick one and start a chat.</p>

        <form role="search" className="mt-4 flex flex-wrap gap-2" onSubmit={search}>
          <label htmlFor={searchId} className="sr-only">
            Search agents
          </label>
          <input
            id={searchId}
            type="search"
            className="input max-w-sm flex-1"
            placeholder="Search agents"
            value={draft}
            maxLength={200}
            onChange={(e) => setDraft(e.target.value)}
          />
          <button type="submit" className="btn-secondary">
            Search
          </button>
        </form>

        {categories && categories.length > 0 ? (
          <nav aria-label="Categories" className="mt-4 flex flex-wrap gap-2">
            {[{ category: '', agents: 0 }, ...categories].map((c) => {
              const current = c.category === category;
              return (
                <button
                  key={c.category || '(all)'}
                  type="button"
                  aria-pressed={current}
                  className={current ? 'btn-primary btn-sm' : 'btn-secondary btn-sm'}
                  onClick={() => choose(c.category)}
                >
                  {c.category ? `${c.category} (${c.agents})` : 'All'}
                </button>
              );
            })}
          </nav>
        ) : null}

        <ListStatus
          error={error}
          loading={loading}
          loaded={loaded}
          label="Loading agents…"
          onRetry={() => void load(loaded ? cursor : null)}
        />

        {loaded && agents.length === 0 && !error ? (
          <div className="card mt-6 p-8 text-center">
            <h2 className="text-lg font-semibold text-gray-900">No agents found</h2>
            <p className="mt-2 text-gray-700">
              {q || category ? 'Try another search or category.' : 'No agent is published on this server yet.'}
            </p>
          </div>
        ) : null}

        <ul className="mt-6 grid gap-4 sm:grid-cols-2 lg:grid-cols-3" aria-label="Agents">
          {agents.map((a) => (
            <li key={a.id}>
              <article className="card flex h-full flex-col p-4">
                <p className="text-xs font-medium uppercase tracking-wide text-gray-600">{a.category}</p>
                <h2 className="mt-1 truncate text-base font-semibold text-gray-900" title={a.name}>
                  <Link to={`/agents/${encodeURIComponent(a.id)}`} className="hover:underline">
                    {a.name}
                  </Link>
                </h2>
                <p className="mt-1 line-clamp-3 flex-1 text-sm text-gray-700">{a.description}</p>
                {a.tools.length > 0 || a.sub_agents.length > 0 ? (
                  <p className="mt-3 text-xs text-gray-600">
                    {[
                      ...a.tools.map(toolLabel),
                      ...(a.sub_agents.length > 0
                        ? [a.sub_agents.length === 1 ? '1 sub-agent' : `${a.sub_agents.length} sub-agents`]
                        : []),
                    ].join(' · ')}
                  </p>
                ) : null}
                <div className="mt-4 flex flex-wrap gap-2">
                  <Link to={`/chat?agent=${encodeURIComponent(a.id)}`} className="btn-primary btn-sm">
                    Chat with {a.name}
                  </Link>
                  <Link to={`/agents/${encodeURIComponent(a.id)}`} className="btn-secondary btn-sm">
                    Details
                  </Link>
                </div>
              </article>
            </li>
          ))}
        </ul>

        {cursor ? (
          <div className="mt-6 flex justify-center">
            <button type="button" className="btn-secondary" disabled={loading} onClick={() => void load(cursor)}>
              Load more agents
            </button>
          </div>
        ) : null}
      </div>
    </div>
  );
}

function AgentPage({ agentId }: { agentId: string }) {
  const { agent, error } = useAgent(agentId);
  const [subs, setSubs] = useState<Record<string, Agent | null>>({});
  useTitle(agent ? agent.name : 'Agent');

  useEffect(() => {
    if (!agent) return;
    const ctl = new AbortController();
    for (const id of agent.sub_agents) {
      api.agent(id, ctl.signal).then(
        (a) => setSubs((cur) => ({ ...cur, [id]: a })),
        () => setSubs((cur) => ({ ...cur, [id]: null })),
      );
    }
    return () => ctl.abort();
  }, [agent]);

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-3xl px-4 py-6 sm:px-6">
        <p>
          <Link to="/agents" className="link text-sm">
            ← All agents
          </Link>
        </p>
        {error ? (
          <div className="mt-4">
            <ErrorAlert error={error} />
          </div>
        ) : !agent ? (
          <div className="mt-6">
            <Spinner label="Loading the agent…" />
          </div>
        ) : (
          <article className="mt-4">
            <p className="text-xs font-medium uppercase tracking-wide text-gray-600">{agent.category}</p>
            <h1 className="mt-1 text-2xl font-semibold text-gray-900">{agent.name}</h1>
            <p className="mt-2 text-gray-700">{agent.description}</p>
            <p className="mt-4 flex flex-wrap gap-2">
              <Link to={`/chat?agent=${encodeURIComponent(agent.id)}`} className="btn-primary">
                Chat with {agent.name}
              </Link>
              <Link to={newBotFromAgentPath(agent.id)} className="btn-secondary">
                Make a bot from this agent
              </Link>
            </p>
            <dl className="mt-6 grid grid-cols-[auto,1fr] gap-x-4 gap-y-2 text-sm">
              <dt className="text-gray-600">Model</dt>
              <dd className="text-gray-900">{agent.model_id === 'local' ? 'Offline model (local)' : agent.model_id}</dd>
              <dt className="text-gray-600">Tools</dt>
              <dd className="text-gray-900">{agent.tools.length ? agent.tools.map(toolLabel).join(', ') : 'None'}</dd>
              <dt className="text-gray-600">Hands work to</dt>
              <dd className="text-gray-900">
                {agent.sub_agents.length === 0 ? (
                  'No other agent'
                ) : (
                  <ul>
                    {agent.sub_agents.map((id) => (
                      <li key={id}>
                        {subs[id] ? (
                          <Link to={`/agents/${encodeURIComponent(id)}`} className="link">
                            {subs[id]?.name}
                          </Link>
                        ) : subs[id] === null ? (
                          'an agent that is not published'
                        ) : (
                          '…'
                        )}
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
              <dt className="text-gray-600">Limits</dt>
              <dd className="text-gray-900">
                up to {agent.limits.max_steps} steps, {agent.limits.timeout_seconds} s a run,{' '}
                {agent.limits.tool_timeout_seconds} s a tool call
              </dd>
            </dl>
            <h2 className="mt-6 text-base font-semibold text-gray-900">Instructions</h2>
            <p className="mt-1 whitespace-pre-wrap text-sm text-gray-700">{agent.instructions || 'None'}</p>
          </article>
        )}
      </div>
    </div>
  );
}
