// The protocol core both transports call, as Triton layers its frontends over one core: which model a request
// names, what the server and the model say of themselves (metadata, Triton's configuration), and how a request's
// end is counted. HTTP (http/) and gRPC (grpc/) only decode, call and encode.
import type { Logger } from '../common/logger.js';
import type { InflightBytes } from './admission.js';
import { RuntimeError } from './errors.js';
import type { RuntimeMetrics, Outcome } from './metrics.js';
import type { Scheduler } from './scheduler.js';
import type { ModelSignature } from './signature.js';
import type { ModelStatisticsRecorder } from './statistics.js';
import type { WarmupReport } from './warmup.js';
import type { GenerativeModel } from './generate/model.js';

export const SERVER_NAME = 'modelplane';
export const EXTENSIONS = ['binary_tensor_data', 'statistics'];
export const MODEL_VERSION = '1';

/** loading -> ready -> draining (readiness 503, still serving) -> closed (listener closed, finishing). */
export type ServerState = 'loading' | 'ready' | 'draining' | 'closed';

export interface ServedModel {
  name: string;
  signature: ModelSignature;
  scheduler: Scheduler;
  metrics: RuntimeMetrics;
  maxBatchSize: number;
  /** Model metadata `parameters`: how the model is being served (execution provider, instances, optimised or not). */
  parameters?: Record<string, string | number | boolean>;
  /** What the warm-up ran and whether it failed (model metadata `warmup`). */
  warmup?: WarmupReport;
  /** A generative model's engine and tokenizer (model metadata `generative` and `generation`). */
  generation?: GenerativeModel;
}

/** Triton's wording, which its clients and examples match on. */
export function unknownModel(name: string): RuntimeError {
  return new RuntimeError('ModelNotFound', `Request for unknown model: '${name}' is not found`);
}

/** The served model for a decoded name and optional version, or the protocol's refusal. */
export function lookupModel(deps: Pick<ServingState, 'modelName' | 'model'>, name: string, version: string | undefined): ServedModel {
  checkModelName(deps, name, version);
  const m = deps.model();
  if (!m) throw new RuntimeError('NotReady', `model ${name} is loading`);
  return m;
}

/** Refuses a model name or version this server does not serve, whether or not the model has loaded yet. */
export function checkModelName(deps: Pick<ServingState, 'modelName'>, name: string, version: string | undefined): void {
  if (name !== deps.modelName) throw unknownModel(name);
  if (version !== undefined && version !== MODEL_VERSION) {
    throw new RuntimeError('VersionNotFound', `model ${name} has no version "${version}"; it has version ${MODEL_VERSION}`);
  }
}

export interface RepositoryModel {
  name: string;
  version: string;
  /** Triton's states: READY, LOADING, UNAVAILABLE. */
  state: 'READY' | 'LOADING' | 'UNAVAILABLE';
  reason: string;
}

/** The refusal of a named repository in a repository index request (Triton's repository_name): one repository is served here. */
export function namedRepositoryRefusal(name: string | undefined): RuntimeError | undefined {
  return name ? new RuntimeError('RepositoryNotSupported', `repository_name "${name}": one repository is served here; leave repository_name empty`) : undefined;
}

/**
 * Triton's repository index (HTTP `POST /v2/repository/index`, gRPC `RepositoryIndex`): the one model served,
 * READY, LOADING, or UNAVAILABLE while draining; `readyOnly` lists it only when READY. A named repository is
 * refused: a server has one.
 */
export function repositoryIndex(deps: Pick<ServingState, 'modelName' | 'model' | 'state'>, ask: { repositoryName?: string; readyOnly?: boolean }): RepositoryModel[] {
  const refusal = namedRepositoryRefusal(ask.repositoryName);
  if (refusal) throw refusal;
  const state = deps.state();
  const entry = state === 'ready' && deps.model() ? { state: 'READY' as const, reason: '' }
    : state === 'loading' ? { state: 'LOADING' as const, reason: 'the model is loading' }
    : { state: 'UNAVAILABLE' as const, reason: 'the server is shutting down' };
  if (ask.readyOnly && entry.state !== 'READY') return [];
  return [{ name: deps.modelName, version: MODEL_VERSION, ...entry }];
}

export function modelMetadata(m: ServedModel): Record<string, unknown> {
  return {
    name: m.name,
    versions: [MODEL_VERSION],
    platform: 'onnxruntime_onnx',
    inputs: m.signature.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    outputs: m.signature.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    ...(m.parameters ? { parameters: m.parameters } : {}),
    ...(m.warmup ? { warmup: m.warmup } : {}),
    ...(m.generation ? { generative: true, generation: m.generation.describe() } : {}),
  };
}

/** Triton's model configuration, so Triton tools that ask for it (perf_analyzer, clients) work. */
export function modelConfig(m: ServedModel): Record<string, unknown> {
  const batching = m.maxBatchSize > 1;
  const dims = (shape: number[]) => (batching ? shape.slice(1) : shape);
  const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`, dims: dims(t.shape) });
  return {
    name: m.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: batching ? m.maxBatchSize : 0,
    input: m.signature.inputs.map(tensor),
    output: m.signature.outputs.map(tensor),
    ...(batching ? { dynamic_batching: {} } : {}),
  };
}

/** How a request ended, by its HTTP status (a gRPC one by the status its error maps from). */
export function outcomeOf(status: number): Outcome {
  if (status < 400) return 'success';
  if (status === 503) return 'rejected';
  if (status < 500) return 'client_error';
  return 'failed';
}

/** What the core needs of the serving process, whichever transport asks. */
export interface ServingState {
  version: string;
  /** The name the model is served under, known before it loads. */
  modelName: string;
  /** Unset until the model is loaded. */
  model: () => ServedModel | undefined;
  statistics: ModelStatisticsRecorder;
  state: () => ServerState;
}

/** What every transport gets: the serving state, the one in-flight budget, limits and the log. */
export interface TransportDeps extends ServingState {
  /** Largest request (HTTP body, gRPC message). */
  maxBodyBytes: number;
  /** The budget on bytes of requests in flight, one for every transport; past it they are refused. */
  inflightBytes: InflightBytes;
  logger: Logger;
  /** Requests in flight over every transport, for /metrics and draining. */
  inflight: { count: number };
}
