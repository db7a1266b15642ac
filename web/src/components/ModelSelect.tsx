import type { Model } from '../api/types';
import type { ControlProps } from './FormRow';
import { modelName } from '../lib/models';

/**
 * The model picker of the bot and agent forms, inside a FormRow: a select
 * of the server's models (a model that is no longer offered stays, marked
 * "not available"), a text field when the list could not be loaded, and a
 * disabled one while it loads.
 */
export function ModelSelect({
  control,
  models,
  modelsFailed,
  value,
  onChange,
}: {
  control: ControlProps;
  models: Model[] | null;
  modelsFailed: boolean;
  value: string;
  onChange: (id: string) => void;
}) {
  if (!models) {
    return (
      <input {...control} className="input" value={value} disabled={!modelsFailed} onChange={(e) => onChange(e.target.value)} />
    );
  }
  const options: Model[] = [...models];
  if (value && !models.some((m) => m.id === value)) {
    options.push({ id: value, name: `${value} (not available)`, provider: '', offline: false });
  }
  return (
    <select {...control} className="input" value={value} onChange={(e) => onChange(e.target.value)}>
      {options.map((m) => (
        <option key={m.id} value={m.id}>
          {modelName(m)}
        </option>
      ))}
    </select>
  );
}

export const MODELS_FAILED_HINT =
  'The list of models could not be loaded; type a model id (“local” is the offline model).';
