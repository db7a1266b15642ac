// One bot's page (/bots/:botId), which is also the address its owner
// shares.  The owner sees its settings, who it is shared with (visibility,
// the link, named people), how much it is used, and (when allowed to
// publish) a way to its API keys.  Anyone else it is shared with sees only
// its name, description and owner, with "Chat" and Pin/Unpin.
import { useCallback, useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../../api/client';
import { ApiError } from '../../api/errors';
import { botLink, isOwnBot, sharingApi, visibilityOf } from '../../api/sharing';
import type { AnyBot, Bot, BotShare, BotUsage, Model, SharedBot, Visibility } from '../../api/types';
import { CopyButton } from '../../components/CopyButton';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { n, plural } from '../../lib/format';
import { PUBLISH_NOT_ALLOWED, usePermissions } from '../../lib/permissions';
import { useTitle } from '../../lib/useTitle';
import { fillDays, UsageChart } from '../account/UsageChart';
import { useChat } from '../chat/chatStore';
import { BotForm, modelLabel } from './BotForm';
import { PinButton, VisibilityBadge } from './botBits';

export default function BotPage() {
  const { botId = '' } = useParams();
  const [bot, setBot] = useState<AnyBot | null>(null);
  const [error, setError] = useState<unknown>(null);
  useTitle(bot?.name ?? 'Bot');

  const load = useCallback(async () => {
    setError(null);
    try {
      setBot(await sharingApi.bot(botId));
    } catch (e) {
      setError(e);
    }
  }, [botId]);

  useEffect(() => {
    setBot(null);
    void load();
  }, [load]);

  return (
    <div className="relative min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto max-w-4xl space-y-6 px-4 py-6 sm:px-6">
        <p className="text-sm">
          <Link to="/bots" className="link">
            ← Back to the bot list
          </Link>
        </p>
        {error ? <BotLoadError error={error} onRetry={() => void load()} /> : null}
        {!bot && !error ? <Spinner label="Loading the bot…" /> : null}
        {bot && isOwnBot(bot) ? <OwnerView bot={bot} onChange={setBot} /> : null}
        {bot && !isOwnBot(bot) ? <OthersView bot={bot} onChange={setBot} /> : null}
      </div>
    </div>
  );
}

function BotLoadError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  if (error instanceof ApiError && error.status === 404) {
    return (
      <div className="card p-8 text-center">
        <h1 className="text-xl font-semibold text-gray-900">Bot not found</h1>
        <p role="alert" className="mt-2 text-gray-700">
          This bot does not exist, or it is not shared with you: its owner may have made it private.
        </p>
        <p className="mt-6">
          <Link to="/store" className="btn-primary">
            Browse the store
          </Link>
        </p>
      </div>
    );
  }
  return (
    <div className="space-y-2">
      <ErrorAlert error={error} />
      <button type="button" className="btn-secondary btn-sm" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}

/** "Chat": a new chat with this bot. */
function ChatButton({ bot }: { bot: AnyBot }) {
  const navigate = useNavigate();
  return (
    <button type="button" className="btn-primary" onClick={() => navigate(`/chat?bot=${encodeURIComponent(bot.id)}`)}>
      Chat
    </button>
  );
}

// ---- another user's bot ------------------------------------------------------

function OthersView({ bot, onChange }: { bot: SharedBot; onChange: (b: AnyBot) => void }) {
  return (
    <article className="card p-5" aria-labelledby="bot-title">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h1 id="bot-title" className="break-words text-2xl font-semibold text-gray-900">
            {bot.name}
          </h1>
          <p className="mt-1 text-sm text-gray-700">
            by <span data-owner="">{bot.owner?.username ?? 'another user'}</span>
          </p>
        </div>
        <VisibilityBadge visibility={bot.visibility} />
      </div>
      {bot.description ? <p className="mt-3 whitespace-pre-wrap text-gray-800">{bot.description}</p> : null}
      <p className="mt-3 text-sm text-gray-700">{plural(bot.use_count ?? 0, 'chat')} started with it.</p>
      <div className="mt-4 flex flex-wrap items-center gap-2">
        <ChatButton bot={bot} />
        <PinButton bot={bot} onChange={(pinned) => onChange({ ...bot, pinned })} />
      </div>
      <p className="hint mt-3">
        Your chats with this bot are yours alone. Its instructions and documents stay with its owner.
      </p>
    </article>
  );
}

// ---- the owner's bot -----------------------------------------------------------

function OwnerView({ bot, onChange }: { bot: Bot; onChange: (b: AnyBot) => void }) {
  const perms = usePermissions();
  const [editing, setEditing] = useState(false);
  const [models, setModels] = useState<Model[] | null>(null);
  const [defaultModel, setDefaultModel] = useState('local');
  const [modelsFailed, setModelsFailed] = useState(false);
  const loadBots = useChat((s) => s.loadBots);

  useEffect(() => {
    const ctl = new AbortController();
    api.models(ctl.signal).then(
      (m) => {
        setModels(m.items);
        if (m.default) setDefaultModel(m.default);
      },
      () => setModelsFailed(true),
    );
    return () => ctl.abort();
  }, []);

  return (
    <>
      <article className="card p-5" aria-labelledby="bot-title">
        <div className="flex flex-wrap items-start justify-between gap-3">
          <div className="min-w-0">
            <h1 id="bot-title" className="break-words text-2xl font-semibold text-gray-900">
              {bot.name}
            </h1>
            <p className="mt-1 text-sm text-gray-700">Your bot · {plural(bot.use_count ?? 0, 'chat')} started with it</p>
          </div>
          <VisibilityBadge visibility={visibilityOf(bot)} />
        </div>
        {bot.description ? <p className="mt-3 whitespace-pre-wrap text-gray-800">{bot.description}</p> : null}
        <dl className="mt-3 grid grid-cols-[auto,1fr] gap-x-3 gap-y-1 text-sm text-gray-700">
          <dt className="text-gray-600">Model</dt>
          <dd className="truncate">{modelLabel(models, bot.model_id)}</dd>
          <dt className="text-gray-600">Temperature</dt>
          <dd>{bot.temperature}</dd>
          <dt className="text-gray-600">Max tokens</dt>
          <dd>{bot.max_tokens}</dd>
        </dl>
        <div className="mt-4 flex flex-wrap items-center gap-2">
          <ChatButton bot={bot} />
          <button type="button" className="btn-secondary" onClick={() => setEditing(true)}>
            Edit
          </button>
          {perms.publish_bots ? (
            <Link to={`/bots/${encodeURIComponent(bot.id)}/api-keys`} className="btn-secondary">
              API keys
            </Link>
          ) : null}
        </div>
      </article>

      <SharingPanel bot={bot} canPublish={perms.publish_bots} onChange={(b) => { onChange(b); void loadBots(true); }} />
      <UsagePanel botId={bot.id} />

      {editing ? (
        <BotForm
          bot={bot}
          models={models}
          modelsFailed={modelsFailed}
          defaultModel={defaultModel}
          onClose={() => setEditing(false)}
          onSaved={(saved) => onChange({ ...bot, ...saved })}
        />
      ) : null}
    </>
  );
}

const VISIBILITY_CHOICES: { value: Visibility; label: string; hint: string }[] = [
  { value: 'private', label: 'Private', hint: 'Only you can chat with it.' },
  {
    value: 'shared',
    label: 'Shared via link or named people',
    hint: 'Anyone signed in who has its link can chat with it; the people you name below also find it under “Shared with me”.',
  },
  {
    value: 'store',
    label: 'Store',
    hint: 'Listed in the bot store: anyone signed in can find it, chat with it and pin it.',
  },
];

function SharingPanel({ bot, canPublish, onChange }: { bot: Bot; canPublish: boolean; onChange: (b: Bot) => void }) {
  const id = useId();
  const [visibility, setVisibility] = useState<Visibility>(visibilityOf(bot));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');
  const link = botLink(window.location.origin, bot.id);
  const storeLocked = !canPublish && visibility !== 'store';

  useEffect(() => setVisibility(visibilityOf(bot)), [bot]);

  async function choose(v: Visibility) {
    if (v === visibility || busy) return;
    const before = visibility;
    setVisibility(v);
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      const saved = await sharingApi.setVisibility(bot.id, v);
      onChange({ ...bot, ...saved, visibility: saved.visibility ?? v });
      setStatus(`Saved: ${VISIBILITY_CHOICES.find((c) => c.value === v)?.label ?? v}.`);
    } catch (e) {
      setVisibility(before);
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby={`${id}-h`} className="card space-y-4 p-5">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Sharing
      </h2>
      <fieldset disabled={busy}>
        <legend className="label">Visibility</legend>
        <div className="space-y-2">
          {VISIBILITY_CHOICES.map((c) => {
            const cid = `${id}-vis-${c.value}`;
            const locked = c.value === 'store' && storeLocked;
            return (
              <div key={c.value} className="flex items-start gap-2">
                <input
                  id={cid}
                  type="radio"
                  name={`${id}-visibility`}
                  className="mt-0.5 h-4 w-4"
                  value={c.value}
                  checked={visibility === c.value}
                  disabled={locked}
                  aria-describedby={`${cid}-hint`}
                  onChange={() => void choose(c.value)}
                />
                <div>
                  <label htmlFor={cid} className={`text-sm font-medium ${locked ? 'text-gray-600' : 'text-gray-900'}`}>
                    {c.label}
                  </label>
                  <p id={`${cid}-hint`} className="hint mt-0">
                    {locked ? PUBLISH_NOT_ALLOWED : c.hint}
                  </p>
                </div>
              </div>
            );
          })}
        </div>
      </fieldset>
      <p role="status" aria-live="polite" className="text-sm text-gray-700">
        {status}
      </p>
      {error ? <ErrorAlert error={error} /> : null}

      <div>
        <label htmlFor={`${id}-link`} className="label">
          Link to this bot
        </label>
        <div className="flex flex-wrap items-center gap-2">
          <input
            id={`${id}-link`}
            className="input min-w-0 flex-1 basis-64 font-mono text-xs"
            readOnly
            value={link}
            onFocus={(e) => e.currentTarget.select()}
          />
          <CopyButton text={link} label="Copy link" />
        </div>
        <p className="hint">
          {visibility === 'private'
            ? 'While the bot is private, the link opens it for you only.'
            : 'Anyone signed in who has this link can chat with the bot. Making it private again cuts them off at once.'}
        </p>
      </div>

      <NamedShares botId={bot.id} visibility={visibility} />
    </section>
  );
}

function NamedShares({ botId, visibility }: { botId: string; visibility: Visibility }) {
  const id = useId();
  const [shares, setShares] = useState<BotShare[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [who, setWho] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      setShares((await sharingApi.shares(botId)).items);
    } catch (e) {
      setLoadError(e);
    }
  }, [botId]);

  useEffect(() => {
    void load();
  }, [load]);

  async function add(e: FormEvent) {
    e.preventDefault();
    const name = who.trim();
    if (!name || busy) return;
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      const share = await sharingApi.addShare(botId, name);
      setShares((cur) => [...(cur ?? []).filter((s) => s.user_id !== share.user_id), share]);
      setWho('');
      setStatus(`Shared with ${share.username}.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function remove(s: BotShare) {
    setError(null);
    setStatus('');
    try {
      await sharingApi.removeShare(botId, s.user_id);
      setShares((cur) => (cur ?? []).filter((x) => x.user_id !== s.user_id));
      setStatus(`No longer shared with ${s.username}.`);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <div className="border-t border-gray-200 pt-4">
      <h3 id={`${id}-h`} className="text-base font-semibold text-gray-900">
        Named people
      </h3>
      {visibility === 'private' ? (
        <p className="hint">The people named here can chat with the bot only while it is shared or in the store.</p>
      ) : null}
      <form onSubmit={add} className="mt-2 flex flex-wrap items-end gap-2">
        <div className="min-w-0 flex-1 basis-56">
          <label htmlFor={`${id}-who`} className="label">
            Username or e-mail
          </label>
          <input
            id={`${id}-who`}
            className="input"
            value={who}
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            onChange={(e) => setWho(e.target.value)}
          />
        </div>
        <button type="submit" className="btn-primary" disabled={busy || !who.trim()}>
          Share
        </button>
      </form>
      <p role="status" aria-live="polite" className="mt-1 text-sm text-gray-700">
        {status}
      </p>
      {error ? <ErrorAlert error={error} className="mt-2" /> : null}
      {loadError ? <ErrorAlert error={loadError} className="mt-2" /> : null}
      {!shares && !loadError ? <Spinner label="Loading who it is shared with…" /> : null}
      {shares && shares.length === 0 ? <p className="mt-2 text-sm text-gray-700">Not shared with anyone by name.</p> : null}
      {shares && shares.length > 0 ? (
        <ul aria-labelledby={`${id}-h`} className="mt-2 divide-y divide-gray-100">
          {shares.map((s) => (
            <li key={s.user_id} className="flex items-center justify-between gap-3 py-2" data-share={s.username}>
              <div className="min-w-0">
                <div className="truncate text-sm font-medium text-gray-900">{s.username}</div>
                {s.email ? <div className="truncate text-xs text-gray-600">{s.email}</div> : null}
              </div>
              <button
                type="button"
                className="btn-secondary btn-sm"
                aria-label={`Remove ${s.username}`}
                onClick={() => void remove(s)}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function UsagePanel({ botId }: { botId: string }) {
  const id = useId();
  const DAYS = 30;
  const [usage, setUsage] = useState<BotUsage | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setUsage(await sharingApi.usage(botId, DAYS));
    } catch (e) {
      setError(e);
    }
  }, [botId]);

  useEffect(() => {
    void load();
  }, [load]);

  const points = useMemo(() => {
    if (!usage) return [];
    const to = new Date();
    const from = new Date(to.getTime() - (DAYS - 1) * 86_400_000);
    return fillDays(isoDay(from), isoDay(to), usage.days);
  }, [usage]);
  const total = points.reduce(
    (a, p) => ({ requests: a.requests + p.requests, tokens: a.tokens + p.input + p.output }),
    { requests: 0, tokens: 0 },
  );

  return (
    <section aria-labelledby={`${id}-h`} className="card p-5">
      <h2 id={`${id}-h`} className="text-lg font-semibold text-gray-900">
        Usage
      </h2>
      <p className="mt-1 text-sm text-gray-700">
        Answers by this bot per UTC day, to anyone (you, people it is shared with, API keys). Counts only: no content.
      </p>
      {error ? (
        <div className="mt-3 space-y-2">
          <ErrorAlert>The usage could not be loaded: {errorMessage(error)}</ErrorAlert>
          <button type="button" className="btn-secondary btn-sm" onClick={() => void load()}>
            Try again
          </button>
        </div>
      ) : null}
      {!usage && !error ? <Spinner label="Loading usage…" /> : null}
      {usage ? (
        <>
          <p className="mt-3 text-sm text-gray-800" data-usage-total="">
            Last {DAYS} days: {plural(total.requests, 'request')}, {n(total.tokens)} tokens.
          </p>
          <div className="mt-3">
            <UsageChart points={points} />
          </div>
        </>
      ) : null}
    </section>
  );
}
