// `modelplane serve` settings: parsed and checked once, each refusal naming the flag and the reason.
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { modelNameProblem } from '../common/model-name.js';
import { parseInteger, ParseError } from '../common/parse.js';
import {
  EXECUTION_PROVIDERS, GENERATION_DEFAULTS, GPU_EXECUTION_PROVIDERS, isGpuProvider, OPTIMIZATION_LEVELS, SERVE_DEFAULTS, SERVE_LOG_LEVELS,
  type ExecutionProvider, type OptimizationLevel, type ServeLogLevel,
} from '../common/serve-contract.js';


export interface ServeConfig {
  model: string;
  name?: string;
  host: string;
  httpPort: number;
  /** 0: no gRPC server; 'any': a free port. */
  grpcPort: number | 'any';
  maxBatchSize: number;
  maxQueueDelayUs: number;
  maxQueueSize: number;
  maxBodyBytes: number;
  executionProviders: ExecutionProvider[];
  /** Serve on a GPU provider or not at all. */
  requireGpu: boolean;
  /** Sessions, each on its own worker thread. */
  instances: number;
  /** GPU device ids; instance i uses devices[i % devices.length]. */
  devices: number[];
  graphOptimizationLevel: OptimizationLevel;
  intraOpThreads: number;
  inlineRunMaxUs: number;
  drainTimeoutSeconds: number;
  drainSeconds: number;
  maxInflightBytes: number;
  headersTimeoutSeconds: number;
  bodyTimeoutSeconds: number;
  requestTimeoutSeconds: number;
  logLevel: ServeLogLevel;
  cacheDir: string;
  sha256?: string;
  credentialsDir?: string;
  /** Output directory of `modelplane optimize`: its model is served when it passed the gate. */
  optimizedModelDir?: string;
  /** Sample requests every instance runs before the model is ready (a failure stops the start). */
  warmup?: string;
  /** Generative models: sequences running at once. */
  maxNumSeqs: number;
  /** Generative models: most tokens of a sequence; 0 = the model's context length. */
  maxModelLen: number;
  /** Generative models: budget on the running batch's KV cache, bytes. */
  maxKvCacheBytes: number;
}

/** Raw option values as commander hands them over (strings from flags or the environment; true for a bare switch). */
export type RawServeOptions = Record<string, string | boolean | undefined>;

export class ConfigError extends Error {}

function text(raw: string | boolean | undefined): string | undefined {
  return typeof raw === 'boolean' ? undefined : raw;
}

function integer(raw: string | undefined, flag: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw === '') return fallback;
  try {
    return parseInteger(raw, flag, { min, max });
  } catch (err) {
    if (err instanceof ParseError) throw new ConfigError(err.message);
    throw err;
  }
}

function oneOf<T extends string>(raw: string | undefined, flag: string, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  if (!allowed.includes(raw as T)) throw new ConfigError(`${flag}: must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function flag(raw: string | boolean | undefined, name: string): boolean {
  if (raw === undefined || raw === false || raw === 'false' || raw === '0') return false;
  if (raw === true || raw === '' || raw === 'true' || raw === '1') return true;
  throw new ConfigError(`${name}: must be true or false, got ${JSON.stringify(raw)}`);
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

function deviceIds(raw: string | undefined): number[] {
  const ids = list(raw);
  if (!ids) return [...SERVE_DEFAULTS.devices];
  if (ids.length === 0) throw new ConfigError('--devices: needs at least one device id');
  return ids.map((d) => {
    if (!/^\d{1,4}$/.test(d)) throw new ConfigError(`--devices: ${JSON.stringify(d)} is not a device id (a non-negative integer)`);
    return Number(d);
  });
}

export function parseServeConfig(raw: RawServeOptions): ServeConfig {
  const o = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, text(v)])) as Record<string, string | undefined>;
  if (!o.model) throw new ConfigError('--model: is required (a file, a directory holding model.onnx, or a model URI)');
  const providers = list(o.executionProviders) ?? (o.executionProviders === '' ? [] : [...SERVE_DEFAULTS.executionProviders]);
  if (providers.length === 0) throw new ConfigError('--execution-providers: needs at least one provider');
  for (const p of providers) {
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(p)) {
      throw new ConfigError(`--execution-providers: unknown provider ${JSON.stringify(p)}; known: ${EXECUTION_PROVIDERS.join(', ')}`);
    }
  }
  const requireGpu = flag(raw.requireGpu, '--require-gpu');
  if (requireGpu && !providers.some(isGpuProvider)) {
    throw new ConfigError(`--require-gpu: --execution-providers ${providers.join(',')} has no GPU provider (${GPU_EXECUTION_PROVIDERS.join(' or ')})`);
  }
  const devices = deviceIds(o.devices);
  if (new Set(devices).size !== devices.length) throw new ConfigError(`--devices: ${devices.join(',')} names a device twice`);
  if (o.sha256 !== undefined && o.sha256 !== '' && !/^[0-9a-f]{64}$/i.test(o.sha256)) {
    throw new ConfigError('--sha256: must be 64 hexadecimal characters');
  }
  const nameProblem = o.name === undefined ? undefined : modelNameProblem(o.name);
  if (nameProblem) throw new ConfigError(`--name: ${JSON.stringify(o.name)} is not a model name: it ${nameProblem}`);
  return {
    model: o.model,
    name: o.name || undefined,
    host: o.host || SERVE_DEFAULTS.host,
    httpPort: integer(o.httpPort, '--http-port', SERVE_DEFAULTS.httpPort, 0, 65535),
    grpcPort: o.grpcPort?.trim() === 'any' ? 'any' : integer(o.grpcPort, '--grpc-port', SERVE_DEFAULTS.grpcPort, 0, 65535),
    maxBatchSize: integer(o.maxBatchSize, '--max-batch-size', SERVE_DEFAULTS.maxBatchSize, 1, 4096),
    maxQueueDelayUs: integer(o.maxQueueDelayUs, '--max-queue-delay-us', SERVE_DEFAULTS.maxQueueDelayUs, 0, 10_000_000),
    maxQueueSize: integer(o.maxQueueSize, '--max-queue-size', SERVE_DEFAULTS.maxQueueSize, 1, 1_000_000),
    maxBodyBytes: integer(o.maxBodyBytes, '--max-body-bytes', SERVE_DEFAULTS.maxBodyBytes, 1024, 2 ** 31 - 1),
    executionProviders: providers as ExecutionProvider[],
    requireGpu,
    instances: integer(o.instances, '--instances', SERVE_DEFAULTS.instances, 1, 64),
    devices,
    graphOptimizationLevel: oneOf(o.graphOptimizationLevel, '--graph-optimization-level', OPTIMIZATION_LEVELS, SERVE_DEFAULTS.graphOptimizationLevel),
    intraOpThreads: integer(o.intraOpThreads, '--intra-op-threads', SERVE_DEFAULTS.intraOpThreads, 0, 1024),
    inlineRunMaxUs: integer(o.inlineRunMaxUs, '--inline-run-max-us', SERVE_DEFAULTS.inlineRunMaxUs, 0, 1_000_000),
    drainTimeoutSeconds: integer(o.drainTimeoutSeconds, '--drain-timeout-seconds', SERVE_DEFAULTS.drainTimeoutSeconds, 0, 3600),
    drainSeconds: integer(o.drainSeconds, '--drain-seconds', SERVE_DEFAULTS.drainSeconds, 0, 3600),
    maxInflightBytes: integer(o.maxInflightBytes, '--max-inflight-bytes', defaultInflightBytes(), 1024),
    headersTimeoutSeconds: integer(o.headersTimeoutSeconds, '--headers-timeout-seconds', SERVE_DEFAULTS.headersTimeoutSeconds, 1, 3600),
    bodyTimeoutSeconds: integer(o.bodyTimeoutSeconds, '--body-timeout-seconds', SERVE_DEFAULTS.bodyTimeoutSeconds, 0, 3600),
    requestTimeoutSeconds: integer(o.requestTimeoutSeconds, '--request-timeout-seconds', SERVE_DEFAULTS.requestTimeoutSeconds, 0, 86_400),
    logLevel: oneOf(o.logLevel, '--log-level', SERVE_LOG_LEVELS, SERVE_DEFAULTS.logLevel),
    cacheDir: o.cacheDir || SERVE_DEFAULTS.cacheDir,
    sha256: o.sha256 || undefined,
    credentialsDir: o.credentialsDir || undefined,
    optimizedModelDir: o.optimizedModelDir || undefined,
    warmup: o.warmup || undefined,
    maxNumSeqs: integer(o.maxNumSeqs, '--max-num-seqs', GENERATION_DEFAULTS.maxNumSeqs, 1, 4096),
    maxModelLen: integer(o.maxModelLen, '--max-model-len', GENERATION_DEFAULTS.maxModelLen, 0, 10_000_000),
    maxKvCacheBytes: integer(o.maxKvCacheBytes, '--max-kv-cache-bytes', defaultKvCacheBytes(), 1024),
  };
}

/** CPUs this container may use: the cgroup v2 quota when set, else the machine's cores. */
export function cpuLimit(cpuMax: string | undefined = readCgroupCpuMax()): number {
  const cores = availableParallelism();
  if (!cpuMax) return cores;
  const [quota, period] = cpuMax.trim().split(/\s+/);
  if (quota === 'max' || !period) return cores;
  const n = Math.ceil(Number(quota) / Number(period));
  return Number.isFinite(n) && n > 0 ? Math.min(n, cores) : cores;
}

function readCgroupCpuMax(): string | undefined {
  try {
    return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
  } catch {
    return undefined;
  }
}


/** The share of the container's memory that request bodies in flight may hold by default. */
export const INFLIGHT_MEMORY_SHARE = 0.25;

/**
 * The default `--max-inflight-bytes`: a quarter of the container's memory limit (cgroup v2 memory.max, else
 * v1 memory.limit_in_bytes), else of the machine's memory. A body becomes tensors, outputs and a response,
 * so a request holds a few times its body at its peak.
 */
export function defaultInflightBytes(memoryMax: string | undefined = readCgroupMemoryMax(), machine: number = totalmem()): number {
  const limit = Number(memoryMax?.trim());
  const memory = Number.isFinite(limit) && limit > 0 ? Math.min(limit, machine) : machine;
  return Math.max(64 * 1024 * 1024, Math.floor(memory * INFLIGHT_MEMORY_SHARE));
}

/** The default `--max-kv-cache-bytes`: a quarter of the container's (else the machine's) memory, as for request bodies. */
export function defaultKvCacheBytes(memoryMax: string | undefined = readCgroupMemoryMax(), machine: number = totalmem()): number {
  return defaultInflightBytes(memoryMax, machine);
}

function readCgroupMemoryMax(): string | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}
