// Chat state: the sidebar's chats, the conversations opened, and the one
// answer being streamed.  A store rather than component state so a stream
// survives the move from /chat to /chat/<id> when a new chat starts.

import { create } from 'zustand';
import { api } from '../../api/client';
import { ApiError, describeAnswerError, isAbortError } from '../../api/errors';
import { streamChat } from '../../api/sse';
import type { Bot, Chat, ChatStreamEvent, Citation, Message } from '../../api/types';
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

interface StreamState {
  key: string;
  controller: AbortController;
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
  streaming: StreamState | null;
  /** Polite status text for screen readers. */
  liveStatus: string;

  bots: Bot[] | null;
  botsError: ApiError | Error | null;

  loadChats(): Promise<void>;
  loadMoreChats(): Promise<void>;
  loadConversation(chatId: string, force?: boolean): Promise<void>;
  loadMoreMessages(chatId: string): Promise<void>;
  /** Resolves with the error that refused the turn before its stream
   * started (the text is not sent), or null. */
  send(args: SendArgs): Promise<ApiError | null>;
  stop(): void;
  renameChat(chatId: string, title: string): Promise<void>;
  deleteChat(chatId: string): Promise<void>;
  loadBots(force?: boolean): Promise<void>;
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
  const out = raw.filter(
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

const initial = {
  chats: [] as Chat[],
  chatsCursor: null as string | null,
  chatsLoading: false,
  chatsLoaded: false,
  chatsError: null,
  conversations: { [NEW_CHAT]: emptyConversation(null) } as Record<string, Conversation>,
  streaming: null as StreamState | null,
  liveStatus: '',
  bots: null as Bot[] | null,
  botsError: null,
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
      if (get().streaming?.key === chatId) return;
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
      if (get().streaming) return null;
      let key = startKey;
      const chatId = key === NEW_CHAT ? null : key;
      const controller = new AbortController();
      const userKey = localKey();
      const botKey = localKey();
      const now = new Date().toISOString();

      if (!get().conversations[key]) {
        set((s) => ({ conversations: { ...s.conversations, [key]: { ...emptyConversation(chatId), loaded: true } } }));
      }
      patchConversation(key, (c) => ({
        ...c,
        messages: [
          ...c.messages,
          { key: userKey, id: null, role: 'user', content: text, status: 'complete', errorCode: null, errorMessage: null, createdAt: now, citations: null, toolCalls: null, agents: null },
          { key: botKey, id: null, role: 'assistant', content: '', status: 'streaming', errorCode: null, errorMessage: null, createdAt: now, citations: null, toolCalls: null, agents: null },
        ],
      }));
      set({ streaming: { key, controller }, liveStatus: 'Sending…' });

      // Deltas are applied at most once a frame.
      let pending = '';
      let flushTimer: ReturnType<typeof setTimeout> | null = null;
      const flush = () => {
        flushTimer = null;
        if (!pending) return;
        const add = pending;
        pending = '';
        patchMessage(key, botKey, (m) => ({ ...m, content: m.content + add }));
      };
      const queue = (delta: string) => {
        pending += delta;
        if (flushTimer === null) flushTimer = setTimeout(flush, 16);
      };

      let started = false;
      const finish = (patch: Partial<UiMessage>, status: string) => {
        if (flushTimer !== null) clearTimeout(flushTimer);
        flush();
        const reason = patch.status === 'cancelled' ? NO_RESULT_STOPPED : NO_RESULT_ENDED;
        patchMessage(key, botKey, (m) => ({
          ...m,
          ...patch,
          // nothing more will come for calls still running
          toolCalls: settleToolCalls(m.toolCalls, reason),
          agents: settleAgents(m.agents),
        }));
        set({ streaming: null, liveStatus: status });
      };

      const onEvent = (ev: ChatStreamEvent) => {
        switch (ev.type) {
          case 'start': {
            started = true;
            const d = ev.data;
            if (key === NEW_CHAT) {
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
                return {
                  conversations: {
                    ...rest,
                    [NEW_CHAT]: emptyConversation(null),
                    [d.chat_id]: { ...draft, chatId: d.chat_id, loaded: true },
                  },
                  streaming: s.streaming ? { ...s.streaming, key: d.chat_id } : s.streaming,
                };
              });
              key = d.chat_id;
              touchChat(chat);
              onCreated?.(d.chat_id);
            } else {
              const existing = get().chats.find((c) => c.id === key);
              if (existing) touchChat({ ...existing, updated_at: now });
            }
            patchConversation(key, (c) => ({
              ...c,
              messages: c.messages.map((m) =>
                m.key === userKey ? { ...m, id: d.user_message_id } : m.key === botKey ? { ...m, id: d.message_id } : m,
              ),
            }));
            set({ liveStatus: 'Answering…' });
            break;
          }
          case 'citations':
            // before the first delta: the sources the answer will cite
            patchMessage(key, botKey, (m) => ({ ...m, citations: validCitations(ev.data.citations) }));
            break;
          case 'message':
            if (typeof ev.data.content === 'string') queue(ev.data.content);
            break;
          case 'tool_call': {
            const data = ev.data;
            let added = false;
            patchMessage(key, botKey, (m) => {
              const toolCalls = addToolCall(m.toolCalls, data);
              added = toolCalls !== m.toolCalls;
              return added ? { ...m, toolCalls } : m;
            });
            if (added) set({ liveStatus: `Using the tool ${data.name}…` });
            break;
          }
          case 'tool_result': {
            const data = ev.data;
            patchMessage(key, botKey, (m) => {
              const toolCalls = applyToolResult(m.toolCalls, data);
              return toolCalls === m.toolCalls ? m : { ...m, toolCalls };
            });
            break;
          }
          case 'agent': {
            const data = ev.data;
            patchMessage(key, botKey, (m) => {
              const agents = applyAgentEvent(m.agents, data);
              return agents === m.agents ? m : { ...m, agents };
            });
            break;
          }
          case 'done':
            finish({ status: 'complete' }, 'Answer complete.');
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

      try {
        const who = agentId ? { agent_id: agentId } : { bot_id: botId ?? '' };
        await streamChat({ ...who, chat_id: chatId, message: text }, { signal: controller.signal, onEvent });
        return null;
      } catch (e) {
        if (isAbortError(e)) {
          if (!started) {
            // stopped before the server said anything: nothing stored
            patchConversation(key, (c) => ({
              ...c,
              messages: c.messages.filter((m) => m.key !== userKey && m.key !== botKey),
            }));
            set({ streaming: null, liveStatus: 'Stopped.' });
            return null;
          }
          finish({ status: 'cancelled' }, 'Stopped. The partial answer is kept.');
          return null;
        }
        const err =
          e instanceof ApiError ? e : new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e));
        if (!started) {
          // refused before the stream: take the turn back, the composer
          // shows why and keeps the text
          patchConversation(key, (c) => ({
            ...c,
            messages: c.messages.filter((m) => m.key !== userKey && m.key !== botKey),
          }));
          set({ streaming: null, liveStatus: err.message });
          return err;
        }
        finish({ status: 'error', errorCode: err.code, errorMessage: err.message }, `The answer failed: ${err.message}`);
        return null;
      }
    },

    stop() {
      get().streaming?.controller.abort();
    },

    async renameChat(chatId, title) {
      const chat = await api.renameChat(chatId, title);
      set((s) => ({ chats: s.chats.map((c) => (c.id === chatId ? { ...c, ...chat } : c)) }));
    },

    async deleteChat(chatId) {
      if (get().streaming?.key === chatId) get().stop();
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
        const all: Bot[] = [];
        let cursor: string | null = null;
        for (let i = 0; i < 10; i++) {
          const page = await api.bots({ limit: 100, cursor });
          all.push(...page.items);
          cursor = page.next_cursor;
          if (!cursor) break;
        }
        set({ bots: all, botsError: null });
      } catch (e) {
        set({ botsError: e as Error });
      }
    },

    resetNew() {
      set((s) => ({ conversations: { ...s.conversations, [NEW_CHAT]: emptyConversation(null) } }));
    },

    reset() {
      get().streaming?.controller.abort();
      set({ ...initial, conversations: { [NEW_CHAT]: emptyConversation(null) } });
    },
  };
});

// Another user must never see this one's chats.
useAuth.subscribe((s, prev) => {
  if (prev.status === 'signed-in' && s.status !== 'signed-in') useChat.getState().reset();
  else if (prev.userId && s.userId && prev.userId !== s.userId) useChat.getState().reset();
});
