// Chat state: the sidebar's chats, the conversations opened, and the
// answers being streamed (at most one a conversation).  A store rather than
// component state so a stream survives the move from /chat to /chat/<id>
// when a new chat starts.
//
// An answer outlives its connection: a lost connection is resumed by the
// SSE reader (api/sse.ts), and a chat opened while its answer is still
// being written (a reload, another tab) attaches to it.  While this tab
// streams an answer, sessionStorage remembers which one (chat, answer,
// question), so a reload names it exactly.

import { create } from 'zustand';
import { api } from '../../api/client';
import { ApiError, STREAM_INTERRUPTED_MESSAGE, describeAnswerError, isAbortError } from '../../api/errors';
import { cancelAnswer, resumeChat, streamChat, type ConnectionState } from '../../api/sse';
import type { AnyBot, Chat, ChatStreamEvent, Citation, Message } from '../../api/types';
import { allSharedBots, sharingApi } from '../../api/sharing';
import { useAuth } from '../../store/auth';
import {
  NO_RESULT_ENDED,
  NO_RESULT_STOPPED,
  addToolCall,
  applyAgentEvent,
  applyToolResult,
  settleAgents,
  settleToolCalls,
  toolCallsFromSteps,
  type UiAgentRun,
  type UiToolCall,
} from './toolCallModel';

export const NEW_CHAT = '__new__';

export type UiStatus = 'streaming' | 'complete' | 'error' | 'cancelled';

export interface UiMessage {
  /** Stable React key. */
  key: string;
  id: string | null;
  role: 'user' | 'assistant';
  content: string;
  status: UiStatus;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: string | null;
  /** The numbered sources of an answer (a RAG bot's), null when none. */
  citations: Citation[] | null;
  /** An agent's tool calls in order (live, or from the stored `steps`),
   * null when none. */
  toolCalls: UiToolCall[] | null;
  /** The sub-agents the live turn ran, in order; null when none (not
   * stored). */
  agents: UiAgentRun[] | null;
  /** The answer lost its connection and is being resumed. */
  reconnecting?: boolean;
}

export interface Conversation {
  chatId: string | null;
  messages: UiMessage[];
  /** Messages after these exist (the API pages oldest first). */
  nextCursor: string | null;
  loading: boolean;
  loaded: boolean;
  loadError: ApiError | Error | null;
}

/** The running side of a stream (not rendered, so mutable). */
export interface StreamControl {
  controller: AbortController;
  /** Known from the answer's `start` (or `snapshot`). */
  chatId: string | null;
  messageId: string | null;
  /** Stop was pressed before the answer had an id: stopped on `start`. */
  stopRequested: boolean;
  /** Settles when the stream has ended, whatever the way. */
  ended: Promise<void>;
}

export interface StreamState {
  ctl: StreamControl;
  /** Attaching to an answer of another tab or an earlier page that has
   * shown nothing yet (Send is held, Stop is not offered). */
  attaching: boolean;
}

export interface SendArgs {
  /** NEW_CHAT or the chat id. */
  key: string;
  /** Who answers: the caller's bot, or a published agent. */
  botId?: string | null;
  agentId?: string | null;
  text: string;
  /** A new chat got its id (the `start` event). */
  onCreated?: (chatId: string) => void;
}

interface ChatStore {
  chats: Chat[];
  chatsCursor: string | null;
  chatsLoading: boolean;
  chatsLoaded: boolean;
  chatsError: ApiError | Error | null;

  conversations: Record<string, Conversation>;
  /** The answer streaming in each conversation, by its key. */
  streams: Record<string, StreamState>;
  /** Polite status text for screen readers. */
  liveStatus: string;

  /** The caller's bots, then the bots shared with them (others' view). */
  bots: AnyBot[] | null;
  botsError: ApiError | Error | null;
  /** Bots looked up one by one (a shared bot's link, an old chat's bot
   * that is not in the list): 'loading', or the error that refused it. */
  botLookups: Record<string, 'loading' | ApiError | Error>;

  loadChats(): Promise<void>;
  loadMoreChats(): Promise<void>;
  loadConversation(chatId: string, force?: boolean): Promise<void>;
  loadMoreMessages(chatId: string): Promise<void>;
  /** Resolves with the error that refused the turn before its stream
   * started (the text is not sent), or null. */
  send(args: SendArgs): Promise<ApiError | null>;
  /** Stop the answer of one conversation (POST .../cancel, and stop
   * reading), or every answer this tab streams when no key is given. */
  stop(key?: string): void;
  renameChat(chatId: string, title: string): Promise<void>;
  deleteChat(chatId: string): Promise<void>;
  loadBots(force?: boolean): Promise<void>;
  /** Look up one bot the caller may chat with (another's shared bot) and
   * add it to `bots`; true when it is there now. */
  ensureBot(id: string): Promise<boolean>;
  resetNew(): void;
  reset(): void;
}

const CHATS_PAGE = 30;
const MESSAGES_PAGE = 200;
const MESSAGE_PAGES_AT_ONCE = 5;

let seq = 0;
function localKey(): string {
  seq += 1;
  return `local-${Date.now().toString(36)}-${seq}`;
}

function emptyConversation(chatId: string | null): Conversation {
  return { chatId, messages: [], nextCursor: null, loading: false, loaded: chatId === null, loadError: null };
}

export function fromServer(m: Message): UiMessage | null {
  if (m.role !== 'user' && m.role !== 'assistant') return null;
  return {
    key: m.id,
    id: m.id,
    role: m.role,
    content: m.content,
    status: m.status === 'error' || m.status === 'cancelled' ? m.status : 'complete',
    errorCode: m.status === 'error' ? m.error : null,
    errorMessage: m.status === 'error' ? describeAnswerError(m.error) : null,
    createdAt: m.created_at,
    citations: validCitations(m.citations),
    toolCalls: m.role === 'assistant' ? toolCallsFromSteps(m.steps) : null,
    agents: null,
  };
}

/** The citations of an event or a stored message, or null when there are
 * none (or they are not in the expected shape). */
export function validCitations(raw: unknown): Citation[] | null {
  if (!Array.isArray(raw)) return null;
  // another user's shared bot cites only a file's name (and chunk): take
  // "filename" for "document"
  const named = raw.map((c) =>
    typeof c === 'object' && c !== null && typeof (c as Citation).document !== 'string' &&
    typeof (c as { filename?: unknown }).filename === 'string'
      ? { ...c, document: (c as { filename: string }).filename }
      : c,
  );
  const out = named.filter(
    (c): c is Citation =>
      typeof c === 'object' && c !== null && typeof (c as Citation).n === 'number' && typeof (c as Citation).document === 'string',
  );
  return out.length > 0 ? out : null;
}

function toUi(ms: Message[]): UiMessage[] {
  const out: UiMessage[] = [];
  for (const m of ms) {
    const u = fromServer(m);
    if (u) out.push(u);
  }
  return out;
}

function byActivity(a: Chat, b: Chat): number {
  return a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0;
}

const STOPPED = 'Stopped. The partial answer is kept.';

/** One answer being streamed into a conversation. */
interface Run {
  /** The conversation (NEW_CHAT until the answer's `start` names the chat). */
  key: string;
  /** The answer's UiMessage. */
  botKey: string;
  ctl: StreamControl;
}

function newControl(chatId: string | null): { ctl: StreamControl; ended: () => void } {
  let ended: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const ctl: StreamControl = {
    controller: new AbortController(),
    chatId,
    messageId: null,
    stopRequested: false,
    ended: promise,
  };
  return { ctl, ended };
}

function streamingAnswer(key: string, id: string | null, createdAt: string): UiMessage {
  return { key, id, role: 'assistant', content: '', status: 'streaming', errorCode: null, errorMessage: null, createdAt, citations: null, toolCalls: null, agents: null, reconnecting: false };
}

// ---- the answer this tab streams, remembered across a reload -------------

const SAVED_PREFIX = 'mangoo.answer.';

interface SavedAnswer {
  messageId: string;
  userMessageId: string;
}

function session(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null; // storage refused (privacy settings)
  }
}

function remember(chatId: string, a: SavedAnswer): void {
  try {
    session()?.setItem(SAVED_PREFIX + chatId, JSON.stringify(a));
  } catch {
    // full or refused: a reload then finds the answer by its question
  }
}

function forget(chatId: string): void {
  try {
    session()?.removeItem(SAVED_PREFIX + chatId);
  } catch {
    // nothing to do
  }
}

function forgetAll(): void {
  const st = session();
  if (!st) return;
  try {
    const keys: string[] = [];
    for (let i = 0; i < st.length; i++) {
      const k = st.key(i);
      if (k?.startsWith(SAVED_PREFIX)) keys.push(k);
    }
    for (const k of keys) st.removeItem(k);
  } catch {
    // nothing to do
  }
}

export function recall(chatId: string): SavedAnswer | null {
  try {
    const raw = session()?.getItem(SAVED_PREFIX + chatId);
    if (!raw) return null;
    const a = JSON.parse(raw) as Partial<SavedAnswer>;
    return typeof a.messageId === 'string' && typeof a.userMessageId === 'string'
      ? { messageId: a.messageId, userMessageId: a.userMessageId }
      : null;
  } catch {
    return null;
  }
}

const initial = {
  chats: [] as Chat[],
  chatsCursor: null as string | null,
  chatsLoading: false,
  chatsLoaded: false,
  chatsError: null,
  conversations: { [NEW_CHAT]: emptyConversation(null) } as Record<string, Conversation>,
  streams: {} as Record<string, StreamState>,
  liveStatus: '',
  bots: null as AnyBot[] | null,
  botsError: null,
  botLookups: {} as Record<string, 'loading' | ApiError | Error>,
};

export const useChat = create<ChatStore>()((set, get) => {
  function patchConversation(key: string, fn: (c: Conversation) => Conversation): void {
    set((s) => {
      const c = s.conversations[key];
      if (!c) return s;
      return { conversations: { ...s.conversations, [key]: fn(c) } };
    });
  }

  function patchMessage(key: string, msgKey: string, fn: (m: UiMessage) => UiMessage): void {
    patchConversation(key, (c) => ({
      ...c,
      messages: c.messages.map((m) => (m.key === msgKey ? fn(m) : m)),
    }));
  }

  /** Put a chat first in the sidebar (it just had activity). */
  function touchChat(chat: Chat): void {
    set((s) => ({ chats: [chat, ...s.chats.filter((c) => c.id !== chat.id)] }));
  }

  /** The stream of `run` is over: its conversation can stream again. */
  function endStream(run: Run, status: string): void {
    set((s) => {
      if (s.streams[run.key]?.ctl !== run.ctl) return { liveStatus: status };
      const streams = { ...s.streams };
      delete streams[run.key];
      return { streams, liveStatus: status };
    });
  }

  /** Applies an answer's events to its message: deltas at most once a
   * frame, a snapshot replacing the text, the last event ending it. */
  function answerSink(run: Run) {
    let pending = '';
    let flushTimer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      flushTimer = null;
      if (!pending) return;
      const add = pending;
      pending = '';
      patchMessage(run.key, run.botKey, (m) => ({ ...m, content: m.content + add }));
    };
    const queue = (delta: string) => {
      pending += delta;
      if (flushTimer === null) flushTimer = setTimeout(flush, 16);
    };
    /** `keepSaved`: the page is going away (a reload), not the answer:
     * sessionStorage keeps naming it for the next page. */
    const finish = (patch: Partial<UiMessage>, status: string, keepSaved = false) => {
      if (flushTimer !== null) clearTimeout(flushTimer);
      flush();
      const reason = patch.status === 'cancelled' ? NO_RESULT_STOPPED : NO_RESULT_ENDED;
      patchMessage(run.key, run.botKey, (m) => ({
        ...m,
        ...patch,
        reconnecting: false,
        // nothing more will come for calls still running
        toolCalls: settleToolCalls(m.toolCalls, reason),
        agents: settleAgents(m.agents),
      }));
      if (run.ctl.chatId && !keepSaved) forget(run.ctl.chatId);
      endStream(run, status);
    };
    const onEvent = (ev: ChatStreamEvent) => {
      switch (ev.type) {
        case 'start':
          break;
        case 'snapshot': {
          // the whole answer so far: it replaces the text shown (and the
          // deltas not yet applied)
          if (flushTimer !== null) clearTimeout(flushTimer);
          flushTimer = null;
          pending = '';
          const d = ev.data;
          patchMessage(run.key, run.botKey, (m) => ({
            ...m,
            id: d.message_id ?? m.id,
            content: typeof d.content === 'string' ? d.content : m.content,
            citations: d.citations !== undefined ? validCitations(d.citations) : m.citations,
          }));
          break;
        }
        case 'citations':
          // before the first delta: the sources the answer will cite
          patchMessage(run.key, run.botKey, (m) => ({ ...m, citations: validCitations(ev.data.citations) }));
          break;
        case 'message':
          if (typeof ev.data.content === 'string') queue(ev.data.content);
          break;
        case 'tool_call': {
          const data = ev.data;
          let added = false;
          patchMessage(run.key, run.botKey, (m) => {
            const toolCalls = addToolCall(m.toolCalls, data);
            added = toolCalls !== m.toolCalls;
            return added ? { ...m, toolCalls } : m;
          });
          if (added) set({ liveStatus: `Using the tool ${data.name}…` });
          break;
        }
        case 'tool_result': {
          const data = ev.data;
          patchMessage(run.key, run.botKey, (m) => {
            const toolCalls = applyToolResult(m.toolCalls, data);
            return toolCalls === m.toolCalls ? m : { ...m, toolCalls };
          });
          break;
        }
        case 'agent': {
          const data = ev.data;
          patchMessage(run.key, run.botKey, (m) => {
            const agents = applyAgentEvent(m.agents, data);
            return agents === m.agents ? m : { ...m, agents };
          });
          break;
        }
        case 'done':
          // stopped (here, or in another tab) or finished
          if (ev.data.stop_reason === 'cancelled') finish({ status: 'cancelled' }, STOPPED);
          else finish({ status: 'complete' }, 'Answer complete.');
          break;
        case 'error':
          finish(
            {
              status: 'error',
              errorCode: ev.data.code,
              errorMessage: describeAnswerError(ev.data.code, ev.data.message),
            },
            `The answer failed: ${describeAnswerError(ev.data.code, ev.data.message)}`,
          );
          break;
      }
    };
    const onConnection = (state: ConnectionState) => {
      const reconnecting = state === 'reconnecting';
      patchMessage(run.key, run.botKey, (m) =>
        m.status === 'streaming' && Boolean(m.reconnecting) !== reconnecting ? { ...m, reconnecting } : m,
      );
      set({ liveStatus: reconnecting ? 'Connection lost. Reconnecting…' : 'Reconnected. Answering…' });
    };
    /** A 204: the answer ended and nothing more comes here; what was
     * stored is read back. */
    const finishedElsewhere = () => {
      finish({ status: 'complete' }, 'Answer complete.');
      const chatId = run.ctl.chatId;
      if (chatId) void run.ctl.ended.then(() => get().loadConversation(chatId, true));
    };
    return { onEvent, onConnection, finish, finishedElsewhere };
  }

  /** Stop: the server stops the answer (every tab reading it gets its
   * end), and this tab stops reading at once. */
  function stopAnswer(ctl: StreamControl): void {
    const { chatId, messageId } = ctl;
    if (!chatId) return;
    const asked = cancelAnswer(chatId, messageId).then(
      () => null,
      (e: unknown) => e,
    );
    ctl.controller.abort();
    void asked.then(async (e) => {
      if (e instanceof ApiError && e.code === 'not_streaming') {
        // it had already ended: show what was stored
        await ctl.ended;
        await get().loadConversation(chatId, true);
      }
    });
  }

  /**
   * Attach to the answer a chat is still being given (the page was
   * reloaded, or another tab is asking): its events from the start, or a
   * snapshot of it.  Only an answer to `expect.userMessageId` is shown;
   * nothing to attach to (404 no_stream, 204) shows nothing.
   */
  async function attach(chatId: string, expect: { userMessageId: string; messageId: string | null }): Promise<void> {
    if (get().streams[chatId]) return;
    const { ctl, ended } = newControl(chatId);
    const run: Run = { key: chatId, botKey: localKey(), ctl };
    set((s) => ({ streams: { ...s.streams, [chatId]: { ctl, attaching: true } } }));
    const answer = answerSink(run);
    let shown = false;

    const onEvent = (ev: ChatStreamEvent) => {
      if (shown) {
        answer.onEvent(ev);
        return;
      }
      const conv = get().conversations[chatId];
      const d = ev.type === 'start' || ev.type === 'snapshot' ? ev.data : null;
      if (
        !d ||
        !conv ||
        (d.user_message_id && d.user_message_id !== expect.userMessageId) ||
        conv.messages.some((m) => m.id === d.message_id)
      ) {
        // not the answer to the chat's last question (or one shown already)
        ctl.controller.abort();
        return;
      }
      shown = true;
      ctl.messageId = d.message_id;
      remember(chatId, { messageId: d.message_id, userMessageId: expect.userMessageId });
      patchConversation(chatId, (c) => ({
        ...c,
        messages: [...c.messages, streamingAnswer(run.botKey, d.message_id, new Date().toISOString())],
      }));
      set((s) => ({
        streams: s.streams[chatId]?.ctl === ctl ? { ...s.streams, [chatId]: { ctl, attaching: false } } : s.streams,
        liveStatus: 'Answering…',
      }));
      answer.onEvent(ev);
    };

    try {
      const last = await resumeChat(
        chatId,
        { messageId: expect.messageId },
        {
          signal: ctl.controller.signal,
          onEvent,
          onConnection: (state) => {
            if (shown) answer.onConnection(state);
          },
        },
      );
      if (last === null) {
        if (shown) answer.finishedElsewhere();
        else endStream(run, get().liveStatus);
      }
    } catch (e) {
      if (!shown) {
        // nothing to attach to: the chat simply ends with its question
        if (e instanceof ApiError && e.code === 'no_stream') forget(chatId);
        endStream(run, get().liveStatus);
      } else if (isAbortError(e) && ctl.controller.signal.aborted) {
        answer.finish({ status: 'cancelled' }, STOPPED);
      } else if (isAbortError(e)) {
        // aborted by the browser, not by Stop: the page is going away
        answer.finish({ status: 'error', errorCode: 'stream_interrupted', errorMessage: STREAM_INTERRUPTED_MESSAGE }, STREAM_INTERRUPTED_MESSAGE, true);
      } else {
        const err =
          e instanceof ApiError ? e : new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e));
        answer.finish({ status: 'error', errorCode: err.code, errorMessage: err.message }, `The answer failed: ${err.message}`);
      }
    } finally {
      ended();
    }
  }

  /** A chat just read whole: is an answer still being written to its last
   * question (it ends with the question, or this tab remembers streaming
   * one)?  Then attach to it. */
  function attachIfAnswering(chatId: string, messages: UiMessage[]): void {
    const saved = recall(chatId);
    if (saved && messages.some((m) => m.id === saved.messageId)) {
      forget(chatId); // stored since
      return;
    }
    const last = messages[messages.length - 1];
    const question = last && last.role === 'user' && last.id ? last.id : null;
    const userMessageId = saved?.userMessageId ?? question;
    if (!userMessageId || (!saved && !question)) return;
    void attach(chatId, { userMessageId, messageId: saved?.messageId ?? null });
  }

  return {
    ...initial,

    async loadChats() {
      if (get().chatsLoading) return;
      set({ chatsLoading: true, chatsError: null });
      try {
        const page = await api.chats({ limit: CHATS_PAGE });
        set((s) => {
          // keep chats created locally since (a stream may have started)
          const ids = new Set(page.items.map((c) => c.id));
          const extra = s.chats.filter((c) => !ids.has(c.id) && s.conversations[c.id]);
          return {
            chats: [...extra, ...page.items].sort(byActivity),
            chatsCursor: page.next_cursor,
            chatsLoaded: true,
            chatsLoading: false,
          };
        });
      } catch (e) {
        set({ chatsError: e as Error, chatsLoading: false });
      }
    },

    async loadMoreChats() {
      const { chatsCursor, chatsLoading } = get();
      if (!chatsCursor || chatsLoading) return;
      set({ chatsLoading: true, chatsError: null });
      try {
        const page = await api.chats({ limit: CHATS_PAGE, cursor: chatsCursor });
        set((s) => {
          const have = new Set(s.chats.map((c) => c.id));
          return {
            chats: [...s.chats, ...page.items.filter((c) => !have.has(c.id))],
            chatsCursor: page.next_cursor,
            chatsLoading: false,
          };
        });
      } catch (e) {
        set({ chatsError: e as Error, chatsLoading: false });
      }
    },

    async loadConversation(chatId, force = false) {
      const existing = get().conversations[chatId];
      if (existing && (existing.loading || (existing.loaded && !force))) return;
      if (get().streams[chatId]) return;
      set((s) => ({
        conversations: {
          ...s.conversations,
          [chatId]: { ...(existing ?? emptyConversation(chatId)), loading: true, loadError: null },
        },
      }));
      try {
        let page = await api.chat(chatId, { limit: MESSAGES_PAGE });
        const { messages: first, next_cursor: firstCursor, ...chat } = page;
        let messages = toUi(first);
        let cursor = firstCursor;
        for (let i = 1; cursor && i < MESSAGE_PAGES_AT_ONCE; i++) {
          page = await api.chat(chatId, { limit: MESSAGES_PAGE, cursor });
          messages = messages.concat(toUi(page.messages));
          cursor = page.next_cursor;
        }
        set((s) => {
          const known = s.chats.some((c) => c.id === chat.id);
          return {
            chats: known ? s.chats.map((c) => (c.id === chat.id ? { ...c, ...chat } : c)) : s.chats,
            conversations: {
              ...s.conversations,
              [chatId]: { chatId, messages, nextCursor: cursor, loading: false, loaded: true, loadError: null },
            },
          };
        });
        if (!get().chats.some((c) => c.id === chat.id)) {
          // opened by address before the sidebar reached it
          set((s) => ({ chats: [...s.chats, chat].sort(byActivity) }));
        }
        if (!cursor) attachIfAnswering(chatId, messages);
      } catch (e) {
        patchConversation(chatId, (c) => ({ ...c, loading: false, loadError: e as Error }));
      }
    },

    async loadMoreMessages(chatId) {
      const c = get().conversations[chatId];
      if (!c || !c.nextCursor || c.loading) return;
      patchConversation(chatId, (x) => ({ ...x, loading: true, loadError: null }));
      try {
        const page = await api.chat(chatId, { limit: MESSAGES_PAGE, cursor: c.nextCursor });
        patchConversation(chatId, (x) => {
          const have = new Set(x.messages.map((m) => m.id));
          return {
            ...x,
            messages: [...x.messages, ...toUi(page.messages).filter((m) => !have.has(m.id))],
            nextCursor: page.next_cursor,
            loading: false,
          };
        });
      } catch (e) {
        patchConversation(chatId, (x) => ({ ...x, loading: false, loadError: e as Error }));
      }
    },

    async send({ key: startKey, botId, agentId, text, onCreated }) {
      if (get().streams[startKey]) return null;
      const chatId = startKey === NEW_CHAT ? null : startKey;
      const { ctl, ended } = newControl(chatId);
      const run: Run = { key: startKey, botKey: localKey(), ctl };
      const userKey = localKey();
      const now = new Date().toISOString();

      if (!get().conversations[run.key]) {
        set((s) => ({ conversations: { ...s.conversations, [run.key]: { ...emptyConversation(chatId), loaded: true } } }));
      }
      patchConversation(run.key, (c) => ({
        ...c,
        messages: [
          ...c.messages,
          { key: userKey, id: null, role: 'user', content: text, status: 'complete', errorCode: null, errorMessage: null, createdAt: now, citations: null, toolCalls: null, agents: null },
          streamingAnswer(run.botKey, null, now),
        ],
      }));
      set((s) => ({ streams: { ...s.streams, [run.key]: { ctl, attaching: false } }, liveStatus: 'Sending…' }));
      const answer = answerSink(run);

      let started = false;
      const onEvent = (ev: ChatStreamEvent) => {
        if (ev.type !== 'start') {
          answer.onEvent(ev);
          return;
        }
        started = true;
        const d = ev.data;
        if (run.key === NEW_CHAT) {
          // the draft becomes the new chat
          const chat: Chat = {
            id: d.chat_id,
            bot_id: d.bot_id,
            agent_id: d.agent_id ?? null,
            title: d.title ?? text.slice(0, 60),
            created_at: now,
            updated_at: now,
          };
          set((s) => {
            const draft = s.conversations[NEW_CHAT];
            const rest = { ...s.conversations };
            delete rest[NEW_CHAT];
            const streams = { ...s.streams };
            const mine = streams[NEW_CHAT];
            delete streams[NEW_CHAT];
            if (mine) streams[d.chat_id] = mine;
            return {
              conversations: {
                ...rest,
                [NEW_CHAT]: emptyConversation(null),
                [d.chat_id]: { ...draft, chatId: d.chat_id, loaded: true },
              },
              streams,
            };
          });
          run.key = d.chat_id;
          touchChat(chat);
          onCreated?.(d.chat_id);
        } else {
          const existing = get().chats.find((c) => c.id === run.key);
          if (existing) touchChat({ ...existing, updated_at: now });
        }
        patchConversation(run.key, (c) => ({
          ...c,
          messages: c.messages.map((m) =>
            m.key === userKey ? { ...m, id: d.user_message_id } : m.key === run.botKey ? { ...m, id: d.message_id } : m,
          ),
        }));
        ctl.chatId = d.chat_id;
        ctl.messageId = d.message_id;
        remember(d.chat_id, { messageId: d.message_id, userMessageId: d.user_message_id });
        set({ liveStatus: 'Answering…' });
        // Stop was pressed before the answer had an id
        if (ctl.stopRequested) stopAnswer(ctl);
      };

      try {
        const who = agentId ? { agent_id: agentId } : { bot_id: botId ?? '' };
        const last = await streamChat(
          { ...who, chat_id: chatId, message: text },
          { signal: ctl.controller.signal, onEvent, onConnection: answer.onConnection },
        );
        if (last === null) answer.finishedElsewhere();
        return null;
      } catch (e) {
        if (isAbortError(e)) {
          if (!started) {
            // stopped before the server said anything: nothing stored
            patchConversation(run.key, (c) => ({
              ...c,
              messages: c.messages.filter((m) => m.key !== userKey && m.key !== run.botKey),
            }));
            endStream(run, 'Stopped.');
            return null;
          }
          if (!ctl.controller.signal.aborted) {
            // aborted by the browser, not by Stop: the page is going away
            answer.finish({ status: 'error', errorCode: 'stream_interrupted', errorMessage: STREAM_INTERRUPTED_MESSAGE }, STREAM_INTERRUPTED_MESSAGE, true);
            return null;
          }
          answer.finish({ status: 'cancelled' }, STOPPED);
          return null;
        }
        const err =
          e instanceof ApiError ? e : new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e));
        if (!started) {
          // refused before the stream: take the turn back, the composer
          // shows why and keeps the text
          patchConversation(run.key, (c) => ({
            ...c,
            messages: c.messages.filter((m) => m.key !== userKey && m.key !== run.botKey),
          }));
          endStream(run, err.message);
          return err;
        }
        answer.finish({ status: 'error', errorCode: err.code, errorMessage: err.message }, `The answer failed: ${err.message}`);
        return null;
      } finally {
        ended();
      }
    },

    stop(key) {
      const keys = key === undefined ? Object.keys(get().streams) : [key];
      for (const k of keys) {
        const st = get().streams[k];
        if (!st) continue;
        if (st.attaching) {
          // nothing shown yet: just stop attaching
          st.ctl.controller.abort();
        } else if (st.ctl.chatId && st.ctl.messageId) {
          stopAnswer(st.ctl);
        } else {
          // the answer has no id yet: stopped as soon as it has (`start`)
          st.ctl.stopRequested = true;
          set({ liveStatus: 'Stopping…' });
        }
      }
    },

    async renameChat(chatId, title) {
      const chat = await api.renameChat(chatId, title);
      set((s) => ({ chats: s.chats.map((c) => (c.id === chatId ? { ...c, ...chat } : c)) }));
    },

    async deleteChat(chatId) {
      // the chat goes, and its answer with it
      get().streams[chatId]?.ctl.controller.abort();
      forget(chatId);
      await api.deleteChat(chatId);
      set((s) => {
        const conversations = { ...s.conversations };
        delete conversations[chatId];
        return { chats: s.chats.filter((c) => c.id !== chatId), conversations };
      });
    },

    async loadBots(force = false) {
      if (get().bots && !force) return;
      try {
        const all: AnyBot[] = [];
        let cursor: string | null = null;
        for (let i = 0; i < 10; i++) {
          const page = await api.bots({ limit: 100, cursor });
          all.push(...page.items);
          cursor = page.next_cursor;
          if (!cursor) break;
        }
        // the bots shared with the caller; a server without sharing (404)
        // or a failure here leaves just the caller's own
        let shared: AnyBot[] = [];
        try {
          shared = await allSharedBots();
        } catch {
          shared = [];
        }
        const have = new Set(all.map((b) => b.id));
        // bots looked up one by one stay (a link's bot not pinned)
        const extra = (get().bots ?? []).filter(
          (b) => !have.has(b.id) && !shared.some((x) => x.id === b.id) && b.is_owner === false,
        );
        set({ bots: [...all, ...shared.filter((b) => !have.has(b.id)), ...extra], botsError: null });
      } catch (e) {
        set({ botsError: e as Error });
      }
    },

    async ensureBot(id) {
      if (get().bots?.some((b) => b.id === id)) return true;
      if (get().botLookups[id] === 'loading') return false;
      set((s) => ({ botLookups: { ...s.botLookups, [id]: 'loading' } }));
      try {
        const bot = await sharingApi.bot(id);
        set((s) => {
          const lookups = { ...s.botLookups };
          delete lookups[id];
          const bots = s.bots ?? [];
          return { botLookups: lookups, bots: bots.some((b) => b.id === id) ? bots : [...bots, bot] };
        });
        return true;
      } catch (e) {
        set((s) => ({ botLookups: { ...s.botLookups, [id]: e as Error } }));
        return false;
      }
    },

    resetNew() {
      set((s) => ({ conversations: { ...s.conversations, [NEW_CHAT]: emptyConversation(null) } }));
    },

    reset() {
      // signing out stops reading; it does not stop the answers
      for (const st of Object.values(get().streams)) st.ctl.controller.abort();
      forgetAll();
      set({ ...initial, conversations: { [NEW_CHAT]: emptyConversation(null) }, streams: {} });
    },
  };
});

// Another user must never see this one's chats.
useAuth.subscribe((s, prev) => {
  if (prev.status === 'signed-in' && s.status !== 'signed-in') useChat.getState().reset();
  else if (prev.userId && s.userId && prev.userId !== s.userId) useChat.getState().reset();
});
