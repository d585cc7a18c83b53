// Main-thread handle on the generation worker (engine-worker.ts): start it, learn the model's signature, configure
// or close it, send it sequences, and run plain feeds on the same session (the Open Inference Protocol's infer).
import { WorkerHandle } from '../worker-handle.js';
import type { WorkerInit } from '../worker-protocol.js';
import type { EngineConfigure, EngineLoaded, EngineReply, EngineRequest, StepEvents } from './engine-protocol.js';

export interface EngineThreadOptions extends Omit<WorkerInit, 'modelPath'> {
  modelPath: string;
  prefillChunkTokens: number;
}

export class EngineThread extends WorkerHandle<EngineLoaded, EngineReply> {
  /** [KV-cache bytes held], written by the worker. */
  readonly stats = new Float64Array(new SharedArrayBuffer(8));
  /** Each run's tokens and the sequences that left the batch. */
  onStep: (e: StepEvents) => void = () => {};

  /** Starts the worker; resolves once its session is loaded, with the signature. */
  load(opts: EngineThreadOptions): Promise<EngineLoaded> {
    return this.start({
      url: new URL('./engine-worker.js', import.meta.url),
      data: { ...opts, stats: this.stats },
      what: 'generation',
      // The worker runs until it is closed: any other exit is a death.
      fatalExit: () => true,
      onOther: (msg) => {
        if (msg.type === 'step') this.onStep(msg);
      },
    });
  }

  configure(msg: Extract<EngineConfigure, { type: 'configure' }>): void {
    this.post(msg);
  }

  send(msg: EngineRequest, transfer: ArrayBuffer[] = []): void {
    this.post(msg, transfer);
  }
}
