// Download progress in the JSON log: every few seconds while bytes flow, and once at the end.
import type { Logger } from '../common/logger.js';

export interface ProgressFields {
  bytes: number;
  total: number | null;
  percent: number | null;
  bytesPerSecond: number;
}

/** What one progress line says, from counters alone. */
export function progressFields(bytes: number, total: number | undefined, elapsedMs: number): ProgressFields {
  return {
    bytes,
    total: total ?? null,
    percent: total ? Math.min(100, Math.round((bytes / total) * 1000) / 10) : total === 0 ? 100 : null,
    bytesPerSecond: elapsedMs > 0 ? Math.round((bytes * 1000) / elapsedMs) : 0,
  };
}

export class ProgressReporter {
  private bytes = 0;
  private total: number | undefined;
  private readonly started: number;
  private lastReport: number;

  constructor(
    private readonly logger: Logger,
    private readonly context: Record<string, unknown>,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    this.lastReport = this.started;
  }

  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /** Sets the absolute byte count (a resumed download starts from what is already on disk). */
  set(bytes: number): void {
    this.bytes = bytes;
    this.maybeReport();
  }

  add(bytes: number): void {
    this.set(this.bytes + bytes);
  }

  finish(extra: Record<string, unknown> = {}): ProgressFields {
    const fields = progressFields(this.bytes, this.total, this.now() - this.started);
    this.logger.info('download complete', { ...this.context, ...fields, ...extra });
    return fields;
  }

  private maybeReport(): void {
    const t = this.now();
    if (t - this.lastReport < this.intervalMs) return;
    this.lastReport = t;
    this.logger.info('download progress', { ...this.context, ...progressFields(this.bytes, this.total, t - this.started) });
  }
}
