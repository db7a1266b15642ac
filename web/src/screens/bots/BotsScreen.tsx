import { useCallback, useEffect, useState } from 'react';
import { Link, useMatch, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import type { Bot, Model } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { ListStatus } from '../../components/ListStatus';
import { Spinner } from '../../components/Loading';
import { useTitle } from '../../lib/useTitle';
import { BotForm, botKnowledgeBaseIds, modelLabel } from './BotForm';
import { botDraftFromAgent, missingFromBot, useAgentForBot } from './fromAgent';

const PAGE = 20;

function knowledgeLabel(b: Bot): string {
  const count = botKnowledgeBaseIds(b).length;
  if (!b.rag_enabled || count === 0) return 'Off';
  return count === 1 ? '1 knowledge base' : `${count} knowledge bases`;
}

export default function BotsScreen() {
  useTitle('Bots');
  const [bots, setBots] = useState<Bot[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [models, setModels] = useState<Model[] | null>(null);
  const [defaultModel, setDefaultModel] = useState('local');
  const [modelsFailed, setModelsFailed] = useState(false);
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  // /bots/new opens the new-bot form; ?from_agent=<id> prefills it from an agent
  const isNew = useMatch('/bots/new') !== null;
  const fromAgent = isNew ? params.get('from_agent') || null : null;
  const source = useAgentForBot(fromAgent);
  const [editing, setEditing] = useState<Bot | 'new' | null>(isNew || params.get('new') ? 'new' : null);
  const [deleting, setDeleting] = useState<Bot | null>(null);

  useEffect(() => {
    if (isNew) setEditing('new');
  }, [isNew, fromAgent]);

  const load = useCallback(async (after: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const page = await api.bots({ limit: PAGE, cursor: after });
      setBots((cur) => {
        if (!after) return page.items;
        const have = new Set(cur.map((b) => b.id));
        return [...cur, ...page.items.filter((b) => !have.has(b.id))];
      });
      setCursor(page.next_cursor);
      setLoaded(true);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(null);
    const ctl = new AbortController();
    api.models(ctl.signal).then(
      (m) => {
        setModels(m.items);
        if (m.default) setDefaultModel(m.default);
      },
      () => setModelsFailed(true),
    );
    return () => ctl.abort();
  }, [load]);

  function closeForm() {
    setEditing(null);
    if (isNew) {
      navigate('/bots', { replace: true });
    } else if (params.get('new')) {
      params.delete('new');
      setParams(params, { replace: true });
    }
  }

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-4xl px-4 py-6 sm:px-6">
        <div className="flex flex-wrap items-center justify-between gap-3">
          <div>
            <h1 className="text-2xl font-semibold text-gray-900">Bots</h1>
            <p className="mt-1 text-sm text-gray-700">A bot is a model with your instructions.</p>
          </div>
          <button type="button" className="btn-primary" onClick={() => setEditing('new')}>
            Create bot
          </button>
        </div>

        <ListStatus
          error={error}
          loading={loading}
          loaded={loaded}
          label="Loading bots…"
          onRetry={() => void load(loaded ? cursor : null)}
        />

        {loaded && bots.length === 0 ? (
          <div className="card mt-6 p-8 text-center">
            <h2 className="text-lg font-semibold text-gray-900">No bots yet</h2>
            <p className="mt-2 text-gray-700">Create your first bot to start chatting.</p>
          </div>
        ) : null}

        <ul className="mt-6 grid gap-4 sm:grid-cols-2" aria-label="Your bots">
          {bots.map((b) => (
            <li key={b.id}>
              <article className="card flex h-full flex-col p-4">
                <h2 className="truncate text-base font-semibold text-gray-900" title={b.name}>
                  {b.name}
                </h2>
                {b.description ? (
                  <p className="mt-1 line-clamp-3 text-sm text-gray-700">{b.description}</p>
                ) : null}
                <dl className="mt-3 grid grid-cols-[auto,1fr] gap-x-3 gap-y-1 text-xs text-gray-700">
                  <dt className="text-gray-600">Model</dt>
                  <dd className="truncate">{modelLabel(models, b.model_id)}</dd>
                  <dt className="text-gray-600">Temperature</dt>
                  <dd>{b.temperature}</dd>
                  <dt className="text-gray-600">Max tokens</dt>
                  <dd>{b.max_tokens}</dd>
                  <dt className="text-gray-600">Knowledge</dt>
                  <dd>{knowledgeLabel(b)}</dd>
                </dl>
                <div className="mt-4 flex flex-wrap gap-2 pt-1">
                  <Link to={`/chat?bot=${encodeURIComponent(b.id)}`} className="btn-primary btn-sm">
                    Talk to {b.name}
                  </Link>
                  <button type="button" className="btn-secondary btn-sm" onClick={() => setEditing(b)}>
                    Edit
                  </button>
                  <button type="button" className="btn-secondary btn-sm" onClick={() => setDeleting(b)}>
                    Delete
                  </button>
                </div>
              </article>
            </li>
          ))}
        </ul>

        {cursor ? (
          <div className="mt-6 flex justify-center">
            <button type="button" className="btn-secondary" disabled={loading} onClick={() => void load(cursor)}>
              Load more bots
            </button>
          </div>
        ) : null}
      </div>

      {editing === 'new' && fromAgent && !source.agent && !source.error ? (
        <div className="absolute inset-x-0 top-24 flex justify-center">
          <Spinner label="Loading the agent…" />
        </div>
      ) : editing ? (
        <BotForm
          key={editing === 'new' ? `new:${fromAgent ?? ''}` : editing.id}
          bot={editing === 'new' ? null : editing}
          draft={editing === 'new' && source.agent ? botDraftFromAgent(source.agent) : null}
          note={editing === 'new' && fromAgent ? <FromAgentNote source={source} /> : null}
          models={models}
          modelsFailed={modelsFailed}
          defaultModel={defaultModel}
          onClose={closeForm}
          onSaved={(saved) => {
            setBots((cur) =>
              cur.some((b) => b.id === saved.id) ? cur.map((b) => (b.id === saved.id ? saved : b)) : [saved, ...cur],
            );
            setLoaded(true);
          }}
        />
      ) : null}

      {deleting ? (
        <ConfirmDialog
          title="Delete this bot?"
          description={
            <>
              “{deleting.name}” will be deleted. Its chats stay, but cannot continue with it. This cannot be
              undone.
            </>
          }
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await api.deleteBot(deleting.id);
            setBots((cur) => cur.filter((b) => b.id !== deleting.id));
          }}
        />
      ) : null}
    </div>
  );
}

/** Above a bot form prefilled from an agent: which agent, and what of it a
 * bot cannot have (tools, sub-agents). */
function FromAgentNote({ source }: { source: ReturnType<typeof useAgentForBot> }) {
  if (source.error) {
    return <ErrorAlert>The agent could not be loaded: {errorMessage(source.error)}</ErrorAlert>;
  }
  const agent = source.agent;
  if (!agent) return null;
  const { tools, subAgents } = missingFromBot(agent, source.names);
  if (tools.length === 0 && subAgents.length === 0) {
    return (
      <p data-from-agent-note="" className="rounded-md bg-gray-50 p-3 text-sm text-gray-800 ring-1 ring-gray-200">
        Filled in from the agent “{agent.name}”.
      </p>
    );
  }
  return (
    <div
      role="note"
      data-from-agent-note=""
      className="rounded-md bg-amber-50 p-3 text-sm text-amber-900 ring-1 ring-amber-200"
    >
      <p>
        Filled in from the agent “{agent.name}”. A bot has no tools and hands no work to other agents, so this bot
        will not have:
      </p>
      <ul className="mt-1 list-disc space-y-0.5 pl-5">
        {tools.length > 0 ? (
          <li data-missing="tools">
            {tools.length === 1 ? 'the tool' : 'the tools'} {tools.join(', ')}
          </li>
        ) : null}
        {subAgents.length > 0 ? (
          <li data-missing="sub-agents">
            {subAgents.length === 1 ? 'the sub-agent' : 'the sub-agents'} {subAgents.join(', ')}
          </li>
        ) : null}
      </ul>
    </div>
  );
}
