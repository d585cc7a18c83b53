// `modelplane serve` settings: parsed and checked once, each refusal naming the flag and the reason.
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;
export const OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

export interface ServeConfig {
  model: string;
  name?: string;
  host: string;
  httpPort: number;
  maxBatchSize: number;
  maxQueueDelayUs: number;
  maxQueueSize: number;
  maxBodyBytes: number;
  executionProviders: string[];
  graphOptimizationLevel: (typeof OPTIMIZATION_LEVELS)[number];
  intraOpThreads: number;
  gpuMemLimitBytes: number;
  drainTimeoutSeconds: number;
  drainSeconds: number;
  maxInflightBytes: number;
  headersTimeoutSeconds: number;
  bodyTimeoutSeconds: number;
  requestTimeoutSeconds: number;
  logLevel: string;
  cacheDir: string;
  sha256?: string;
  credentialsDir?: string;
}

/** Raw option values as commander hands them over (strings from flags or the environment). */
export type RawServeOptions = Record<string, string | undefined>;

export class ConfigError extends Error {}

function integer(raw: string | undefined, flag: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${flag}: must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function oneOf<T extends string>(raw: string | undefined, flag: string, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  if (!allowed.includes(raw as T)) throw new ConfigError(`${flag}: must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

export function parseServeConfig(o: RawServeOptions): ServeConfig {
  if (!o.model) throw new ConfigError('--model: is required (a file, a directory holding model.onnx, or a model URI)');
  const providers = (o.executionProviders ?? 'cpu').split(',').map((s) => s.trim()).filter(Boolean);
  if (providers.length === 0) throw new ConfigError('--execution-providers: needs at least one provider');
  for (const p of providers) {
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(p)) {
      throw new ConfigError(`--execution-providers: unknown provider ${JSON.stringify(p)}; known: ${EXECUTION_PROVIDERS.join(', ')}`);
    }
  }
  if (o.sha256 !== undefined && o.sha256 !== '' && !/^[0-9a-f]{64}$/i.test(o.sha256)) {
    throw new ConfigError('--sha256: must be 64 hexadecimal characters');
  }
  if (o.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(o.name)) {
    throw new ConfigError(`--name: ${JSON.stringify(o.name)} is not a valid model name (letters, digits, '_', '.', '-')`);
  }
  return {
    model: o.model,
    name: o.name || undefined,
    host: o.host || '0.0.0.0',
    httpPort: integer(o.httpPort, '--http-port', 8080, 0, 65535),
    maxBatchSize: integer(o.maxBatchSize, '--max-batch-size', 32, 1, 4096),
    maxQueueDelayUs: integer(o.maxQueueDelayUs, '--max-queue-delay-us', 2000, 0, 10_000_000),
    maxQueueSize: integer(o.maxQueueSize, '--max-queue-size', 512, 1, 1_000_000),
    maxBodyBytes: integer(o.maxBodyBytes, '--max-body-bytes', 256 * 1024 * 1024, 1024, 2 ** 31 - 1),
    executionProviders: providers,
    graphOptimizationLevel: oneOf(o.graphOptimizationLevel, '--graph-optimization-level', OPTIMIZATION_LEVELS, 'all'),
    intraOpThreads: integer(o.intraOpThreads, '--intra-op-threads', 0, 0, 1024),
    gpuMemLimitBytes: integer(o.gpuMemLimitBytes, '--gpu-mem-limit-bytes', 0, 0),
    drainTimeoutSeconds: integer(o.drainTimeoutSeconds, '--drain-timeout-seconds', 30, 0, 3600),
    drainSeconds: integer(o.drainSeconds, '--drain-seconds', DEFAULT_DRAIN_SECONDS, 0, 3600),
    maxInflightBytes: integer(o.maxInflightBytes, '--max-inflight-bytes', defaultInflightBytes(), 1024),
    headersTimeoutSeconds: integer(o.headersTimeoutSeconds, '--headers-timeout-seconds', 30, 1, 3600),
    bodyTimeoutSeconds: integer(o.bodyTimeoutSeconds, '--body-timeout-seconds', 30, 0, 3600),
    requestTimeoutSeconds: integer(o.requestTimeoutSeconds, '--request-timeout-seconds', 300, 0, 86_400),
    logLevel: oneOf(o.logLevel, '--log-level', ['error', 'warn', 'info', 'debug'] as const, 'info'),
    cacheDir: o.cacheDir || '/tmp/modelplane-models',
    sha256: o.sha256 || undefined,
    credentialsDir: o.credentialsDir || undefined,
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

/** Seconds `modelplane serve` keeps serving after SIGTERM, readiness already 503, before it closes its listener. */
export const DEFAULT_DRAIN_SECONDS = 5;

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
