// Main-thread handle on the session worker: load a model, run feeds, learn when the worker dies.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { ModelSignature } from './signature.js';
import type { WireTensor, WorkerInit, WorkerReply } from './worker-protocol.js';

export interface LoadedModel {
  provider: string;
  failures: { provider: string; error: string }[];
  signature: ModelSignature;
  loadSeconds: number;
  /** With --require-gpu: whether onnxruntime placed some nodes on the CPU provider (see session-options.ts). */
  nodesOnCpu?: boolean;
}

export interface RunResult {
  outputs: WireTensor[];
  computeSeconds: number;
}

export class ModelLoadError extends Error {
  constructor(message: string, readonly failures: { provider: string; error: string }[]) {
    super(message);
  }
}

export class ModelRunner {
  private worker?: Worker;
  private requests?: MessagePort;
  private signal = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private closing = false;
  private pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: Error) => void }>();
  /** Called once if the worker dies after loading (a native crash): the process can no longer serve. */
  onFatal: (err: Error) => void = () => {};

  load(init: WorkerInit): Promise<LoadedModel> {
    return new Promise((resolve, reject) => {
      let loaded = false;
      const { port1, port2 } = new MessageChannel();
      this.requests = port1;
      const worker = new Worker(new URL('./session-worker.js', import.meta.url), {
        workerData: { ...init, channel: { requests: port2, signal: this.signal } },
        transferList: [port2],
      });
      this.worker = worker;
      worker.on('message', (msg: WorkerReply) => {
        switch (msg.type) {
          case 'loaded':
            loaded = true;
            resolve(msg);
            return;
          case 'load-failed':
            reject(new ModelLoadError(msg.failures.map((f) => `${f.provider}: ${f.error}`).join('; '), msg.failures));
            void worker.terminate();
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
        if (!this.closing && (code !== 0 || this.pending.size > 0)) died(new Error(`session worker exited with code ${code}`));
      });
    });
  }

  /**
   * A fresh buffer of `bytes` for a run's inputs, to be transferred to the worker. Not zero-filled: every byte
   * of it is written before it is read. (Handing buffers back for reuse was measured: the second transfer per
   * run costs more than the allocation it saves.)
   */
  inputBuffer = (bytes: number): ArrayBuffer => Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;

  run(inputs: WireTensor[]): Promise<RunResult> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('model is not loaded'));
    const seq = ++this.seq;
    const transfer: ArrayBuffer[] = [];
    for (const t of inputs) if (t.buffer && !transfer.includes(t.buffer)) transfer.push(t.buffer);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.post({ seq, inputs }, transfer);
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
    this.post({ close: true });
    const timer = setTimeout(() => void w.terminate(), 5000);
    await exited;
    clearTimeout(timer);
    this.requests?.close();
  }
}
