// How perf talks to a server. A transport reads the model's metadata, encodes the request samples once, and
// sends them; each answer comes back as undefined (success) or an error key: "<status> <reason>" for an
// answer from the server ("503 QueueFull"), a network code ("ECONNRESET") or "timeout" for none.
import type { ModelMetadata, RequestSample } from './inputs.js';
import type { Outcome } from './recorder.js';
import type { PerfResults } from './results.js';

export interface Transport {
  /** The model's metadata; throws PerfError Unreachable or ModelUnavailable. */
  metadata(): Promise<ModelMetadata>;
  /** Encodes the samples once; infer(i) sends sample i modulo their number. */
  prepare(samples: RequestSample[], outputs: string[]): void;
  infer(i: number): Promise<string | undefined>;
  close(): void;
}

export interface TransportOptions {
  url: string;
  model: string;
  modelVersion?: string;
  binary: boolean;
  timeoutMs: number;
  /** Most connections (HTTP) or streams in flight (gRPC). */
  maxInflight: number;
  grpcProto?: string;
}

/** Network errors have a code; anything else is named by its message, trimmed to stay a usable key. */
export function networkErrorKey(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code) return e.code;
  return String(e?.message ?? err).slice(0, 80);
}

/** Connection failures that mean "nothing listens there" rather than "the server failed". */
export const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'timeout', 'ECONNRESET']);

/** What a run drives, ready to send: inference requests built from the model's metadata, or generations. */
export interface Target {
  /** The target as results.json describes it. */
  description: PerfResults['target'];
  send(i: number): Promise<Outcome>;
  close(): void;
}
