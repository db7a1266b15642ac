import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { Link, useLocation, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ApiError } from '../../api/errors';
import type { AnyBot } from '../../api/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { MenuIcon } from '../../components/Icons';
import { Spinner } from '../../components/Loading';
import { CREATE_NOT_ALLOWED, usePermissions } from '../../lib/permissions';
import { useTitle } from '../../lib/useTitle';
import { useAgent } from '../agents/useAgent';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { NEW_CHAT, useChat } from './chatStore';
import { Sidebar } from './Sidebar';

export default function ChatScreen() {
  const { chatId } = useParams();
  const key = chatId ?? NEW_CHAT;
  const navigate = useNavigate();
  const location = useLocation();
  const pathRef = useRef(location.pathname);
  pathRef.current = location.pathname;
  const [params] = useSearchParams();
  const compose = Boolean((location.state as { compose?: boolean } | null)?.compose) || params.has('bot') || params.has('agent');
  // Narrow screens show the chat list or the conversation, not both: /chat
  // opens on the list, unless the person asked to write ("New chat", a
  // bot's "Talk to" link, an agent's "Chat").
  const [sidebarOpen, setSidebarOpen] = useState(() => !chatId && !compose && isNarrow());
  const sidebarId = useId();
  const toggleRef = useRef<HTMLButtonElement>(null);
  const closeSidebar = useCallback(() => {
    setSidebarOpen((wasOpen) => {
      // give focus back to the toggle when the panel closes over it
      if (wasOpen && toggleRef.current && toggleRef.current.offsetParent !== null) {
        setTimeout(() => toggleRef.current?.focus(), 0);
      }
      return false;
    });
  }, []);

  const loadChats = useChat((s) => s.loadChats);
  const loadBots = useChat((s) => s.loadBots);
  const loadConversation = useChat((s) => s.loadConversation);
  const chatTitle = useChat((s) => (chatId ? s.chats.find((c) => c.id === chatId)?.title : null));
  useTitle(chatId ? chatTitle ?? 'Chat' : 'New chat');

  // afresh on each visit: chats made in another tab or device show up
  useEffect(() => {
    void loadChats();
  }, [loadChats]);

  useEffect(() => {
    void loadBots(true);
  }, [loadBots]);

  useEffect(() => {
    if (chatId) void loadConversation(chatId);
    setSidebarOpen(!chatId && !compose && isNarrow());
    // on a change of address only
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [chatId, location.key, loadConversation]);

  const onCreated = useCallback(
    (id: string) => {
      // only if the user is still on the new chat
      if (pathRef.current === '/chat') navigate(`/chat/${id}`, { replace: true });
    },
    [navigate],
  );

  return (
    <div className="relative flex min-h-0 flex-1">
      <Sidebar
        id={sidebarId}
        open={sidebarOpen}
        currentId={chatId ?? null}
        onClose={closeSidebar}
      />
      <section
        aria-label="Conversation"
        className={`${sidebarOpen ? 'hidden md:flex' : 'flex'} min-w-0 flex-1 flex-col bg-white`}
      >
        <div className="flex items-center gap-2 border-b border-gray-200 px-3 py-2 md:hidden">
          <button
            ref={toggleRef}
            type="button"
            className="btn-secondary btn-sm"
            aria-expanded={sidebarOpen}
            aria-controls={sidebarId}
            onClick={() => setSidebarOpen((o) => !o)}
          >
            <MenuIcon />
            Chats
          </button>
        </div>
        {chatId ? (
          <ExistingChat key={chatId} chatId={chatId} />
        ) : (
          <NewChat key={key} onCreated={onCreated} />
        )}
      </section>
    </div>
  );
}

function isNarrow(): boolean {
  return typeof window !== 'undefined' && typeof window.matchMedia === 'function'
    ? window.matchMedia('(max-width: 767px)').matches
    : false;
}

function botLabel(bots: AnyBot[] | null, id: string | null): string | null {
  if (!id) return null;
  return bots?.find((b) => b.id === id)?.name ?? null;
}

// ---- a new chat: pick a bot, write the first message ---------------------

function NewChat({ onCreated }: { onCreated: (id: string) => void }) {
  const [params] = useSearchParams();
  const agentId = params.get('agent');
  return agentId ? (
    <NewAgentChat agentId={agentId} onCreated={onCreated} />
  ) : (
    <NewBotChat onCreated={onCreated} />
  );
}

// ---- a new chat with an agent of the marketplace (/chat?agent=ID) --------

function NewAgentChat({ agentId, onCreated }: { agentId: string; onCreated: (id: string) => void }) {
  const { agent, error } = useAgent(agentId);
  const conversation = useChat((s) => s.conversations[NEW_CHAT]);
  const hasMessages = (conversation?.messages.length ?? 0) > 0;

  if (error) {
    return (
      <div className="mx-auto max-w-md space-y-4 p-8 text-center">
        <ErrorAlert error={error} />
        <p>
          <Link to="/agents" className="btn-primary">
            Back to the agents
          </Link>
        </p>
      </div>
    );
  }
  if (!agent) {
    return (
      <div className="p-6">
        <Spinner label="Loading the agent…" />
      </div>
    );
  }
  return (
    <>
      <div className="border-b border-gray-200 px-4 py-3">
        <h1 className="text-base font-semibold text-gray-900">New chat with {agent.name}</h1>
        <p className="mt-1 text-sm text-gray-700">{agent.description}</p>
      </div>
      {hasMessages ? (
        <MessageList conversationKey={NEW_CHAT} />
      ) : (
        <div className="flex flex-1 items-center justify-center p-6 text-center text-gray-600">
          <p>Ask {agent.name} anything. Answers appear as they are written.</p>
        </div>
      )}
      <Composer conversationKey={NEW_CHAT} botId={null} agentId={agent.id} onCreated={onCreated} />
    </>
  );
}

// ---- a new chat with one of your bots --------------------------------------

function NewBotChat({ onCreated }: { onCreated: (id: string) => void }) {
  const bots = useChat((s) => s.bots);
  const botsError = useChat((s) => s.botsError);
  const conversation = useChat((s) => s.conversations[NEW_CHAT]);
  const [params] = useSearchParams();
  const wanted = params.get('bot');
  const ensureBot = useChat((s) => s.ensureBot);
  const wantedLookup = useChat((s) => (wanted ? s.botLookups[wanted] : undefined));
  const [botId, setBotId] = useState<string>('');
  const selectId = useId();
  const canCreate = usePermissions().create_bots;

  // a bot shared by its link: not in the list until looked up
  const wantedMissing = Boolean(wanted && bots && !bots.some((b) => b.id === wanted));
  useEffect(() => {
    if (wanted && wantedMissing) void ensureBot(wanted);
  }, [wanted, wantedMissing, ensureBot]);

  useEffect(() => {
    if (!bots || bots.length === 0) return;
    setBotId((cur) => {
      if (wanted && bots.some((b) => b.id === wanted) && !cur) return wanted;
      if (cur && bots.some((b) => b.id === cur)) return cur;
      if (wanted && bots.some((b) => b.id === wanted)) return wanted;
      return bots[0].id;
    });
  }, [bots, wanted]);

  const hasMessages = (conversation?.messages.length ?? 0) > 0;

  if (botsError && !bots) {
    return (
      <div className="p-6">
        <ErrorAlert error={botsError} />
      </div>
    );
  }
  if (!bots || (wantedMissing && (wantedLookup === undefined || wantedLookup === 'loading'))) {
    return (
      <div className="p-6">
        <Spinner label="Loading your bots…" />
      </div>
    );
  }
  const wantedError = wantedMissing && wantedLookup && wantedLookup !== 'loading' ? wantedLookup : null;
  if (bots.length === 0) {
    return (
      <div className="mx-auto max-w-md p-8 text-center">
        {wantedError ? (
          <ErrorAlert className="mb-4 text-left">
            {wantedError instanceof ApiError && wantedError.status === 404
              ? 'This bot was not found: it may be private now, or deleted.'
              : errorMessage(wantedError)}
          </ErrorAlert>
        ) : null}
        {canCreate ? (
          <>
            <h1 className="text-xl font-semibold text-gray-900">Create a bot first</h1>
            <p className="mt-2 text-gray-700">
              A bot is a model with your instructions. You need at least one to start a conversation.
            </p>
            <p className="mt-6">
              <Link to="/bots?new=1" className="btn-primary">
                Create your first bot
              </Link>
            </p>
          </>
        ) : (
          <>
            <h1 className="text-xl font-semibold text-gray-900">Pick a bot first</h1>
            <p className="mt-2 text-gray-700">{CREATE_NOT_ALLOWED}</p>
            <p className="mt-6">
              <Link to="/store" className="btn-primary">
                Browse the bot store
              </Link>
            </p>
          </>
        )}
      </div>
    );
  }

  return (
    <>
      <div className="border-b border-gray-200 px-4 py-3">
        <h1 className="text-base font-semibold text-gray-900">New chat</h1>
        {wantedError ? (
          <ErrorAlert className="mt-2">
            {wantedError instanceof ApiError && wantedError.status === 404
              ? 'The bot of this link was not found: it may be private now, or deleted.'
              : errorMessage(wantedError)}
          </ErrorAlert>
        ) : null}
        <div className="mt-2 flex flex-wrap items-center gap-2">
          <label htmlFor={selectId} className="text-sm text-gray-700">
            Bot
          </label>
          <select
            id={selectId}
            className="input w-auto min-w-[12rem] max-w-full py-1.5"
            value={botId}
            onChange={(e) => setBotId(e.target.value)}
            disabled={hasMessages}
          >
            <BotOptions bots={bots} />
          </select>
        </div>
      </div>
      {hasMessages ? (
        <MessageList conversationKey={NEW_CHAT} />
      ) : (
        <div className="flex flex-1 items-center justify-center p-6 text-center text-gray-600">
          <p>Ask {botLabel(bots, botId) ?? 'your bot'} anything. Answers appear as they are written.</p>
        </div>
      )}
      <Composer conversationKey={NEW_CHAT} botId={botId || null} onCreated={onCreated} />
    </>
  );
}

// ---- an existing chat -----------------------------------------------------

function ExistingChat({ chatId }: { chatId: string }) {
  const navigate = useNavigate();
  const chat = useChat((s) => s.chats.find((c) => c.id === chatId) ?? null);
  const conversation = useChat((s) => s.conversations[chatId]);
  const bots = useChat((s) => s.bots);
  const loadConversation = useChat((s) => s.loadConversation);
  const loadMore = useChat((s) => s.loadMoreMessages);
  const deleteChat = useChat((s) => s.deleteChat);
  const [renaming, setRenaming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [otherBot, setOtherBot] = useState('');
  const selectId = useId();

  const agentId = chat?.agent_id ?? null;
  const { agent, error: agentError } = useAgent(agentId);
  const ensureBot = useChat((s) => s.ensureBot);
  const chatBotId = chat && !agentId ? chat.bot_id : null;
  const lookup = useChat((s) => (chatBotId ? s.botLookups[chatBotId] : undefined));
  const notListed = Boolean(chatBotId && bots !== null && !bots.some((b) => b.id === chatBotId));
  // another user's bot (shared by its link): look it up before calling it gone
  useEffect(() => {
    if (chatBotId && notListed) void ensureBot(chatBotId);
  }, [chatBotId, notListed, ensureBot]);
  const lookupDone = lookup !== undefined && lookup !== 'loading';
  const botMissing =
    chat && !agentId ? chat.bot_id === null || (notListed && lookupDone) : false;
  const botId = agentId ? null : chat && !botMissing ? chat.bot_id : otherBot || bots?.[0]?.id || null;
  const botName = agentId ? (agent?.name ?? null) : botLabel(bots, chat?.bot_id ?? null);

  const notFound =
    conversation?.loadError instanceof ApiError &&
    (conversation.loadError.status === 404 || conversation.loadError.code === 'chat_not_found');

  if (notFound) {
    return (
      <div className="mx-auto max-w-md p-8 text-center">
        <h1 className="text-xl font-semibold text-gray-900">Chat not found</h1>
        <p role="alert" className="mt-2 text-gray-700">
          This chat was not found: it may have been deleted.
        </p>
        <p className="mt-6">
          <Link to="/chat" className="btn-primary">
            Start a new conversation
          </Link>
        </p>
      </div>
    );
  }

  const title = chat?.title ?? (conversation?.loading ? 'Loading…' : 'Chat');

  return (
    <>
      <div className="flex flex-wrap items-center gap-2 border-b border-gray-200 px-4 py-3">
        <div className="min-w-0 flex-1">
          <h1 className="truncate text-base font-semibold text-gray-900" title={title}>
            {title}
          </h1>
          {botName ? <p className="truncate text-xs text-gray-600">with {botName}</p> : null}
        </div>
        <div className="flex gap-2">
          <button type="button" className="btn-secondary btn-sm" onClick={() => setRenaming(true)} disabled={!chat}>
            Rename
          </button>
          <button type="button" className="btn-secondary btn-sm" onClick={() => setDeleting(true)} disabled={!chat}>
            Delete
          </button>
        </div>
      </div>

      {conversation?.loadError && !notFound ? (
        <div className="space-y-2 p-4">
          <ErrorAlert error={conversation.loadError} />
          <button type="button" className="btn-secondary btn-sm" onClick={() => void loadConversation(chatId, true)}>
            Try again
          </button>
        </div>
      ) : null}

      {!conversation || (conversation.loading && !conversation.loaded) ? (
        <div className="flex-1 p-6">
          <Spinner label="Loading messages…" />
        </div>
      ) : (
        <MessageList
          conversationKey={chatId}
          footer={
            conversation.nextCursor ? (
              <div className="flex justify-center py-2">
                <button
                  type="button"
                  className="btn-secondary btn-sm"
                  disabled={conversation.loading}
                  onClick={() => void loadMore(chatId)}
                >
                  Load more messages
                </button>
              </div>
            ) : null
          }
        />
      )}

      {botMissing && bots && bots.length > 0 ? (
        <div className="flex flex-wrap items-center gap-2 border-t border-gray-200 bg-gray-50 px-4 py-2 text-sm text-gray-700">
          <span>
            {lookup instanceof ApiError && lookup.status === 404
              ? 'This chat’s bot was deleted or is no longer shared with you. Continue with:'
              : 'This chat’s bot was deleted. Continue with:'}
          </span>
          <label htmlFor={selectId} className="sr-only">
            Bot
          </label>
          <select
            id={selectId}
            className="input w-auto py-1"
            value={botId ?? ''}
            onChange={(e) => setOtherBot(e.target.value)}
          >
            <BotOptions bots={bots} />
          </select>
        </div>
      ) : null}

      {agentId && agentError ? (
        <p className="border-t border-gray-200 bg-gray-50 px-4 py-2 text-sm text-gray-700">
          This chat’s agent is no longer available, so the conversation cannot continue.
        </p>
      ) : null}

      <Composer conversationKey={chatId} botId={botId} agentId={agentId && !agentError ? agentId : null} />

      {renaming && chat ? (
        <RenameDialog chatId={chatId} title={chat.title} onClose={() => setRenaming(false)} />
      ) : null}
      {deleting && chat ? (
        <ConfirmDialog
          title="Delete this chat?"
          description={
            <>
              “{chat.title}” and all its messages will be deleted. This cannot be undone.
            </>
          }
          confirmLabel="Delete"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await deleteChat(chatId);
            navigate('/chat', { replace: true });
          }}
        />
      ) : null}
    </>
  );
}

/** The bot picker's options: the caller's bots, then others' (shared). */
function BotOptions({ bots }: { bots: AnyBot[] }) {
  const mine = bots.filter((b) => b.is_owner !== false);
  const others = bots.filter((b) => b.is_owner === false);
  const opts = (list: AnyBot[]) =>
    list.map((b) => (
      <option key={b.id} value={b.id}>
        {b.name}
      </option>
    ));
  if (others.length === 0) return <>{opts(mine)}</>;
  return (
    <>
      {mine.length > 0 ? <optgroup label="Your bots">{opts(mine)}</optgroup> : null}
      <optgroup label="Shared with you">{opts(others)}</optgroup>
    </>
  );
}

function RenameDialog({ chatId, title, onClose }: { chatId: string; title: string; onClose: () => void }) {
  const renameChat = useChat((s) => s.renameChat);
  const [value, setValue] = useState(title);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const id = useId();
  const trimmed = value.trim();
  const tooLong = useMemo(() => [...trimmed].length > 255, [trimmed]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!trimmed || tooLong || busy) return;
    setBusy(true);
    setError(null);
    try {
      await renameChat(chatId, trimmed);
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  useEffect(() => {
    inputRef.current?.select();
  }, []);

  return (
    <Dialog title="Rename chat" onClose={onClose} initialFocus={inputRef} size="sm">
      <form onSubmit={submit} className="space-y-4">
        <div>
          <label htmlFor={id} className="label">
            Chat title
          </label>
          <input
            id={id}
            ref={inputRef}
            className="input"
            value={value}
            maxLength={255}
            onChange={(e) => setValue(e.target.value)}
            aria-invalid={error ? true : undefined}
          />
        </div>
        {error ? <ErrorAlert>{errorMessage(error)}</ErrorAlert> : null}
        <div className="flex justify-end gap-2">
          <button type="button" className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-primary" disabled={!trimmed || tooLong || busy}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
