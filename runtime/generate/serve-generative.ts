// `serve` for a generative model: a decoder in the Optimum/transformers.js layout with its tokenizer beside it. One
// generation worker holds the session; the engine batches sequences on it; plain infer requests (the Open Inference
// Protocol, HTTP and gRPC) run on the same session between decode steps, so the model is loaded once.
import type { Logger } from '../../common/logger.js';
import { writeTerminationMessage } from '../../common/termination.js';
import type { ServeConfig } from '../config.js';
import type { ServedModel } from '../core.js';
import { RuntimeMetrics, type InflightTracker } from '../metrics.js';
import { Scheduler } from '../scheduler.js';
import type { ModelStatisticsRecorder } from '../statistics.js';
import type { WorkerInit } from '../worker-protocol.js';
import { GenerationEngine, type GenerationLimits } from './engine.js';
import { EngineThread } from './engine-thread.js';
import { decoderLayout, kvBytesPerToken, type DecoderLayout } from './layout.js';
import { GenerationMetrics } from './metrics.js';
import { GenerativeModel, type SamplingDefaults } from './model.js';
import { eosTokenIds, modelContextLength, ModelFilesError, readModelFiles, type ModelFiles } from './model-files.js';
import { TextTokenizer } from './tokenizer.js';

/** Most prompt tokens one prefill run takes: a longer prompt is prefilled in chunks, between decode steps. */
export const PREFILL_CHUNK_TOKENS = 256;

/** generation_config.json keys that change sampling and that this engine does not apply: said at start. */
const UNAPPLIED = ['repetition_penalty', 'min_p', 'typical_p', 'no_repeat_ngram_size', 'length_penalty', 'num_beams'];

export interface GenerativeStart {
  cfg: ServeConfig;
  /** The ONNX file to load. */
  file: string;
  /** The directory with config.json and tokenizer.json (the original model's, when an optimised file is served). */
  modelDir: string;
  name: string;
  session: Omit<WorkerInit, 'modelPath'>;
  inflight: InflightTracker;
  statistics: ModelStatisticsRecorder;
  codecHeldBytes: () => number;
  logger: Logger;
}

export interface ServingGenerative {
  served: ServedModel;
  close(): Promise<void>;
}

/** A start refused for the generative model, with the reason the termination message gives. */
class GenerativeStartError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

function samplingDefaults(files: ModelFiles, logger: Logger): SamplingDefaults {
  const g = files.generationConfig;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const neutral: Record<string, unknown> = { repetition_penalty: 1, min_p: 0, typical_p: 1, no_repeat_ngram_size: 0, length_penalty: 1, num_beams: 1 };
  const ignored = UNAPPLIED.filter((k) => g[k] !== undefined && g[k] !== null && g[k] !== neutral[k]);
  if (ignored.length) logger.warn('generation_config.json sets sampling this engine does not apply', { keys: ignored, detail: 'temperature, top_p and top_k are applied where a request leaves them out' });
  return { temperature: num(g.temperature), topP: num(g.top_p), topK: num(g.top_k) };
}

/**
 * Starts the generation engine when the model is generative (config.json and tokenizer.json beside it, and the decoder
 * layout in its signature); resolves undefined otherwise, having loaded nothing that stays.
 */
export async function startGenerativeModel(s: GenerativeStart): Promise<ServingGenerative | undefined> {
  const { logger } = s;
  const files = readModelFiles(s.modelDir);
  if (!files) return undefined;
  const thread = new EngineThread();
  let loaded;
  try {
    loaded = await thread.load({ modelPath: s.file, ...s.session, prefillChunkTokens: PREFILL_CHUNK_TOKENS });
  } catch (err) {
    throw new GenerativeStartError('ModelLoadFailed', `model ${s.file} did not load: ${(err as Error).message}`);
  }
  const detected = decoderLayout(loaded.signature, files.config);
  if ('reason' in detected) {
    logger.info('served as an ordinary model, not a generative one', { reason: `it has config.json and tokenizer.json, but ${detected.reason}` });
    await thread.close();
    return undefined;
  }
  try {
    for (const f of loaded.failures) logger.warn('execution provider unavailable, falling back', { provider: f.provider, reason: f.error });
    return await startEngine(s, files, thread, loaded.provider, loaded.signature, detected.layout);
  } catch (err) {
    await thread.close();
    if (err instanceof GenerativeStartError || err instanceof ModelFilesError) throw err;
    throw new GenerativeStartError('ModelLoadFailed', (err as Error).message);
  }
}

/** The model's end-of-sequence tokens and the token that pads a batch's shorter rows. */
interface SpecialTokens {
  eos: number[];
  pad: number;
}

/** The engine, its metrics and the scheduler for plain infer requests on the same session. */
interface EngineParts {
  engine: GenerationEngine;
  metrics: RuntimeMetrics;
  generationMetrics: GenerationMetrics;
}

async function startEngine(s: GenerativeStart, files: ModelFiles, thread: EngineThread, provider: string, signature: ServedModel['signature'], layout: DecoderLayout): Promise<ServingGenerative> {
  const { cfg, logger, name } = s;
  const tokenizer = loadTokenizer(files);
  const special = specialTokens(files, tokenizer, logger);
  const limits = engineLimits(cfg, files, layout);
  warnUnapplied(cfg, logger);
  thread.configure({ type: 'configure', layout, eosTokenIds: special.eos, padTokenId: special.pad });
  const started = performance.now();
  const infer: { scheduler?: Scheduler } = {};
  const { engine, metrics, generationMetrics } = engineParts(s, thread, layout, limits, infer);
  await warmUp(engine, special.eos[0] ?? 0);
  // The warm-up's sequence is not a request: metrics begin after it.
  engine.observe(generationMetrics);
  metrics.warmupFailures.inc({ model: name }, 0);
  metrics.executionProvider.set({ model: name, provider }, 1);
  const scheduler = (infer.scheduler = inferScheduler(s, thread, signature, metrics));
  metrics.loadSeconds.set({ model: name }, (performance.now() - started) / 1000);
  exitWhenTheWorkerDies(thread, logger);
  const generation = new GenerativeModel(engine, tokenizer, samplingDefaults(files, logger), Math.floor(Date.now() / 1000));
  logger.info('generative model ready', {
    model: name, provider, ...generation.describe(), kvBytesPerToken: kvBytesPerToken(layout), eosTokenIds: special.eos, prefillChunkTokens: PREFILL_CHUNK_TOKENS,
  });
  return {
    served: {
      name, signature, scheduler, metrics, maxBatchSize: 1, generation,
      parameters: { execution_provider: provider, instances: 1, generative: true },
    },
    close: () => thread.close(),
  };
}

function loadTokenizer(files: ModelFiles): TextTokenizer {
  try {
    return new TextTokenizer(files.tokenizer, files.tokenizerConfig);
  } catch (err) {
    throw new GenerativeStartError('ModelLoadFailed', `${files.dir}/tokenizer.json did not load: ${(err as Error).message}`);
  }
}

/** End-of-sequence tokens (generation_config.json, config.json, the tokenizer's eos_token) and the padding token. */
function specialTokens(files: ModelFiles, tokenizer: TextTokenizer, logger: Logger): SpecialTokens {
  const eos = eosTokenIds(files, (t) => tokenizer.tokenId(t), tokenizer.specialToken('eos_token'));
  if (eos.length === 0) logger.warn('the model names no end-of-sequence token: sequences end at max_tokens or a stop string', { dir: files.dir });
  const pad = [files.generationConfig.pad_token_id, files.config.pad_token_id].find((v): v is number => typeof v === 'number' && v >= 0) ?? eos[0] ?? 0;
  return { eos, pad };
}

/** The engine's bounds from the serve flags and the model's context length; a start that could not serve is refused. */
function engineLimits(cfg: Pick<ServeConfig, 'maxModelLen' | 'maxKvCacheBytes' | 'maxNumSeqs' | 'maxQueueSize'>, files: ModelFiles, layout: DecoderLayout): GenerationLimits {
  const context = modelContextLength(files);
  if (cfg.maxModelLen > 0 && context !== undefined && cfg.maxModelLen > context) {
    throw new GenerativeStartError('InvalidConfig', `--max-model-len ${cfg.maxModelLen} is more than the model's context length of ${context} tokens (config.json max_position_embeddings)`);
  }
  const maxModelLen = cfg.maxModelLen || context;
  if (!maxModelLen) throw new GenerativeStartError('InvalidConfig', `the model's context length is not in config.json (max_position_embeddings): set --max-model-len`);
  const bytesPerToken = kvBytesPerToken(layout);
  if (bytesPerToken * 2 > cfg.maxKvCacheBytes) {
    throw new GenerativeStartError('InvalidConfig', `--max-kv-cache-bytes ${cfg.maxKvCacheBytes} does not hold a sequence of two tokens (${bytesPerToken} bytes of KV cache per token)`);
  }
  return { maxNumSeqs: cfg.maxNumSeqs, maxModelLen, maxKvCacheBytes: cfg.maxKvCacheBytes, maxQueueSize: cfg.maxQueueSize };
}

/** Serve flags a generative model does not apply: said at start rather than ignored in silence. */
function warnUnapplied(cfg: ServeConfig, logger: Logger): void {
  if (cfg.instances > 1) logger.warn('a generative model runs one session: --instances is not applied', { instances: cfg.instances });
  if (cfg.maxBatchSize > 1) logger.warn('infer requests to a generative model run one at a time between decode steps: --max-batch-size is not applied', { maxBatchSize: cfg.maxBatchSize });
  if (cfg.warmup) logger.warn('a generative model warms up with a short generation: --warmup is not applied', { warmup: cfg.warmup });
}

/**
 * The engine and its metrics: the runtime's (requests, queue, load) and the generation's (tokens, sequences, cache).
 * The gauges are read when scraped: `infer.scheduler` is there once the model is ready.
 */
function engineParts(s: GenerativeStart, thread: EngineThread, layout: DecoderLayout, limits: GenerationLimits, infer: { scheduler?: Scheduler }): EngineParts {
  const { name } = s;
  const metrics = new RuntimeMetrics(
    name,
    { inflight: () => s.inflight.count, queued: () => infer.scheduler?.queued ?? 0, concurrencySeconds: () => s.inflight.concurrencySeconds(), codecHeldBytes: s.codecHeldBytes },
    s.cfg.grpcPort !== 0 ? ['http', 'grpc'] : ['http'],
  );
  let engine: GenerationEngine | undefined;
  const generationMetrics = new GenerationMetrics(name, metrics.registry, {
    running: () => engine?.running ?? 0,
    waiting: () => engine?.waiting ?? 0,
    kvCacheBytes: () => engine?.kvCacheBytes ?? 0,
  }, limits.maxKvCacheBytes);
  engine = new GenerationEngine(thread, layout, limits);
  return { engine, metrics, generationMetrics };
}

/** Plain infer requests (the Open Inference Protocol) on the generation worker's session, one at a time. */
function inferScheduler(s: GenerativeStart, thread: EngineThread, signature: ServedModel['signature'], metrics: RuntimeMetrics): Scheduler {
  const { name, statistics } = s;
  return new Scheduler([{ run: (inputs) => thread.run(inputs) }], signature, { maxBatchSize: 1, maxQueueDelayUs: s.cfg.maxQueueDelayUs, maxQueueSize: s.cfg.maxQueueSize }, {
    queueSeconds: (sec, req) => {
      metrics.queueSeconds.observe({ model: name }, sec);
      statistics.dequeued(req, sec);
    },
    batch: (rows, sec, place) => {
      metrics.batchSize.observe({ model: name }, rows);
      metrics.computeSeconds.observe({ model: name }, sec);
      metrics.runs.inc({ model: name, place });
      statistics.executed(rows, sec);
    },
  });
}

/** A generation worker that dies takes the process with it: the model can no longer be served. */
function exitWhenTheWorkerDies(thread: EngineThread, logger: Logger): void {
  thread.onFatal = (err) => {
    logger.error('generation worker died', { error: err.message });
    writeTerminationMessage(`ModelLoadFailed: generation worker died: ${err.message}`);
    process.exit(70);
  };
}

/** One short greedy generation through the whole engine: a model that cannot decode is not served. */
function warmUp(engine: GenerationEngine, token: number): Promise<void> {
  return new Promise((resolve, reject) => {
    engine.submit({ prompt: [token, token], maxTokens: 2, sampling: { temperature: 0, topP: 1, topK: 0, seed: 0 }, ignoreEos: true, arrived: performance.now() }, {
      token: () => {},
      end: (end, error) => (end === 'failed' ? reject(new GenerativeStartError('ModelLoadFailed', `the model failed its generation warm-up: ${error}`)) : resolve()),
    });
  });
}
