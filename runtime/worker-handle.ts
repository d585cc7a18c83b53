// What the main thread's handles on session workers share (model-runner.ts for the infer path, generate/engine-thread.ts
// for generation): start the worker and resolve once its session loaded, wake it for each message through a shared
// counter, match run results to their callers by sequence number, and learn when the worker dies.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { WireTensor, WorkerRequest } from './worker-protocol.js';

export interface RunResult {
  outputs: WireTensor[];
  computeSeconds: number;
}

export class ModelLoadError extends Error {
  constructor(message: string, readonly failures: { provider: string; error: string }[]) {
    super(message);
  }
}

/** The replies every session worker sends besides 'loaded'; a worker may send more kinds (`onOther`). */
type LoadFailed = { type: 'load-failed'; failures: { provider: string; error: string }[] };
type RunReply = { type: 'result'; seq: number; outputs: WireTensor[]; computeSeconds: number } | { type: 'run-failed'; seq: number; error: string };

export interface WorkerStart<Reply> {
  /** The worker's module. */
  url: URL;
  /** Its workerData, less the request channel, which is added here. */
  data: Record<string, unknown>;
  /** Named in the error when the worker exits: "session", "generation". */
  what: string;
  /** Whether an exit the handle did not ask for is a death, given its code and how many runs were waiting. */
  fatalExit: (code: number, pending: number) => boolean;
  /** Replies other than the common ones. */
  onOther?: (msg: Reply) => void;
}

export abstract class WorkerHandle<Loaded extends { type: 'loaded' }, Reply extends { type: string }> {
  protected worker?: Worker;
  private requests?: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private closing = false;
  private readonly pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: Error) => void }>();
  /** Called once if the worker dies after loading (a native crash): the process can no longer serve. */
  onFatal: (err: Error) => void = () => {};

  /** Starts the worker; resolves once its session is loaded. */
  protected start(opts: WorkerStart<Reply>): Promise<Loaded> {
    return new Promise((resolve, reject) => {
      let loaded = false;
      const { port1, port2 } = new MessageChannel();
      this.requests = port1;
      const worker = new Worker(opts.url, { workerData: { ...opts.data, channel: { requests: port2, signal: this.signal } }, transferList: [port2] });
      this.worker = worker;
      worker.on('message', (msg: Loaded | LoadFailed | RunReply | Reply) => {
        if (msg.type === 'loaded') {
          loaded = true;
          resolve(msg as Loaded);
        } else if (msg.type === 'load-failed') {
          const { failures } = msg as LoadFailed;
          reject(new ModelLoadError(failures.map((f) => `${f.provider}: ${f.error}`).join('; '), failures));
          void worker.terminate();
        } else if (msg.type === 'result' || msg.type === 'run-failed') {
          this.settle(msg as RunReply);
        } else opts.onOther?.(msg as Reply);
      });
      const died = (err: Error) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        if (!loaded) reject(new ModelLoadError(err.message, []));
        else this.onFatal(err);
      };
      worker.on('error', died);
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        if (!this.closing && opts.fatalExit(code, this.pending.size)) died(new Error(`${opts.what} worker exited with code ${code}`));
      });
    });
  }

  private settle(msg: RunReply): void {
    const p = this.pending.get(msg.seq);
    if (!p) return;
    this.pending.delete(msg.seq);
    if (msg.type === 'result') p.resolve({ outputs: msg.outputs, computeSeconds: msg.computeSeconds });
    else p.reject(new Error(msg.error));
  }

  /** A run of the model's own inputs (their buffers transferred to the worker); resolves with its outputs. */
  run(inputs: WireTensor[]): Promise<RunResult> {
    if (!this.worker) return Promise.reject(new Error('model is not loaded'));
    const seq = ++this.seq;
    const transfer: ArrayBuffer[] = [];
    for (const t of inputs) if (t.buffer && !transfer.includes(t.buffer)) transfer.push(t.buffer);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      const msg: WorkerRequest = { type: 'run', seq, inputs };
      this.post(msg, transfer);
    });
  }

  protected post(msg: unknown, transfer: ArrayBuffer[] = []): void {
    this.requests!.postMessage(msg, transfer);
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }

  /** Asks the worker to close, terminating it after 5 s; resolves once it has exited. */
  async close(): Promise<void> {
    const w = this.worker;
    this.closing = true;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise((r) => w.once('exit', r));
    this.post({ type: 'close' });
    const timer = setTimeout(() => void w.terminate(), 5000);
    await exited;
    clearTimeout(timer);
    this.requests?.close();
  }
}
