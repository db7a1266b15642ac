// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DocumentStatus, KbDocument } from '../../api/types';
import { DocumentsPoller, POLL_MS } from './poll';

const doc = (id: string, status: DocumentStatus): KbDocument => ({
  id,
  knowledge_base_id: 'kb1',
  filename: `${id}.md`,
  content_type: 'text/markdown',
  source_url: null,
  size_bytes: 1,
  status,
  error: status === 'failed' ? 'no text found' : null,
  progress: { done: 0, total: 0 },
  chunk_count: 0,
  created_at: '',
  updated_at: '',
});

/** A poller over scripted answers (the last one repeats). */
function setup(answers: KbDocument[][]) {
  const load = vi.fn(async () => answers[Math.min(load.mock.calls.length - 1, answers.length - 1)]);
  const onDocuments = vi.fn();
  const onSettled = vi.fn();
  const poller = new DocumentsPoller({ load, onDocuments, onSettled });
  return { load, onDocuments, onSettled, poller };
}

describe('documents polling', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('polls every 1.5 s while a document is queued or processing, and stops once all are settled', async () => {
    const { load, onDocuments, onSettled, poller } = setup([
      [doc('a', 'queued'), doc('b', 'ready')],
      [doc('a', 'processing'), doc('b', 'ready')],
      [doc('a', 'ready'), doc('b', 'ready')],
    ]);
    poller.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(load).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(load).toHaveBeenCalledTimes(1); // not before 1.5 s
    await vi.advanceTimersByTimeAsync(1);
    expect(load).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(load).toHaveBeenCalledTimes(3);
    expect(onDocuments.mock.calls[2][0].map((d: KbDocument) => d.status)).toEqual(['ready', 'ready']);
    expect(onSettled).toHaveBeenCalledTimes(1);
    // settled: no more requests, however long the page stays open
    await vi.advanceTimersByTimeAsync(POLL_MS * 20);
    expect(load).toHaveBeenCalledTimes(3);
    expect(poller.active).toBe(false);
  });

  it('a failed document is settled too', async () => {
    const { load, poller } = setup([[doc('a', 'failed'), doc('b', 'ready')]]);
    poller.kick();
    await vi.advanceTimersByTimeAsync(POLL_MS * 10);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('kick() after an upload starts polling again; stop() ends it for good', async () => {
    const { load, poller } = setup([[doc('a', 'ready')], [doc('a', 'ready'), doc('n', 'queued')]]);
    poller.kick();
    await vi.advanceTimersByTimeAsync(POLL_MS * 3);
    expect(load).toHaveBeenCalledTimes(1);
    poller.kick(); // a new upload: now something is queued
    await vi.advanceTimersByTimeAsync(0);
    expect(load).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    expect(load).toHaveBeenCalledTimes(4);
    poller.stop();
    await vi.advanceTimersByTimeAsync(POLL_MS * 5);
    expect(load).toHaveBeenCalledTimes(4);
    expect(poller.active).toBe(false);
  });

  it('a failed load while documents were pending keeps polling; an error on a settled list does not', async () => {
    let call = 0;
    const load = vi.fn(async () => {
      call += 1;
      if (call === 2) throw new Error('offline');
      return call < 3 ? [doc('a', 'processing')] : [doc('a', 'ready')];
    });
    const onError = vi.fn();
    const poller = new DocumentsPoller({ load, onDocuments: () => {}, onError });
    poller.kick();
    await vi.advanceTimersByTimeAsync(POLL_MS * 10);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenCalledTimes(3);
  });
});
