import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../../api/client';
import { allKnowledgeBases } from '../../api/knowledge';
import type { Bot, BotInput, KnowledgeBase, Model } from '../../api/types';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { Spinner } from '../../components/Loading';
import { errorField } from '../../lib/fieldErrors';
import { modelLabel } from '../../lib/models';
import { MODELS_FAILED_HINT, ModelSelect } from '../../components/ModelSelect';
import { FormRow } from '../../components/FormRow';
import type { BotDraft } from './fromAgent';

export { modelLabel };

interface Props {
  bot: Bot | null;
  /** A new bot's starting values (e.g. from an agent); ignored when editing. */
  draft?: BotDraft | null;
  /** Shown above the fields (e.g. what a bot made from an agent lacks). */
  note?: ReactNode;
  models: Model[] | null;
  modelsFailed: boolean;
  defaultModel: string;
  onClose: () => void;
  onSaved: (b: Bot) => void;
}

const FIELD_OF_INPUT: Record<string, string> = {
  name: 'name',
  description: 'description',
  model_id: 'model',
  instructions: 'instructions',
  temperature: 'temperature',
  max_tokens: 'max_tokens',
  rag_enabled: 'knowledge',
  knowledge_base_ids: 'knowledge',
  knowledge_base_id: 'knowledge',
};

/** A bot links to at most this many knowledge bases. */
export const MAX_BOT_KNOWLEDGE_BASES = 10;

/** The knowledge bases a bot answers from (older servers: the one id). */
export function botKnowledgeBaseIds(bot: Bot | null): string[] {
  if (!bot) return [];
  if (Array.isArray(bot.knowledge_base_ids)) return bot.knowledge_base_ids;
  return bot.knowledge_base_id ? [bot.knowledge_base_id] : [];
}

export function BotForm({ bot, draft, note, models, modelsFailed, defaultModel, onClose, onSaved }: Props) {
  const id = useId();
  const nameRef = useRef<HTMLInputElement>(null);
  const start = bot ?? draft ?? null;
  const [name, setName] = useState(start?.name ?? '');
  const [description, setDescription] = useState(start?.description ?? '');
  const [modelId, setModelId] = useState(start?.model_id ?? defaultModel);
  const [instructions, setInstructions] = useState(start?.instructions ?? '');
  const [temperature, setTemperature] = useState(String(start?.temperature ?? 0.7));
  const [maxTokens, setMaxTokens] = useState(String(start?.max_tokens ?? 4096));
  const [rag, setRag] = useState(bot?.rag_enabled ?? false);
  const [kbIds, setKbIds] = useState<string[]>(() => botKnowledgeBaseIds(bot));
  const [kbs, setKbs] = useState<KnowledgeBase[] | null>(null);
  const [kbsError, setKbsError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const ctl = new AbortController();
    allKnowledgeBases(ctl.signal).then(setKbs, (e) => {
      if (!ctl.signal.aborted) setKbsError(e);
    });
    return () => ctl.abort();
  }, []);

  function toggleKb(kbId: string, on: boolean) {
    setKbIds((cur) => (on ? (cur.includes(kbId) ? cur : [...cur, kbId]) : cur.filter((x) => x !== kbId)));
  }

  const field = errorField(error);
  const fieldKey = field ? FIELD_OF_INPUT[field] ?? null : null;
  const errFor = (k: string) => (fieldKey === k ? errorMessage(error) : null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const body: BotInput = {
      name: name.trim(),
      description,
      model_id: modelId.trim() || defaultModel,
      instructions,
    };
    if (temperature.trim() !== '') body.temperature = Number(temperature);
    if (maxTokens.trim() !== '') body.max_tokens = Number(maxTokens);
    body.rag_enabled = rag;
    // only the ones that still exist; unknown when the list did not load
    // (then the server keeps what it has)
    if (kbs) body.knowledge_base_ids = kbIds.filter((k) => kbs.some((x) => x.id === k));
    setBusy(true);
    setError(null);
    try {
      const saved = bot ? await api.updateBot(bot.id, body) : await api.createBot(body);
      onSaved(saved);
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <Dialog title={bot ? 'Edit bot' : 'New bot'} onClose={busy ? () => {} : onClose} initialFocus={nameRef} size="lg">
      <form onSubmit={submit} className="space-y-4" noValidate>
        {note}
        <FormRow id={`${id}-name`} label="Name" error={errFor('name')}>
          {(p) => (
            <input
              {...p}
              ref={nameRef}
              className="input"
              value={name}
              maxLength={255}
              required
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </FormRow>
        <FormRow id={`${id}-description`} label="Description" error={errFor('description')}>
          {(p) => (
            <textarea
              {...p}
              className="input"
              rows={2}
              maxLength={2000}
              value={description}
              onChange={(e) => setDescription(e.target.value)}
            />
          )}
        </FormRow>
        <FormRow
          id={`${id}-model`}
          label="Model"
          error={errFor('model')}
          hint={modelsFailed ? MODELS_FAILED_HINT : undefined}
        >
          {(p) => <ModelSelect control={p} models={models} modelsFailed={modelsFailed} value={modelId} onChange={setModelId} />}
        </FormRow>
        <FormRow
          id={`${id}-instructions`}
          label="Instructions"
          error={errFor('instructions')}
          hint="The system prompt: how the bot should behave."
        >
          {(p) => (
            <textarea
              {...p}
              className="input font-mono text-[0.85rem]"
              rows={6}
              value={instructions}
              onChange={(e) => setInstructions(e.target.value)}
            />
          )}
        </FormRow>
        <div className="grid gap-4 sm:grid-cols-2">
          <FormRow id={`${id}-temperature`} label="Temperature" error={errFor('temperature')} hint="0 (focused) to 1 (creative).">
            {(p) => (
              <input
                {...p}
                className="input"
                type="number"
                inputMode="decimal"
                min={0}
                max={1}
                step={0.1}
                value={temperature}
                onChange={(e) => setTemperature(e.target.value)}
              />
            )}
          </FormRow>
          <FormRow id={`${id}-max-tokens`} label="Max tokens" error={errFor('max_tokens')} hint="Longest answer, 1 to 65536.">
            {(p) => (
              <input
                {...p}
                className="input"
                type="number"
                inputMode="numeric"
                min={1}
                max={65536}
                step={1}
                value={maxTokens}
                onChange={(e) => setMaxTokens(e.target.value)}
              />
            )}
          </FormRow>
        </div>
        <KnowledgePicker
          id={id}
          rag={rag}
          onRag={setRag}
          kbs={kbs}
          kbsError={kbsError}
          selected={kbIds}
          onToggle={toggleKb}
          error={errFor('knowledge')}
        />
        {error && !fieldKey ? <ErrorAlert>{errorMessage(error)}</ErrorAlert> : null}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}


/** "Use knowledge bases" (rag_enabled) and which of the owner's knowledge
 * bases (a checkbox each, at most 10). */
function KnowledgePicker({
  id,
  rag,
  onRag,
  kbs,
  kbsError,
  selected,
  onToggle,
  error,
}: {
  id: string;
  rag: boolean;
  onRag: (on: boolean) => void;
  kbs: KnowledgeBase[] | null;
  kbsError: unknown;
  selected: string[];
  onToggle: (kbId: string, on: boolean) => void;
  error: string | null;
}) {
  const ragId = `${id}-rag`;
  const hintId = `${id}-rag-hint`;
  const errId = `${id}-kb-error`;
  const full = selected.length >= MAX_BOT_KNOWLEDGE_BASES;
  return (
    <div className="space-y-2 rounded-md border-b border-t border-gray-200 py-3">
      <div>
        <div className="flex items-center gap-2">
          <input
            id={ragId}
            type="checkbox"
            className="h-4 w-4"
            checked={rag}
            aria-describedby={hintId}
            onChange={(e) => onRag(e.target.checked)}
          />
          <label htmlFor={ragId} className="text-sm font-medium text-gray-900">
            Use knowledge bases
          </label>
        </div>
        <p id={hintId} className="hint">
          Answers draw on the documents of the chosen knowledge bases and cite them.
        </p>
      </div>
      <fieldset aria-describedby={error ? errId : undefined} aria-invalid={error ? true : undefined}>
        <legend className="label">Knowledge bases</legend>
        {kbsError ? <ErrorAlert error={kbsError} /> : null}
        {!kbs && !kbsError ? <Spinner label="Loading knowledge bases…" /> : null}
        {kbs && kbs.length === 0 ? (
          <p className="text-sm text-gray-700">
            You have no knowledge bases yet.{' '}
            <Link to="/knowledge" className="link">
              Create one
            </Link>
            .
          </p>
        ) : null}
        {kbs && kbs.length > 0 ? (
          <ul className="max-h-48 space-y-0.5 overflow-y-auto">
            {kbs.map((kb) => {
              const cid = `${id}-kb-${kb.id}`;
              const on = selected.includes(kb.id);
              return (
                <li key={kb.id} className="flex items-center gap-2">
                  <input
                    id={cid}
                    type="checkbox"
                    className="h-4 w-4"
                    checked={on}
                    disabled={!on && full}
                    onChange={(e) => onToggle(kb.id, e.target.checked)}
                  />
                  <label htmlFor={cid} className="min-w-0 truncate text-sm text-gray-900">
                    {kb.name}
                  </label>
                  <span className="shrink-0 text-xs text-gray-600">
                    {kb.document_count} {kb.document_count === 1 ? 'document' : 'documents'}
                  </span>
                </li>
              );
            })}
          </ul>
        ) : null}
        {full ? <p className="hint">A bot can use at most {MAX_BOT_KNOWLEDGE_BASES} knowledge bases.</p> : null}
        {error ? (
          <p id={errId} role="alert" className="mt-1 text-sm text-red-800">
            {error}
          </p>
        ) : null}
      </fieldset>
    </div>
  );
}
