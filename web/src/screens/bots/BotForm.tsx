import { useId, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import type { Bot, BotInput, Model } from '../../api/types';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { errorField } from '../../lib/fieldErrors';
import { modelName } from '../../lib/models';
import { FormRow } from '../../components/FormRow';

export function modelLabel(models: Model[] | null, id: string): string {
  const m = models?.find((x) => x.id === id);
  return m ? modelName(m) : id;
}

interface Props {
  bot: Bot | null;
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
};

export function BotForm({ bot, models, modelsFailed, defaultModel, onClose, onSaved }: Props) {
  const id = useId();
  const nameRef = useRef<HTMLInputElement>(null);
  const [name, setName] = useState(bot?.name ?? '');
  const [description, setDescription] = useState(bot?.description ?? '');
  const [modelId, setModelId] = useState(bot?.model_id ?? defaultModel);
  const [instructions, setInstructions] = useState(bot?.instructions ?? '');
  const [temperature, setTemperature] = useState(String(bot?.temperature ?? 0.7));
  const [maxTokens, setMaxTokens] = useState(String(bot?.max_tokens ?? 4096));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

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

  const modelOptions: Model[] = models ? [...models] : [];
  if (models && modelId && !models.some((m) => m.id === modelId)) {
    modelOptions.push({ id: modelId, name: `${modelId} (not available)`, provider: '', offline: false });
  }

  return (
    <Dialog title={bot ? 'Edit bot' : 'New bot'} onClose={busy ? () => {} : onClose} initialFocus={nameRef} size="lg">
      <form onSubmit={submit} className="space-y-4" noValidate>
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
          hint={modelsFailed ? 'The list of models could not be loaded; type a model id (“local” is the offline model).' : undefined}
        >
          {(p) =>
            models ? (
              <select {...p} className="input" value={modelId} onChange={(e) => setModelId(e.target.value)}>
                {modelOptions.map((m) => (
                  <option key={m.id} value={m.id}>
                    {modelName(m)}
                  </option>
                ))}
              </select>
            ) : (
              <input
                {...p}
                className="input"
                value={modelId}
                disabled={!modelsFailed}
                onChange={(e) => setModelId(e.target.value)}
              />
            )
          }
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

