import { useId, useRef, useState, type KeyboardEvent } from 'react';
import { ApiError } from '../../api/errors';
import { StopIcon } from '../../components/Icons';
import { useChat } from './chatStore';

interface Props {
  conversationKey: string;
  botId: string | null;
  /** Set instead of botId for a chat with an agent. */
  agentId?: string | null;
  onCreated?: (chatId: string) => void;
}

/** The message box: Enter sends, Shift+Enter is a new line. */
export function Composer({ conversationKey, botId, agentId = null, onCreated }: Props) {
  const [text, setText] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  // the answer of this conversation: Send waits for it; Stop once it shows
  const stream = useChat((s) => s.streams[conversationKey] ?? null);
  const streaming = stream !== null;
  const stoppable = stream !== null && !stream.attaching;
  const send = useChat((s) => s.send);
  const stop = useChat((s) => s.stop);
  const id = useId();
  const errId = `${id}-error`;
  const areaRef = useRef<HTMLTextAreaElement>(null);

  const canSend = text.trim().length > 0 && !streaming && (botId !== null || agentId !== null);

  async function submit() {
    if (!canSend) return;
    const message = text;
    setError(null);
    setText('');
    const err = await send({ key: conversationKey, botId, agentId, text: message, onCreated });
    if (err) {
      // refused before the stream started: nothing was sent, keep the text
      setError(err);
      setText((cur) => (cur === '' ? message : cur));
      areaRef.current?.focus();
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  }

  return (
    <div className="border-t border-gray-200 bg-white px-3 py-3 sm:px-6">
      <form
        className="mx-auto max-w-3xl"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {error ? (
          <div id={errId} role="alert" className="alert-error mb-2" data-error-code={error.code}>
            {error.message}
          </div>
        ) : null}
        <label htmlFor={id} className="sr-only">
          Message
        </label>
        <div className="flex items-end gap-2">
          <textarea
            id={id}
            ref={areaRef}
            rows={2}
            className="input max-h-48 min-h-[2.75rem] flex-1 resize-y"
            placeholder="Write a message… (Enter to send, Shift+Enter for a new line)"
            value={text}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={onKeyDown}
            aria-describedby={error ? errId : undefined}
            aria-invalid={error ? true : undefined}
          />
          <div className="flex flex-col gap-2 sm:flex-row">
            {stoppable ? (
              <button type="button" className="btn-secondary" onClick={() => stop(conversationKey)}>
                <StopIcon />
                Stop
              </button>
            ) : null}
            <button type="submit" className="btn-primary" disabled={!canSend}>
              Send
            </button>
          </div>
        </div>
      </form>
    </div>
  );
}
