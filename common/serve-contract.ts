// The contract between whoever starts `modelplane serve` (the operator's Deployment, local mode, a person) and
// the runtime that parses its flags: the flag names, their environment variables, help texts and defaults, and
// one builder from typed settings to argv. The CLI registers these flags, the runtime parses them, the operator
// renders them; a round-trip test (settings -> argv -> parsed config) keeps the three from drifting.

/** The port the runtime listens on unless told otherwise; the operator's Service and probes use it too. */
export const DEFAULT_HTTP_PORT = 8080;
/** The gRPC port of runtime pods (standalone `serve` has no gRPC unless --grpc-port is given). */
export const POD_GRPC_PORT = 9000;

/**
 * onnxruntime execution providers the runtime serves on, by the names onnxruntime-node gives them: those the images
 * can run. onnxruntime-node also knows tensorrt and webgpu, but the GPU image carries no TensorRT libraries
 * (libnvinfer) and neither image a Vulkan loader for WebGPU, so a session on either could never be created there.
 */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
/** The providers that run on an NVIDIA GPU: with `--require-gpu` only these are tried. */
export const GPU_EXECUTION_PROVIDERS = ['cuda'] as const satisfies readonly ExecutionProvider[];
/** Whether a provider runs on an NVIDIA GPU (and so takes a device id). */
export const isGpuProvider = (p: string): p is (typeof GPU_EXECUTION_PROVIDERS)[number] => (GPU_EXECUTION_PROVIDERS as readonly string[]).includes(p);

export const OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type OptimizationLevel = (typeof OPTIMIZATION_LEVELS)[number];

export const SERVE_LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type ServeLogLevel = (typeof SERVE_LOG_LEVELS)[number];

/** What `modelplane serve` is told. Omitted settings take the runtime's defaults (SERVE_DEFAULTS, GENERATION_DEFAULTS). */
export interface ServeSettings extends GenerationSettings {
  model: string;
  name?: string;
  host?: string;
  httpPort?: number;
  /** A port, 0 for no gRPC, or 'any' for a free one (logged in the runtime's `listening` line with protocol grpc). */
  grpcPort?: number | 'any';
  maxBatchSize?: number;
  maxQueueDelayUs?: number;
  maxQueueSize?: number;
  maxBodyBytes?: number;
  maxInflightBytes?: number;
  headersTimeoutSeconds?: number;
  bodyTimeoutSeconds?: number;
  requestTimeoutSeconds?: number;
  executionProviders?: readonly ExecutionProvider[];
  requireGpu?: boolean;
  instances?: number;
  devices?: readonly number[];
  graphOptimizationLevel?: OptimizationLevel;
  intraOpThreads?: number;
  inlineRunMaxUs?: number;
  drainSeconds?: number;
  drainTimeoutSeconds?: number;
  cacheDir?: string;
  sha256?: string;
  credentialsDir?: string;
  optimizedModelDir?: string;
  warmup?: string;
  logLevel?: ServeLogLevel;
}

/** The runtime's defaults, for every setting that has one. */
export const SERVE_DEFAULTS = {
  host: '0.0.0.0',
  httpPort: DEFAULT_HTTP_PORT,
  grpcPort: 0,
  // Batching is opt-in, as Triton's max_batch_size: only the model's owner knows that rows are independent.
  maxBatchSize: 1,
  maxQueueDelayUs: 2000,
  maxQueueSize: 512,
  maxBodyBytes: 256 * 1024 * 1024,
  headersTimeoutSeconds: 30,
  bodyTimeoutSeconds: 30,
  requestTimeoutSeconds: 300,
  executionProviders: ['cpu'] as readonly ExecutionProvider[],
  requireGpu: false,
  instances: 1,
  devices: [0] as readonly number[],
  graphOptimizationLevel: 'all' as OptimizationLevel,
  intraOpThreads: 0,
  // A run this short costs less on the event loop than its hand-off to a session worker and back.
  inlineRunMaxUs: 200,
  // Endpoints take a few seconds to stop sending to a terminating pod: keep serving meanwhile.
  drainSeconds: 5,
  drainTimeoutSeconds: 30,
  cacheDir: '/tmp/modelplane-models',
  logLevel: 'info' as ServeLogLevel,
} satisfies Partial<Required<ServeSettings>>;

export interface ServeFlag {
  /** The flag as typed, with its value placeholder (`--max-batch-size <n>`); a switch's value is optional. */
  flags: string;
  env: string;
  help: string;
}

/**
 * Every flag, keyed by its setting (which is also the attribute commander parses it into). The order here is
 * the order of `--help` and of rendered argv.
 */
export const SERVE_FLAGS: { readonly [K in Exclude<keyof ServeSettings, keyof GenerationSettings>]-?: ServeFlag } = {
  model: { flags: '--model <path|uri>', env: 'MODELPLANE_MODEL', help: 'ONNX file, directory holding model.onnx (+ external data), or a model URI (https://, s3://, pvc://, file://)' },
  name: { flags: '--name <name>', env: 'MODELPLANE_MODEL_NAME', help: 'model name in /v2/models/{name} (default: file name without .onnx)' },
  httpPort: { flags: '--http-port <port>', env: 'MODELPLANE_HTTP_PORT', help: `HTTP port (default ${SERVE_DEFAULTS.httpPort})` },
  grpcPort: { flags: '--grpc-port <port>', env: 'MODELPLANE_GRPC_PORT', help: 'gRPC port (inference.GRPCInferenceService and grpc.health.v1); any: a free port, logged; 0 or unset: no gRPC (default 0)' },
  host: { flags: '--host <address>', env: 'MODELPLANE_HOST', help: `address to listen on (default ${SERVE_DEFAULTS.host}: all interfaces)` },
  maxBatchSize: {
    flags: '--max-batch-size <n>',
    env: 'MODELPLANE_MAX_BATCH_SIZE',
    help: 'dynamic batching: most rows per model run, concatenating callers along dimension 0; only for models whose rows are independent, and refused at start unless dimension 0 of every input and output is symbolic (default 1: off)',
  },
  maxQueueDelayUs: { flags: '--max-queue-delay-us <us>', env: 'MODELPLANE_MAX_QUEUE_DELAY_US', help: `dynamic batching: longest wait for a fuller batch while more requests are arriving (default ${SERVE_DEFAULTS.maxQueueDelayUs})` },
  maxQueueSize: { flags: '--max-queue-size <n>', env: 'MODELPLANE_MAX_QUEUE_SIZE', help: `queued requests before 503 with Retry-After (default ${SERVE_DEFAULTS.maxQueueSize})` },
  maxBodyBytes: { flags: '--max-body-bytes <n>', env: 'MODELPLANE_MAX_BODY_BYTES', help: `largest request body; larger answers 413 (default ${SERVE_DEFAULTS.maxBodyBytes})` },
  maxInflightBytes: {
    flags: '--max-inflight-bytes <n>',
    env: 'MODELPLANE_MAX_INFLIGHT_BYTES',
    help: 'budget on request bytes held by requests in flight, HTTP bodies and gRPC messages alike; past it 503 with Retry-After over HTTP, RESOURCE_EXHAUSTED over gRPC (default: a quarter of the container memory limit, else of the machine memory)',
  },
  headersTimeoutSeconds: { flags: '--headers-timeout-seconds <s>', env: 'MODELPLANE_HEADERS_TIMEOUT_SECONDS', help: `longest time to receive a request's headers; then 408 and the connection closes (default ${SERVE_DEFAULTS.headersTimeoutSeconds})` },
  bodyTimeoutSeconds: { flags: '--body-timeout-seconds <s>', env: 'MODELPLANE_BODY_TIMEOUT_SECONDS', help: `longest pause while a request body arrives; then 408 and the connection closes; 0 = none (default ${SERVE_DEFAULTS.bodyTimeoutSeconds})` },
  requestTimeoutSeconds: { flags: '--request-timeout-seconds <s>', env: 'MODELPLANE_REQUEST_TIMEOUT_SECONDS', help: `longest time to receive a whole request, headers and body (inference time not included); 0 = none (default ${SERVE_DEFAULTS.requestTimeoutSeconds})` },
  executionProviders: {
    flags: '--execution-providers <list>',
    env: 'MODELPLANE_EXECUTION_PROVIDERS',
    help: `ordered onnxruntime execution providers, falling back along the list: ${EXECUTION_PROVIDERS.join(', ')} (default ${SERVE_DEFAULTS.executionProviders.join(',')})`,
  },
  requireGpu: {
    flags: '--require-gpu [true|false]',
    env: 'MODELPLANE_REQUIRE_GPU',
    help: 'try only the GPU provider of the list (cuda) and exit non-zero when it cannot be used, rather than serve on CPU; nodes onnxruntime itself keeps on CPU (asked first with session.disable_cpu_ep_fallback) are logged and reported as nodes_on_cpu, not refused (default false)',
  },
  instances: {
    flags: '--instances <n>',
    env: 'MODELPLANE_INSTANCES',
    help: `model instances, each its own onnxruntime session on its own thread; a batch goes to whichever is idle (default ${SERVE_DEFAULTS.instances})`,
  },
  devices: {
    flags: '--devices <list>',
    env: 'MODELPLANE_DEVICES',
    help: 'GPU device ids for the GPU providers; instance i runs on the (i mod length)-th device of the list (default 0)',
  },
  graphOptimizationLevel: { flags: '--graph-optimization-level <level>', env: 'MODELPLANE_GRAPH_OPTIMIZATION_LEVEL', help: `${OPTIMIZATION_LEVELS.join(' | ')} (default ${SERVE_DEFAULTS.graphOptimizationLevel})` },
  intraOpThreads: { flags: '--intra-op-threads <n>', env: 'MODELPLANE_INTRA_OP_THREADS', help: 'onnxruntime intra-op threads per instance; 0 = the container CPU limit divided among the instances (default 0)' },
  inlineRunMaxUs: {
    flags: '--inline-run-max-us <us>',
    env: 'MODELPLANE_INLINE_RUN_MAX_US',
    help: `a run predicted from the warm-up (after a failed warm-up, from session-worker runs of real requests) to take at most this long runs on the event-loop thread instead of a session worker, skipping the hand-off (about 0.15 ms of CPU and latency); CPU models up to 32 MB whose work follows their input sizes, batching off; 0 = every run on a session worker (default ${SERVE_DEFAULTS.inlineRunMaxUs})`,
  },
  drainSeconds: { flags: '--drain-seconds <s>', env: 'MODELPLANE_DRAIN_SECONDS', help: `on SIGTERM, readiness turns 503 at once but new requests are still served this long, then the listener closes (default ${SERVE_DEFAULTS.drainSeconds})` },
  drainTimeoutSeconds: { flags: '--drain-timeout-seconds <s>', env: 'MODELPLANE_DRAIN_TIMEOUT_SECONDS', help: `after the listener closes, longest wait for accepted requests to finish (default ${SERVE_DEFAULTS.drainTimeoutSeconds})` },
  cacheDir: { flags: '--cache-dir <dir>', env: 'MODELPLANE_CACHE_DIR', help: `where a remote --model is downloaded (default ${SERVE_DEFAULTS.cacheDir})` },
  sha256: { flags: '--sha256 <hex>', env: 'MODELPLANE_MODEL_SHA256', help: 'expected SHA-256 of the model file (model.onnx of a directory), for a path as for a URI; checked before loading, a mismatch exits (ModelFetchFailed) and is never served' },
  credentialsDir: { flags: '--credentials-dir <dir>', env: 'MODELPLANE_CREDENTIALS_DIR', help: 'credentials for a remote model (see docs/model-sources.md)' },
  optimizedModelDir: { flags: '--optimized-model-dir <dir>', env: 'MODELPLANE_OPTIMIZED_MODEL_DIR', help: 'output of `modelplane optimize`: its model is served when it passed the gate, else --model' },
  warmup: {
    flags: '--warmup <file>',
    env: 'MODELPLANE_WARMUP',
    help: 'sample requests every instance runs before the model is ready, as Triton\'s model_warmup: an infer request body (JSON), a JSON array of them, or JSON followed by binary tensor data; a failing sample exits (ModelLoadFailed) with onnxruntime\'s message. Without it the warm-up runs zeros (symbolic dimensions 1), and a model that refuses them is still served, with a warning',
  },
  logLevel: { flags: '--log-level <level>', env: 'MODELPLANE_LOG_LEVEL', help: `${SERVE_LOG_LEVELS.join(' | ')} (default ${SERVE_DEFAULTS.logLevel})` },
};

/**
 * The flags that bound a generative model's engine (a decoder with its tokenizer; see runtime/generate and
 * docs/generation.md). They are `serve` flags like the others, rendered from spec.runtime.generation (serveArgv takes
 * ALL_SERVE_FLAGS); their own table lists them after the general flags in `--help`, and the manual describes them with
 * the engine, in docs/generation.md rather than docs/runtime.md.
 */
export interface GenerationSettings {
  maxNumSeqs?: number;
  maxModelLen?: number;
  maxKvCacheBytes?: number;
}

export const GENERATION_DEFAULTS = {
  maxNumSeqs: 32,
  // 0: the model's own context length (config.json max_position_embeddings).
  maxModelLen: 0,
} satisfies Partial<Required<GenerationSettings>>;

/**
 * The range of each generation setting a ModelDeployment may ask for (spec.runtime.generation): inside what
 * `serve` accepts, so that a spec the API server admits never renders flags the runtime refuses.
 */
export const GENERATION_LIMITS = {
  maxNumSeqs: { min: 1, max: 4096 },
  maxModelLen: { min: 0, max: 10_000_000 },
  // 16 TiB: far beyond any node's memory, well inside a safe integer.
  maxKvCacheBytes: { min: 1024, max: 2 ** 44 },
} as const satisfies { [K in keyof GenerationSettings]-?: { min: number; max: number } };

export const GENERATION_FLAGS: { readonly [K in keyof Required<GenerationSettings>]: ServeFlag } = {
  maxNumSeqs: {
    flags: '--max-num-seqs <n>',
    env: 'MODELPLANE_MAX_NUM_SEQS',
    help: `generative models: most sequences running at once (prefilling or decoding in one batch); more wait, up to --max-queue-size, then 503 with Retry-After (default ${GENERATION_DEFAULTS.maxNumSeqs})`,
  },
  maxModelLen: {
    flags: '--max-model-len <n>',
    env: 'MODELPLANE_MAX_MODEL_LEN',
    help: 'generative models: most tokens of one sequence, prompt and completion together; a request asking for more is refused (400 naming the field); 0 = the model\'s context length from config.json (default 0)',
  },
  maxKvCacheBytes: {
    flags: '--max-kv-cache-bytes <n>',
    env: 'MODELPLANE_MAX_KV_CACHE_BYTES',
    help: 'generative models: budget on the KV cache of the running batch, counted as every running sequence padded to the longest one may grow; sequences wait for room, and one that could never fit is refused (400) (default: a quarter of the container memory limit, else of the machine memory)',
  },
};

/** Every `serve` flag, the general ones then the generation engine's: the order of rendered argv. */
export const ALL_SERVE_FLAGS: { readonly [K in keyof ServeSettings]-?: ServeFlag } = { ...SERVE_FLAGS, ...GENERATION_FLAGS };

/** The flag itself, without its placeholder: `--max-batch-size`. */
export function flagName(key: keyof ServeSettings): string {
  return ALL_SERVE_FLAGS[key].flags.split(' ')[0];
}

/** `modelplane serve` argv (after the program name) for the settings: every setting given, in ALL_SERVE_FLAGS order. */
export function serveArgv(settings: ServeSettings): string[] {
  const argv = ['serve'];
  for (const key of Object.keys(ALL_SERVE_FLAGS) as (keyof ServeSettings)[]) {
    const value = settings[key];
    if (value === undefined) continue;
    if (typeof value === 'boolean') {
      if (value) argv.push(flagName(key));
      continue;
    }
    argv.push(flagName(key), Array.isArray(value) ? value.join(',') : String(value));
  }
  return argv;
}
