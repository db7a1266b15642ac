import { useCallback, useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import type { Citation } from '../../api/types';
import { CitationDialog, Sources } from './Citations';
import { Markdown } from './Markdown';
import { AgentRuns, ToolCalls } from './ToolCalls';
import { useChat, type UiMessage } from './chatStore';

const EMPTY: UiMessage[] = [];

export function MessageList({ conversationKey, footer }: { conversationKey: string; footer?: ReactNode }) {
  const messages = useChat((s) => s.conversations[conversationKey]?.messages ?? EMPTY);
  const liveStatus = useChat((s) => s.liveStatus);
  const scroller = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  // follow the answer while the reader is at the bottom
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const onScroll = () => {
      stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    return () => el.removeEventListener('scroll', onScroll);
  }, []);

  return (
    <div
      ref={scroller}
      role="region"
      aria-label="Conversation history"
      // scrollable by keyboard too
      tabIndex={0}
      className="relative min-h-0 flex-1 overflow-y-auto focus-visible:ring-inset"
    >
      <ol className="mx-auto flex max-w-3xl flex-col gap-4 px-3 py-4 sm:px-6">
        {messages.map((m) => (
          <MessageItem key={m.key} message={m} />
        ))}
      </ol>
      {footer}
      <div className="sr-only" aria-live="polite" aria-atomic="true">
        {liveStatus}
      </div>
    </div>
  );
}

function MessageItem({ message: m }: { message: UiMessage }) {
  const isUser = m.role === 'user';
  const [open, setOpen] = useState<Citation | null>(null);
  const citations = m.citations;
  const onCite = useCallback(
    (k: number) => {
      const c = citations?.find((x) => x.n === k);
      if (c) setOpen(c);
    },
    [citations],
  );
  const citeCount = citations ? Math.max(0, ...citations.map((c) => c.n)) : 0;
  return (
    <li
      data-role={m.role}
      data-status={m.status}
      data-message-id={m.id ?? undefined}
      data-reconnecting={m.status === 'streaming' && m.reconnecting ? 'true' : undefined}
      className={isUser ? 'flex justify-end' : 'flex justify-start'}
    >
      <article
        aria-label={isUser ? 'You' : 'Assistant'}
        className={
          isUser
            ? 'max-w-[85%] rounded-2xl rounded-br-md bg-accent-50 px-4 py-2.5 text-gray-900 ring-1 ring-accent-200'
            : 'w-full min-w-0 max-w-full rounded-2xl rounded-bl-md bg-white px-4 py-3 ring-1 ring-gray-200 sm:max-w-[95%]'
        }
      >
        {isUser ? (
          <p className="whitespace-pre-wrap break-words text-[0.94rem] leading-relaxed">{m.content}</p>
        ) : (
          <>
            {m.agents ? <AgentRuns runs={m.agents} /> : null}
            {m.toolCalls ? <ToolCalls calls={m.toolCalls} /> : null}
            {m.content ? (
              <Markdown text={m.content} citeCount={citeCount} onCite={citeCount > 0 ? onCite : undefined} />
            ) : null}
            {m.status === 'streaming' && !m.content ? (
              <p className="flex items-center gap-1 text-gray-500">
                <span className="sr-only">Writing…</span>
                <span aria-hidden="true" className="h-2 w-2 animate-pulse rounded-full bg-gray-400 motion-reduce:animate-none" />
                <span aria-hidden="true" className="h-2 w-2 animate-pulse rounded-full bg-gray-400 motion-reduce:animate-none [animation-delay:150ms]" />
                <span aria-hidden="true" className="h-2 w-2 animate-pulse rounded-full bg-gray-400 motion-reduce:animate-none [animation-delay:300ms]" />
              </p>
            ) : null}
            {m.status === 'streaming' && m.content ? (
              <span className="ml-0.5 inline-block h-4 w-1.5 animate-pulse bg-gray-400 align-middle motion-reduce:animate-none" aria-hidden="true" />
            ) : null}
            {m.status === 'streaming' && m.reconnecting ? (
              <p className="mt-2 flex items-center gap-2 text-xs text-gray-600" data-reconnecting-note>
                <span aria-hidden="true" className="h-2 w-2 animate-pulse rounded-full bg-amber-500 motion-reduce:animate-none" />
                Connection lost. Reconnecting…
              </p>
            ) : null}
            {m.status === 'cancelled' ? (
              <p className="mt-2">
                <span className="inline-flex items-center rounded-full bg-gray-100 px-2 py-0.5 text-xs font-medium text-gray-700 ring-1 ring-gray-300">
                  Stopped
                </span>
              </p>
            ) : null}
            {m.status === 'error' ? (
              <div role="alert" className="alert-error mt-2" data-error-code={m.errorCode ?? undefined}>
                {m.errorMessage ?? 'The answer failed.'}
              </div>
            ) : null}
            {m.status === 'complete' && !m.content ? (
              <p className="text-sm italic text-gray-600">(empty answer)</p>
            ) : null}
            {citations ? <Sources citations={citations} onOpen={setOpen} /> : null}
          </>
        )}
      </article>
      {open ? <CitationDialog citation={open} onClose={() => setOpen(null)} /> : null}
    </li>
  );
}
