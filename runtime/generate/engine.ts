// The generation engine's main-thread half: which sequences may run (admission within --max-num-seqs and
// --max-kv-cache-bytes, FIFO, a bounded wait beyond them), the hand-off of each to the worker's decode loop, and each
// token back to whoever asked, with the timings the metrics need. The worker (engine-worker.ts) does the computing.
import { RuntimeError } from '../errors.js';
import type { EngineThread } from './engine-thread.js';
import type { SequenceEnd, StepEvents } from './engine-protocol.js';
import { kvBytesPerToken, type DecoderLayout } from './layout.js';
import type { SamplingParams } from './sampling.js';

export interface GenerationLimits {
  /** Sequences running at once (prefilling or decoding). */
  maxNumSeqs: number;
  /** Prompt plus generated tokens of one sequence. */
  maxModelLen: number;
  /** Bytes the batch's KV cache may take, padding to its longest sequence included. */
  maxKvCacheBytes: number;
  /** Sequences waiting for room; beyond, 503 with Retry-After. */
  maxQueueSize: number;
}

export interface SequenceRequest {
  prompt: readonly number[];
  maxTokens: number;
  sampling: SamplingParams;
  ignoreEos: boolean;
  /** When the request arrived (performance.now()), for time to first token. */
  arrived: number;
}

/** Whoever asked for a sequence: its tokens one by one, then how it ended (not after it was cancelled). */
export interface SequenceSink {
  token(token: number): void;
  end(end: Exclude<SequenceEnd, 'cancelled'>, error?: string): void;
}

export interface EngineObserver {
  admitted(promptTokens: number, waitedSeconds: number): void;
  /** A decode step ran over this many sequences. */
  decodeStep(rows: number): void;
  firstToken(seconds: number): void;
  interToken(seconds: number): void;
  ended(end: SequenceEnd): void;
}

interface Entry {
  id: number;
  req: SequenceRequest;
  sink: SequenceSink;
  /** Most tokens its cache can come to hold. */
  potential: number;
  state: 'waiting' | 'running' | 'cancelling';
  lastToken?: number;
  tokens: number;
}

export interface SequenceHandle {
  /** Stops the sequence; its cache is freed at the next step boundary. Nothing more reaches its sink. */
  cancel(): void;
}

export class GenerationEngine {
  private nextId = 0;
  private readonly waitingQueue: Entry[] = [];
  private readonly entries = new Map<number, Entry>();
  /** Admitted and not yet out of the worker's batch (cancelled ones count until the worker has let them go). */
  private runningCount = 0;
  private readonly bytesPerToken: number;

  private observer: EngineObserver = { admitted() {}, decodeStep() {}, firstToken() {}, interToken() {}, ended() {} };

  constructor(
    private readonly thread: EngineThread,
    readonly layout: DecoderLayout,
    readonly limits: GenerationLimits,
  ) {
    this.bytesPerToken = kvBytesPerToken(layout);
    thread.onStep = (e) => this.onStep(e);
  }

  /** Where timings and counts go from now on. */
  observe(observer: EngineObserver): void {
    this.observer = observer;
  }

  get running(): number {
    return this.runningCount;
  }

  get waiting(): number {
    return this.waitingQueue.length;
  }

  /** KV-cache bytes the worker holds now. */
  get kvCacheBytes(): number {
    return this.thread.stats[0];
  }

  /**
   * Why a sequence of this prompt and max_tokens could never run, whatever else runs: longer than --max-model-len,
   * or a KV cache larger than --max-kv-cache-bytes on its own. Undefined when it can.
   */
  tooLarge(promptTokens: number, maxTokens: number): { field: 'prompt' | 'max_tokens'; message: string } | undefined {
    const { maxModelLen, maxKvCacheBytes } = this.limits;
    if (promptTokens >= maxModelLen) {
      return { field: 'prompt', message: `the prompt is ${promptTokens} tokens; this model's maximum context length (max_model_len) is ${maxModelLen} tokens, prompt and completion together` };
    }
    if (promptTokens + maxTokens > maxModelLen) {
      return { field: 'max_tokens', message: `max_tokens ${maxTokens} and the prompt's ${promptTokens} tokens exceed this model's maximum context length (max_model_len) of ${maxModelLen} tokens; ask for at most ${maxModelLen - promptTokens}` };
    }
    const bytes = (promptTokens + maxTokens) * this.bytesPerToken;
    if (bytes > maxKvCacheBytes) {
      const most = Math.floor(maxKvCacheBytes / this.bytesPerToken) - promptTokens;
      return { field: 'max_tokens', message: `the prompt's ${promptTokens} tokens and max_tokens ${maxTokens} need ${bytes} bytes of KV cache, more than the ${maxKvCacheBytes} bytes of --max-kv-cache-bytes${most > 0 ? `; ask for at most ${most}` : ''}` };
    }
    return undefined;
  }

  /** The most tokens a sequence of this prompt may be asked to generate (0 when its prompt alone is too long). */
  mostTokens(promptTokens: number): number {
    const { maxModelLen, maxKvCacheBytes } = this.limits;
    return Math.max(0, Math.min(maxModelLen, Math.floor(maxKvCacheBytes / this.bytesPerToken)) - promptTokens);
  }

  /** Queues a sequence; refuses at once (503 with Retry-After) when the wait queue is full. */
  submit(req: SequenceRequest, sink: SequenceSink): SequenceHandle {
    if (this.waitingQueue.length >= this.limits.maxQueueSize) {
      throw new RuntimeError('QueueFull', `${this.runningCount} sequences are running and ${this.waitingQueue.length} waiting (--max-queue-size ${this.limits.maxQueueSize}); retry later`, { 'Retry-After': '1' });
    }
    const entry: Entry = { id: ++this.nextId, req, sink, potential: req.prompt.length + req.maxTokens, state: 'waiting', tokens: 0 };
    this.entries.set(entry.id, entry);
    this.waitingQueue.push(entry);
    this.admit();
    return { cancel: () => this.cancel(entry) };
  }

  private cancel(entry: Entry): void {
    if (entry.state === 'waiting') {
      this.waitingQueue.splice(this.waitingQueue.indexOf(entry), 1);
      this.entries.delete(entry.id);
      this.observer.ended('cancelled');
      return;
    }
    if (entry.state === 'running' && this.entries.has(entry.id)) {
      entry.state = 'cancelling';
      this.thread.send({ type: 'cancel', id: entry.id });
    }
  }

  /** Whether one more sequence fits: a row to spare, and the batch padded to its longest possible sequence fits the budget. */
  private fits(next: Entry): boolean {
    if (this.runningCount >= this.limits.maxNumSeqs) return false;
    let longest = next.potential;
    for (const e of this.entries.values()) if (e.state !== 'waiting' && e.potential > longest) longest = e.potential;
    return (this.runningCount + 1) * longest * this.bytesPerToken <= this.limits.maxKvCacheBytes;
  }

  /** Starts waiting sequences in arrival order while they fit (the first that does not holds the others back). */
  private admit(): void {
    while (this.waitingQueue.length > 0 && this.fits(this.waitingQueue[0])) {
      const e = this.waitingQueue.shift()!;
      e.state = 'running';
      this.runningCount++;
      this.observer.admitted(e.req.prompt.length, (performance.now() - e.req.arrived) / 1000);
      const prompt = Int32Array.from(e.req.prompt);
      this.thread.send({ type: 'add', id: e.id, prompt, maxTokens: e.req.maxTokens, sampling: e.req.sampling, ignoreEos: e.req.ignoreEos }, [prompt.buffer]);
    }
  }

  private onStep(e: StepEvents): void {
    const now = performance.now();
    if (e.decodeRows > 0) this.observer.decodeStep(e.decodeRows);
    for (let i = 0; i < e.ids.length; i++) {
      const entry = this.entries.get(e.ids[i]);
      if (!entry || entry.state !== 'running') continue;
      if (entry.lastToken === undefined) this.observer.firstToken((now - entry.req.arrived) / 1000);
      else this.observer.interToken((now - entry.lastToken) / 1000);
      entry.lastToken = now;
      entry.tokens++;
      try {
        entry.sink.token(e.tokens[i]);
      } catch (err) {
        // What one request's sink does wrong ends that request alone.
        this.cancel(entry);
        try {
          entry.sink.end('failed', `the answer could not be built: ${(err as Error).message}`);
        } catch {
          // nothing more to tell it
        }
      }
    }
    for (const { id, end, error } of e.ends) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      this.entries.delete(id);
      this.runningCount--;
      this.observer.ended(end);
      if (entry.state === 'running' && end !== 'cancelled') {
        try {
          entry.sink.end(end, error);
        } catch {
          // its request has failed already
        }
      }
    }
    if (e.ends.length > 0) this.admit();
  }
}
