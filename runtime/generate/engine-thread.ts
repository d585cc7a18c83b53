// Main-thread handle on the generation worker (engine-worker.ts): start it, learn the model's signature, configure
// or close it, send it sequences, and run plain feeds on the same session (the Open Inference Protocol's infer).
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ModelLoadError, type RunResult } from '../model-runner.js';
import type { WireTensor, WorkerInit } from '../worker-protocol.js';
import type { EngineConfigure, EngineLoaded, EngineReply, EngineRequest, StepEvents } from './engine-protocol.js';

export interface EngineThreadOptions extends Omit<WorkerInit, 'modelPath'> {
  modelPath: string;
  prefillChunkTokens: number;
}

export class EngineThread {
  private worker?: Worker;
  private requests?: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  /** [KV-cache bytes held], written by the worker. */
  readonly stats = new Float64Array(new SharedArrayBuffer(8));
  private seq = 0;
  private closing = false;
  private readonly pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: Error) => void }>();
  /** Each run's tokens and the sequences that left the batch. */
  onStep: (e: StepEvents) => void = () => {};
  /** Called once if the worker dies after loading: the process can no longer serve. */
  onFatal: (err: Error) => void = () => {};

  /** Starts the worker; resolves once its session is loaded, with the signature. */
  load(opts: EngineThreadOptions): Promise<EngineLoaded> {
    return new Promise((resolve, reject) => {
      let loaded = false;
      const { port1, port2 } = new MessageChannel();
      this.requests = port1;
      const worker = new Worker(new URL('./engine-worker.js', import.meta.url), {
        workerData: { ...opts, channel: { requests: port2, signal: this.signal }, stats: this.stats },
        transferList: [port2],
      });
      this.worker = worker;
      worker.on('message', (msg: EngineReply) => {
        switch (msg.type) {
          case 'loaded':
            loaded = true;
            resolve(msg);
            return;
          case 'load-failed':
            reject(new ModelLoadError(msg.failures.map((f) => `${f.provider}: ${f.error}`).join('; '), msg.failures));
            void worker.terminate();
            return;
          case 'step':
            this.onStep(msg);
            return;
          case 'result':
          case 'run-failed': {
            const p = this.pending.get(msg.seq);
            if (!p) return;
            this.pending.delete(msg.seq);
            if (msg.type === 'result') p.resolve({ outputs: msg.outputs, computeSeconds: msg.computeSeconds });
            else p.reject(new Error(msg.error));
          }
        }
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
        if (!this.closing) died(new Error(`generation worker exited with code ${code}`));
      });
    });
  }

  configure(msg: Extract<EngineConfigure, { type: 'configure' }>): void {
    this.post(msg);
  }

  send(msg: EngineRequest, transfer: ArrayBuffer[] = []): void {
    this.post(msg, transfer);
  }

  /** A plain run of the model's own inputs on the generation session, between decode steps. */
  run(inputs: WireTensor[]): Promise<RunResult> {
    if (!this.worker) return Promise.reject(new Error('model is not loaded'));
    const seq = ++this.seq;
    const transfer: ArrayBuffer[] = [];
    for (const t of inputs) if (t.buffer && !transfer.includes(t.buffer)) transfer.push(t.buffer);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.post({ type: 'run', seq, inputs }, transfer);
    });
  }

  private post(msg: unknown, transfer: ArrayBuffer[] = []): void {
    this.requests!.postMessage(msg, transfer);
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }

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
