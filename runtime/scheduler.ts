// The request queue in front of the model's instances: bounded, batching compatible requests into one run
// while every instance is busy, and never waiting when waiting cannot help.
import { batchKey, concatInputs, planBatch, splitOutputs, type OutputTensor } from './batching.js';
import { RuntimeError } from './errors.js';
import type { ModelRunner } from './model-runner.js';
import type { RunResult } from './worker-handle.js';
import type { InferRequest } from './request.js';
import type { ModelSignature } from './signature.js';

export interface SchedulerOptions {
  /** Rows per run; 1 turns batching off. */
  maxBatchSize: number;
  maxQueueDelayUs: number;
  maxQueueSize: number;
}

/** Where a run computed: on a session worker, or on the event loop (an inline lane). */
export type RunPlace = 'session_worker' | 'event_loop';

/** Why a batch was re-run request by request: its run failed, or its outputs did not split along dimension 0. */
export type FallbackReason = 'run_failed' | 'outputs_not_split';

export interface SchedulerObserver {
  /** A request left the queue after s seconds. */
  queueSeconds(s: number, req: InferRequest): void;
  batch(rows: number, computeSeconds: number, place: RunPlace): void;
  /** A batch of `requests` requests is re-run one request at a time; `error` is what the model or the split said. */
  fallback?(requests: number, reason: FallbackReason, error: string): void;
}

interface Entry {
  req: InferRequest;
  key: string | undefined;
  rows: number;
  enqueued: number;
  resolve: (outputs: OutputTensor[]) => void;
  reject: (err: Error) => void;
}

/** One model instance: anything that runs a feed (a session worker, or a stand-in in tests). */
export type InstanceRunner = Pick<ModelRunner, 'run'> & Partial<Pick<ModelRunner, 'inputBuffer'>>;

/**
 * A lane on the event loop for runs shorter than their hand-off to a session worker (inline-lane.ts): a request
 * at the head of the queue takes it when it is free (busy from the start of a run to its end) and accepts it.
 */
export interface InlineRunner extends InstanceRunner {
  busy: boolean;
  accepts(req: InferRequest): boolean;
  /** A session worker ran this request alone in computeSeconds (a lane without a plan makes one from it). */
  observe?(req: InferRequest, computeSeconds: number): void;
}

export class Scheduler {
  private queue: Entry[] = [];
  /** Instances with no run in progress; a batch goes to whichever is idle. */
  private idle: InstanceRunner[];
  private timer?: NodeJS.Timeout;
  /** Requests whose bodies are still arriving: a reason to wait briefly for a fuller batch. */
  arriving = 0;

  constructor(
    instances: InstanceRunner | readonly InstanceRunner[],
    private readonly sig: ModelSignature,
    private readonly opts: SchedulerOptions,
    private readonly observer: SchedulerObserver,
    private readonly inline?: InlineRunner,
  ) {
    this.idle = Array.isArray(instances) ? [...instances] : [instances as InstanceRunner];
    if (this.idle.length === 0) throw new Error('a scheduler needs at least one model instance');
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Queues a request; refuses at once (503) when the queue is full. */
  submit(req: InferRequest): Promise<OutputTensor[]> {
    if (this.queue.length >= this.opts.maxQueueSize) {
      return Promise.reject(new RuntimeError('QueueFull', `queue is full (${this.opts.maxQueueSize} requests waiting); retry later`, { 'Retry-After': '1' }));
    }
    return new Promise((resolve, reject) => {
      const key = this.opts.maxBatchSize > 1 ? batchKey(req) : undefined;
      this.queue.push({ req, key, rows: req.batchSize ?? 1, enqueued: performance.now(), resolve, reject });
      this.dispatch();
    });
  }

  /** Starts runs on idle instances while there is work that should not wait for a fuller batch. */
  private dispatch(): void {
    const first = this.queue[0];
    if (this.inline && first && first.key === undefined && this.inline.accepts(first.req)) {
      this.queue.shift();
      void this.executeInline(this.inline, first);
    }
    while (this.idle.length > 0 && this.queue.length > 0) {
      const picked = planBatch(this.queue, this.opts.maxBatchSize);
      const rows = picked.reduce((n, i) => n + this.queue[i].rows, 0);
      const head = this.queue[0];
      const waited = (performance.now() - head.enqueued) * 1000;
      const canGrow = head.key !== undefined && rows < this.opts.maxBatchSize && this.arriving > 0;
      if (canGrow && waited < this.opts.maxQueueDelayUs) {
        if (!this.timer) {
          const delayMs = Math.max(0, (this.opts.maxQueueDelayUs - waited) / 1000);
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.dispatch();
          }, delayMs);
        }
        return;
      }
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      const entries = picked.map((i) => this.queue[i]);
      const pickedSet = new Set(picked);
      this.queue = this.queue.filter((_, i) => !pickedSet.has(i));
      void this.execute(this.idle.shift()!, entries);
    }
  }

  /** The instance is free again: start the next batch before answering this one, so the two overlap. */
  private release(instance: InstanceRunner): void {
    this.idle.push(instance);
    this.dispatch();
  }

  private async execute(instance: InstanceRunner, entries: Entry[]): Promise<void> {
    const now = performance.now();
    for (const e of entries) this.observer.queueSeconds((now - e.enqueued) / 1000, e.req);
    let result: RunResult;
    try {
      result = await instance.run(concatInputs(entries.map((e) => e.req), this.sig, instance.inputBuffer));
    } catch (err) {
      if (entries.length > 1) {
        this.observer.fallback?.(entries.length, 'run_failed', (err as Error).message);
        return this.executeOneByOne(instance, entries);
      }
      this.release(instance);
      entries[0].reject(new RuntimeError('InferenceFailed', `inference failed: ${(err as Error).message}`));
      return;
    }
    let split: OutputTensor[][];
    try {
      split = splitOutputs(result.outputs, entries.length === 1 ? [entries[0].rows] : entries.map((e) => e.rows));
    } catch (err) {
      // The outputs do not split along dimension 0: answer these one by one (the model stays shared).
      this.observer.fallback?.(entries.length, 'outputs_not_split', (err as Error).message);
      return this.executeOneByOne(instance, entries);
    }
    this.release(instance);
    this.observer.batch(entries.reduce((n, e) => n + e.rows, 0), result.computeSeconds, 'session_worker');
    if (entries.length === 1) this.inline?.observe?.(entries[0].req, result.computeSeconds);
    entries.forEach((e, i) => e.resolve(split[i]));
  }

  /**
   * One request on the event loop. The lane takes one run at a time, and what queued meanwhile goes to it only
   * after the loop has had a turn (probes, I/O), so queued runs never follow one another on the loop.
   */
  private async executeInline(lane: InlineRunner, e: Entry): Promise<void> {
    lane.busy = true;
    this.observer.queueSeconds((performance.now() - e.enqueued) / 1000, e.req);
    try {
      await this.runAlone(lane, e, 'event_loop');
    } finally {
      lane.busy = false;
    }
    if (this.queue.length > 0) setImmediate(() => this.dispatch());
  }

  /**
   * A batch failed as a whole, or its outputs did not split: run its requests alone, in order, on the same
   * instance, so one request's failure is only its own. The instance takes new work only once all are done.
   */
  private async executeOneByOne(instance: InstanceRunner, entries: Entry[]): Promise<void> {
    for (const e of entries) await this.runAlone(instance, e);
    this.release(instance);
  }

  /** Runs one request by itself; a failure is that request's alone. */
  private async runAlone(instance: InstanceRunner, e: Entry, place: RunPlace = 'session_worker'): Promise<void> {
    try {
      const r = await instance.run(concatInputs([e.req], this.sig, instance.inputBuffer));
      this.observer.batch(e.rows, r.computeSeconds, place);
      e.resolve(splitOutputs(r.outputs, [e.rows])[0]);
    } catch (err) {
      e.reject(new RuntimeError('InferenceFailed', `inference failed: ${(err as Error).message}`));
    }
  }
}
