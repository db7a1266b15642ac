import { useCallback, useEffect, useId, useState } from 'react';
import { Link, useMatch, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../../api/client';
import { ApiError } from '../../api/errors';
import { sharingApi, visibilityOf } from '../../api/sharing';
import type { Bot, Model, SharedBot } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { ListStatus } from '../../components/ListStatus';
import { Spinner } from '../../components/Loading';
import { plural } from '../../lib/format';
import { CREATE_NOT_ALLOWED, usePermissions } from '../../lib/permissions';
import { useTitle } from '../../lib/useTitle';
import { BotForm, botKnowledgeBaseIds, modelLabel } from './BotForm';
import { PinButton, VisibilityBadge } from './botBits';
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
  const perms = usePermissions();
  const canCreate = perms.create_bots;

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
          {canCreate ? (
            <button type="button" className="btn-primary" onClick={() => setEditing('new')}>
              Create bot
            </button>
          ) : null}
        </div>
        {!canCreate ? (
          <p role="note" className="alert-info mt-4" data-create-not-allowed="">
            {CREATE_NOT_ALLOWED} You can still chat with bots shared with you and those in the{' '}
            <Link to="/store" className="link">
              store
            </Link>
            .
          </p>
        ) : null}

        <h2 className="mt-6 text-lg font-semibold text-gray-900">Your bots</h2>

        <ListStatus
          error={error}
          loading={loading}
          loaded={loaded}
          label="Loading bots…"
          onRetry={() => void load(loaded ? cursor : null)}
        />

        {loaded && bots.length === 0 ? (
          <div className="card mt-6 p-8 text-center">
            <h3 className="text-lg font-semibold text-gray-900">No bots yet</h3>
            <p className="mt-2 text-gray-700">
              {canCreate ? 'Create your first bot to start chatting.' : 'You have no bots of your own.'}
            </p>
          </div>
        ) : null}

        <ul className="mt-4 grid gap-4 sm:grid-cols-2" aria-label="Your bots">
          {bots.map((b) => (
            <li key={b.id}>
              <article className="card flex h-full flex-col p-4">
                <div className="flex items-start justify-between gap-2">
                  <h3 className="truncate text-base font-semibold text-gray-900" title={b.name}>
                    {b.name}
                  </h3>
                  <VisibilityBadge visibility={visibilityOf(b)} />
                </div>
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
                  {b.use_count !== undefined ? (
                    <>
                      <dt className="text-gray-600">Used</dt>
                      <dd>{plural(b.use_count, 'chat')}</dd>
                    </>
                  ) : null}
                </dl>
                <div className="mt-4 flex flex-wrap gap-2 pt-1">
                  <Link to={`/chat?bot=${encodeURIComponent(b.id)}`} className="btn-primary btn-sm">
                    Talk to {b.name}
                  </Link>
                  <button type="button" className="btn-secondary btn-sm" onClick={() => setEditing(b)}>
                    Edit
                  </button>
                  <Link
                    to={`/bots/${encodeURIComponent(b.id)}`}
                    className="btn-secondary btn-sm"
                    aria-label={`Sharing and usage of ${b.name}`}
                  >
                    Sharing &amp; usage
                  </Link>
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

        <SharedWithMe />
      </div>

      {editing === 'new' && !canCreate ? null : editing === 'new' && fromAgent && !source.agent && !source.error ? (
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

/** "Shared with me": others' bots the caller was named on, or pinned. */
function SharedWithMe() {
  const id = useId();
  const navigate = useNavigate();
  const [bots, setBots] = useState<SharedBot[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [unsupported, setUnsupported] = useState(false);

  const load = useCallback(async (after: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const page = await sharingApi.shared({ limit: PAGE, cursor: after });
      setBots((cur) => (after ? [...cur, ...page.items.filter((b) => !cur.some((c) => c.id === b.id))] : page.items));
      setCursor(page.next_cursor);
      setLoaded(true);
    } catch (e) {
      // a server without sharing: no section
      if (e instanceof ApiError && (e.status === 404 || e.status === 400) && !after) setUnsupported(true);
      else setError(e);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(null);
  }, [load]);

  if (unsupported) return null;

  return (
    <section aria-labelledby={`${id}-h`} className="mt-10">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Shared with me
      </h2>
      <p className="mt-1 text-sm text-gray-700">
        Bots other people shared with you by name, and the ones you pinned. Find more in the{' '}
        <Link to="/store" className="link">
          store
        </Link>
        .
      </p>
      <ListStatus
        error={error}
        loading={loading}
        loaded={loaded}
        label="Loading bots shared with you…"
        onRetry={() => void load(loaded ? cursor : null)}
      />
      {loaded && bots.length === 0 ? (
        <p className="mt-4 text-sm text-gray-700">No bot is shared with you yet.</p>
      ) : null}
      <ul className="mt-4 grid gap-4 sm:grid-cols-2" aria-labelledby={`${id}-h`} data-list="shared-with-me">
        {bots.map((b) => (
          <li key={b.id}>
            <article className="card flex h-full flex-col p-4" data-bot-id={b.id}>
              <div className="flex items-start justify-between gap-2">
                <h3 className="truncate text-base font-semibold text-gray-900" title={b.name}>
                  <Link to={`/bots/${encodeURIComponent(b.id)}`} className="hover:underline">
                    {b.name}
                  </Link>
                </h3>
                <VisibilityBadge visibility={b.visibility} />
              </div>
              <p className="mt-1 text-xs text-gray-700">
                by {b.owner?.username ?? 'another user'}
                {b.pinned ? ' · pinned' : ''}
              </p>
              {b.description ? <p className="mt-1 line-clamp-3 text-sm text-gray-700">{b.description}</p> : null}
              <div className="mt-4 flex flex-wrap gap-2 pt-1">
                <button
                  type="button"
                  className="btn-primary btn-sm"
                  aria-label={`Chat with ${b.name}`}
                  onClick={() => navigate(`/chat?bot=${encodeURIComponent(b.id)}`)}
                >
                  Chat
                </button>
                <PinButton
                  bot={b}
                  size="btn-sm"
                  onChange={(pinned) => setBots((cur) => cur.map((x) => (x.id === b.id ? { ...x, pinned } : x)))}
                />
              </div>
            </article>
          </li>
        ))}
      </ul>
      {cursor ? (
        <div className="mt-6 flex justify-center">
          <button type="button" className="btn-secondary" disabled={loading} onClick={() => void load(cursor)}>
            Load more shared bots
          </button>
        </div>
      ) : null}
    </section>
  );
}
