// A work queue of keys (`namespace/name`), never events: a key is queued at most once, a key re-added while a
// worker holds it runs again once that worker is done, failures back off per key, and workers are bounded.

/** Per-key exponential backoff: base * 2^failures, capped, with up to `jitter` of random spread. */
export class ExponentialBackoff {
  private readonly failures = new Map<string, number>();
  constructor(readonly baseMs: number, readonly maxMs: number, readonly jitter = 0) {}

  /** The delay before the next try of this key, counting this failure. */
  next(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return backoffDelay(n, this.baseMs, this.maxMs, this.jitter);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/** base * 2^attempt capped at max, spread by up to `jitter` (0..1) of itself. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, jitter = 0, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(d * (1 + jitter * random()));
}

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  private shuttingDown = false;
  readonly backoff: ExponentialBackoff;

  constructor(opts: WorkQueueOptions = {}) {
    this.backoff = new ExponentialBackoff(opts.baseDelayMs ?? 5, opts.maxDelayMs ?? 60_000);
  }

  /** Keys waiting to be processed (not counting those being processed or waiting on a delay). */
  get length(): number {
    return this.queue.length;
  }

  get processingCount(): number {
    return this.processing.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else this.queue.push(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, timer });
  }

  /** Re-adds a failed key after its exponential backoff. */
  addRateLimited(key: string): number {
    const delay = this.backoff.next(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the key's backoff after a success. */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key processed; if it was re-added meanwhile, it is queued again now. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Stops handing out keys; resolves once every key being processed is done. */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }
}

export type ProcessResult = { requeueAfterMs?: number };

/**
 * Runs `workers` loops taking keys from the queue: success forgets the key's backoff (and schedules it again
 * when asked to), an error re-adds it with backoff. Resolves when the queue shuts down and the loops end.
 */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  process: (key: string) => Promise<ProcessResult | void>,
  onError: (key: string, err: unknown, retryInMs: number) => void = () => undefined,
): Promise<void> {
  const loop = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await process(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        onError(key, err, queue.addRateLimited(key));
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, loop));
}
