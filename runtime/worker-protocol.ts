// Messages between the server's main thread and the session worker.
import type { MessagePort } from 'node:worker_threads';
import type { ModelSignature } from './signature.js';

export interface WorkerInit {
  modelPath: string;
  /** Tried in order; the first that creates a session serves. */
  executionProviders: string[];
  /** The GPU providers' device id. */
  deviceId: number;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpThreads: number;
  /** --require-gpu: a GPU provider is asked first to keep every node off the CPU provider. */
  requireGpu: boolean;
}

/** How runs reach the worker: a port for the requests, and a shared counter bumped after each post. */
export interface WorkerChannel {
  requests: MessagePort;
  signal: Int32Array;
}

/**
 * A tensor crossing the thread boundary: numeric data as a transferred buffer (the whole buffer, or the
 * byteOffset/byteLength part of it: a run's inputs share one buffer), BYTES as strings. An input's byteOffset
 * need not be a multiple of its element size; the worker copies such an input before viewing it.
 */
export interface WireTensor {
  name: string;
  ortType: string;
  dims: number[];
  buffer?: ArrayBuffer;
  byteOffset?: number;
  byteLength?: number;
  strings?: string[];
}

/** A run of the model's inputs; the generation worker takes the same message beside its own. */
export interface WorkerRequest {
  type: 'run';
  seq: number;
  inputs: WireTensor[];
}

export type WorkerReply =
  | { type: 'loaded'; provider: string; failures: { provider: string; error: string }[]; signature: ModelSignature; loadSeconds: number; nodesOnCpu?: boolean }
  | { type: 'load-failed'; failures: { provider: string; error: string }[] }
  | { type: 'result'; seq: number; outputs: WireTensor[]; computeSeconds: number }
  | { type: 'run-failed'; seq: number; error: string };
