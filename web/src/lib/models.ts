import type { Model } from '../api/types';

/** How a model is named in pickers and lists; the offline one says so. */
export function modelName(m: Model): string {
  if (!m.offline) return m.name;
  return /offline/i.test(m.name) ? `${m.name} (no network)` : `${m.name} — Offline model (no network)`;
}

/** A model id as people read it (the id itself when it is not offered). */
export function modelLabel(models: Model[] | null, id: string): string {
  const m = models?.find((x) => x.id === id);
  return m ? modelName(m) : id;
}
