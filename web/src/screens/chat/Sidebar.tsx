import { useEffect, useRef } from 'react';
import { NavLink, useNavigate } from 'react-router-dom';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { CloseIcon, PlusIcon } from '../../components/Icons';
import { NEW_CHAT, useChat } from './chatStore';

interface Props {
  id: string;
  open: boolean;
  currentId: string | null;
  onClose: () => void;
}

/** The chats, most recent activity first, loaded page by page as the list
 * scrolls.  On narrow screens it is a panel the "Chats" button opens. */
export function Sidebar({ id, open, currentId, onClose }: Props) {
  const chats = useChat((s) => s.chats);
  const cursor = useChat((s) => s.chatsCursor);
  const loading = useChat((s) => s.chatsLoading);
  const loaded = useChat((s) => s.chatsLoaded);
  const error = useChat((s) => s.chatsError);
  const loadMore = useChat((s) => s.loadMoreChats);
  const loadChats = useChat((s) => s.loadChats);
  const resetNew = useChat((s) => s.resetNew);
  const newChatStreaming = useChat((s) => Boolean(s.streams[NEW_CHAT]));
  const navigate = useNavigate();
  const sentinel = useRef<HTMLDivElement>(null);
  const panel = useRef<HTMLElement>(null);

  useEffect(() => {
    const el = sentinel.current;
    if (!el || !cursor || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadMore();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [cursor, loadMore]);

  // opened by the "Chats" button (narrow screens): focus moves into it
  const wasOpen = useRef(open);
  useEffect(() => {
    if (open && !wasOpen.current) panel.current?.querySelector<HTMLElement>('button')?.focus();
    wasOpen.current = open;
  }, [open]);

  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [open, onClose]);

  function newChat() {
    if (!newChatStreaming) resetNew();
    navigate('/chat', { state: { compose: true } });
    onClose();
  }

  return (
    <>
      <aside
        ref={panel}
        id={id}
        aria-label="Chat list"
        className={[
          'min-h-0 shrink-0 flex-col border-r border-gray-200 bg-gray-50',
          // narrow screens: the list takes the whole width when open
          open ? 'flex w-full md:w-72' : 'hidden w-72 md:flex',
        ].join(' ')}
      >
        <div className="flex items-center gap-2 p-3">
          <button type="button" className="btn-primary flex-1" onClick={newChat}>
            <PlusIcon />
            New chat
          </button>
          {open ? (
            <button type="button" className="btn-ghost md:hidden" onClick={onClose} aria-label="Close chat list">
              <CloseIcon />
            </button>
          ) : null}
        </div>
        <nav aria-label="Chats" className="relative min-h-0 flex-1 overflow-y-auto px-2 pb-3">
          {loaded && chats.length === 0 ? (
            <p className="px-2 py-4 text-sm text-gray-600">No chats yet.</p>
          ) : null}
          <ul className="space-y-0.5">
            {chats.map((c) => (
              <li key={c.id}>
                <NavLink
                  to={`/chat/${c.id}`}
                  onClick={onClose}
                  className={({ isActive }) =>
                    [
                      'block truncate rounded-md px-3 py-2 text-sm',
                      'focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-accent-600',
                      isActive || c.id === currentId
                        ? 'bg-white font-medium text-gray-900 shadow-sm ring-1 ring-gray-200'
                        : 'text-gray-700 hover:bg-gray-100',
                    ].join(' ')
                  }
                  title={c.title}
                >
                  {c.title}
                </NavLink>
              </li>
            ))}
          </ul>
          {error ? (
            <div className="mt-2 space-y-2 px-1">
              <ErrorAlert error={error} />
              <button
                type="button"
                className="btn-secondary btn-sm"
                onClick={() => void (loaded ? loadMore() : loadChats())}
              >
                Try again
              </button>
            </div>
          ) : null}
          {loading ? (
            <div className="px-3 py-2">
              <Spinner label="Loading chats…" />
            </div>
          ) : null}
          {cursor && !loading ? (
            <div ref={sentinel} className="px-1 pt-2">
              <button type="button" className="btn-ghost btn-sm w-full" onClick={() => void loadMore()}>
                Load more chats
              </button>
            </div>
          ) : null}
        </nav>
      </aside>
    </>
  );
}
