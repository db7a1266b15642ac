import { useId, useRef, useState, type FormEvent } from 'react';
import { knowledgeApi } from '../../api/knowledge';
import { ApiError } from '../../api/errors';
import type { KnowledgeBase, KnowledgeBaseInput } from '../../api/types';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert, errorMessage } from '../../components/ErrorAlert';
import { FormRow } from '../../components/FormRow';
import { errorField } from '../../lib/fieldErrors';
import { EMBEDDING_MODELS, embeddingLabel } from './format';

interface Props {
  kb: KnowledgeBase | null;
  onClose: () => void;
  onSaved: (kb: KnowledgeBase) => void;
}

/** Which field a refusal is about. */
function fieldOf(e: unknown): string | null {
  if (e instanceof ApiError && e.code === 'embedding_model_unavailable') return 'embedding_model';
  const f = errorField(e);
  return f === 'name' || f === 'description' || f === 'embedding_model' ? f : null;
}

/** Create a knowledge base, or edit one's name and description (its
 * embedding model is fixed once documents are embedded with it). */
export function KnowledgeBaseForm({ kb, onClose, onSaved }: Props) {
  const id = useId();
  const nameRef = useRef<HTMLInputElement>(null);
  const [name, setName] = useState(kb?.name ?? '');
  const [description, setDescription] = useState(kb?.description ?? '');
  const [model, setModel] = useState(kb?.embedding_model ?? 'local');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const field = fieldOf(error);
  const errFor = (k: string) => (field === k ? errorMessage(error) : null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const body: KnowledgeBaseInput = { name: name.trim(), description };
    if (!kb) body.embedding_model = model;
    setBusy(true);
    setError(null);
    try {
      const saved = kb ? await knowledgeApi.update(kb.id, body) : await knowledgeApi.create(body);
      onSaved(saved);
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={kb ? 'Edit knowledge base' : 'New knowledge base'}
      onClose={busy ? () => {} : onClose}
      initialFocus={nameRef}
    >
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
          label="Embedding model"
          error={errFor('embedding_model')}
          hint={
            kb
              ? 'Fixed: every document of this knowledge base is embedded with it.'
              : 'How passages are turned into vectors for search. It cannot be changed later.'
          }
        >
          {(p) =>
            kb ? (
              <input {...p} className="input" value={embeddingLabel(kb.embedding_model)} readOnly disabled />
            ) : (
              <select {...p} className="input" value={model} onChange={(e) => setModel(e.target.value)}>
                {EMBEDDING_MODELS.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.label}
                  </option>
                ))}
              </select>
            )
          }
        </FormRow>
        {error && !field ? <ErrorAlert>{errorMessage(error)}</ErrorAlert> : null}
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className="btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn-primary" disabled={busy}>
            {kb ? 'Save' : 'Create knowledge base'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
