// Messages between the main thread and the generation worker, which holds the session, the sequences' KV caches and
// the decode loop. The main thread decides which sequences run (admission); the worker runs them step by step.
import type { MessagePort } from 'node:worker_threads';
import type { ModelSignature } from '../signature.js';
import type { WireTensor, WorkerInit } from '../worker-protocol.js';
import type { DecoderLayout } from './layout.js';
import type { SamplingParams } from './sampling.js';

export interface EngineInit extends Omit<WorkerInit, 'modelPath'> {
  modelPath: string;
  channel: { requests: MessagePort; signal: Int32Array };
  /** Written by the worker, read by /metrics: [KV-cache bytes held]. */
  stats: Float64Array;
  /** Most prompt tokens one prefill run takes (a longer prompt is prefilled in chunks between decode steps). */
  prefillChunkTokens: number;
}

/** Sent once the session is loaded: its signature, which decides whether the model is generative. */
export type EngineLoaded = { type: 'loaded'; provider: string; failures: { provider: string; error: string }[]; signature: ModelSignature };

/** After `loaded`: the layout to run with, or nothing (not generative: the worker exits). */
export type EngineConfigure = { type: 'configure'; layout: DecoderLayout; eosTokenIds: number[]; padTokenId: number } | { type: 'close' };

export interface AddSequence {
  type: 'add';
  id: number;
  prompt: Int32Array;
  maxTokens: number;
  sampling: SamplingParams;
  ignoreEos: boolean;
}

export type EngineRequest =
  | AddSequence
  | { type: 'cancel'; id: number }
  | { type: 'run'; seq: number; inputs: WireTensor[] }
  | { type: 'close' };

/** Why a sequence left the batch: eos (an end token), length (max_tokens), cancelled (asked), failed (a run failed). */
export type SequenceEnd = 'eos' | 'length' | 'cancelled' | 'failed';
export const SEQUENCE_ENDS: readonly SequenceEnd[] = ['eos', 'length', 'cancelled', 'failed'];

/**
 * What one run produced: for each sequence that got a token, its id and token; sequences that left the batch (their
 * cache freed), with why. `ends` may name a sequence of `ids` (its last token) or one that got no token.
 */
export interface StepEvents {
  type: 'step';
  ids: number[];
  tokens: number[];
  ends: { id: number; end: SequenceEnd; error?: string }[];
  /** Rows of the decode step that gave these tokens; 0 for a prefill run. */
  decodeRows: number;
}

export type EngineReply =
  | EngineLoaded
  | { type: 'load-failed'; failures: { provider: string; error: string }[] }
  | StepEvents
  | { type: 'result'; seq: number; outputs: WireTensor[]; computeSeconds: number }
  | { type: 'run-failed'; seq: number; error: string };
