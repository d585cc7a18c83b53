// Main-thread handle on the session worker: load a model, run feeds, learn when the worker dies.
import type { ModelSignature } from './signature.js';
import type { WorkerInit, WorkerReply } from './worker-protocol.js';
import { WorkerHandle } from './worker-handle.js';

export interface LoadedModel {
  provider: string;
  failures: { provider: string; error: string }[];
  signature: ModelSignature;
  loadSeconds: number;
  /** With --require-gpu: whether onnxruntime placed some nodes on the CPU provider (see session-options.ts). */
  nodesOnCpu?: boolean;
}

/** The infer path's session worker (session-worker.ts). */
export class ModelRunner extends WorkerHandle<LoadedModel & { type: 'loaded' }, WorkerReply> {
  load(init: WorkerInit): Promise<LoadedModel> {
    return this.start({
      url: new URL('./session-worker.js', import.meta.url),
      data: { ...init },
      what: 'session',
      // A worker that ends its loop with nothing waiting has closed as asked; otherwise it died.
      fatalExit: (code, pending) => code !== 0 || pending > 0,
    });
  }

  /**
   * A fresh buffer of `bytes` for a run's inputs, to be transferred to the worker. Not zero-filled: every byte
   * of it is written before it is read. (Handing buffers back for reuse was measured: the second transfer per
   * run costs more than the allocation it saves.)
   */
  inputBuffer = (bytes: number): ArrayBuffer => Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
}
