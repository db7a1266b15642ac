// The documents list follows ingestion by polling: every 1.5 s while any
// document is queued or processing, and not at all once every one is ready
// or failed.  kick() after an upload or a retry starts it again.  One load
// at a time: a kick during a load asks for one more load after it.

import type { KbDocument } from '../../api/types';

export const POLL_MS = 1500;

export function isSettled(d: Pick<KbDocument, 'status'>): boolean {
  return d.status === 'ready' || d.status === 'failed';
}

export function anyUnsettled(docs: Pick<KbDocument, 'status'>[]): boolean {
  return docs.some((d) => !isSettled(d));
}

export interface PollerHandlers {
  load: () => Promise<KbDocument[]>;
  onDocuments: (docs: KbDocument[]) => void;
  onError?: (e: unknown) => void;
  /** After a load that found every document settled. */
  onSettled?: (docs: KbDocument[]) => void;
}

export class DocumentsPoller {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private loading = false;
  private again = false;
  private stopped = false;
  /** The last load found documents still being ingested. */
  private unsettled = false;

  constructor(
    private readonly h: PollerHandlers,
    private readonly interval = POLL_MS,
  ) {}

  /** Load now; polling continues while documents are unsettled. */
  kick(): void {
    if (this.stopped) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.loading) {
      this.again = true;
      return;
    }
    void this.tick();
  }

  /** For good (the page is gone). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A load is running or the next one is scheduled. */
  get active(): boolean {
    return this.loading || this.timer !== null;
  }

  private schedule(): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, this.interval);
  }

  private async tick(): Promise<void> {
    this.loading = true;
    try {
      const docs = await this.h.load();
      if (this.stopped) return;
      this.unsettled = anyUnsettled(docs);
      this.h.onDocuments(docs);
      if (!this.unsettled) this.h.onSettled?.(docs);
    } catch (e) {
      if (this.stopped) return;
      // keep trying while there was something to follow
      this.h.onError?.(e);
    } finally {
      this.loading = false;
    }
    if (this.again) {
      this.again = false;
      void this.tick();
    } else if (this.unsettled) {
      this.schedule();
    }
  }
}
