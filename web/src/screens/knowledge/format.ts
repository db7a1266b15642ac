// How knowledge-base numbers and names read on screen.
import { n } from '../../lib/format';

export const EMBEDDING_MODELS: { id: string; label: string }[] = [
  { id: 'local', label: 'Local (offline)' },
  { id: 'amazon.titan-embed-text-v2:0', label: 'Amazon Titan Text Embeddings v2' },
];

export function embeddingLabel(id: string): string {
  return EMBEDDING_MODELS.find((m) => m.id === id)?.label ?? id;
}

/** 1536 → "1.5 KB" (powers of 1024, as file managers say). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  if (bytes < 1024) return `${n(bytes)}\u00a0B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10}\u00a0${units[i]}`;
}

/** "text/markdown; charset=utf-8" → "Markdown" */
export function typeLabel(contentType: string | null | undefined, filename = ''): string {
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (t === 'text/plain') return 'Text';
  if (t === 'text/markdown') return 'Markdown';
  if (t === 'text/html') return 'HTML';
  if (t === 'application/pdf') return 'PDF';
  if (t) return t;
  const dot = filename.lastIndexOf('.');
  return dot >= 0 ? filename.slice(dot + 1).toUpperCase() : '—';
}

export function pageLabel(page: number | null | undefined): string | null {
  return page && page > 0 ? `page ${page}` : null;
}

export function scoreLabel(score: number): string {
  return Number.isFinite(score) ? score.toFixed(3) : String(score);
}
