// The generation engine's Prometheus metrics, on the runtime's registry beside the inference metrics.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { SEQUENCE_ENDS, type SequenceEnd } from './engine-protocol.js';
import type { EngineObserver } from './engine.js';

const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface GenerationLive {
  running: () => number;
  waiting: () => number;
  kvCacheBytes: () => number;
}

export class GenerationMetrics implements EngineObserver {
  readonly timeToFirstToken: Histogram<'model'>;
  readonly interTokenLatency: Histogram<'model'>;
  readonly queueSeconds: Histogram<'model'>;
  readonly batchSize: Histogram<'model'>;
  readonly promptTokens: Counter<'model'>;
  readonly generatedTokens: Counter<'model'>;
  readonly sequences: Counter<'model' | 'reason'>;
  readonly running: Gauge<'model'>;
  readonly waiting: Gauge<'model'>;
  readonly kvCache: Gauge<'model'>;
  readonly kvCacheLimit: Gauge<'model'>;

  constructor(private readonly model: string, registry: Registry, live: GenerationLive, maxKvCacheBytes: number) {
    const registers = [registry];
    const labelNames = ['model'] as const;
    this.timeToFirstToken = new Histogram({ name: 'modelplane_generation_time_to_first_token_seconds', help: 'Time from a generation request\'s arrival to its first token (queue wait and prefill included), seconds', labelNames, buckets: TTFT_BUCKETS, registers });
    this.interTokenLatency = new Histogram({ name: 'modelplane_generation_inter_token_latency_seconds', help: 'Time between two consecutive tokens of one sequence, seconds', labelNames, buckets: ITL_BUCKETS, registers });
    this.queueSeconds = new Histogram({ name: 'modelplane_generation_queue_duration_seconds', help: 'Time a sequence waited for room (--max-num-seqs, --max-kv-cache-bytes) before it started, seconds', labelNames, buckets: TTFT_BUCKETS, registers });
    this.batchSize = new Histogram({ name: 'modelplane_generation_batch_size', help: 'Sequences per decode step (continuous batching: sequences join and leave between steps)', labelNames, buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.promptTokens = new Counter({ name: 'modelplane_generation_prompt_tokens_total', help: 'Prompt tokens of the sequences started', labelNames, registers });
    this.generatedTokens = new Counter({ name: 'modelplane_generation_tokens_total', help: 'Tokens generated', labelNames, registers });
    this.sequences = new Counter({
      name: 'modelplane_generation_sequences_total',
      help: 'Sequences finished, by reason: eos (an end-of-sequence token), length (max_tokens), cancelled (a stop string, or the client went away), failed (a model run failed)',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.running = new Gauge({ name: 'modelplane_generation_running_sequences', help: 'Sequences running (prefilling or decoding), their KV cache held', labelNames, registers, collect() { this.set({ model }, live.running()); } });
    this.waiting = new Gauge({ name: 'modelplane_generation_waiting_sequences', help: 'Sequences waiting for room to start', labelNames, registers, collect() { this.set({ model }, live.waiting()); } });
    this.kvCache = new Gauge({ name: 'modelplane_generation_kv_cache_bytes', help: 'Bytes of KV cache held by running sequences (the batch padded to its longest sequence)', labelNames, registers, collect() { this.set({ model }, live.kvCacheBytes()); } });
    this.kvCacheLimit = new Gauge({ name: 'modelplane_generation_kv_cache_limit_bytes', help: 'The KV-cache budget (--max-kv-cache-bytes)', labelNames, registers });
    this.kvCacheLimit.set({ model }, maxKvCacheBytes);
    this.promptTokens.inc({ model }, 0);
    this.generatedTokens.inc({ model }, 0);
    for (const reason of SEQUENCE_ENDS) this.sequences.inc({ model, reason }, 0);
  }

  admitted(promptTokens: number, waitedSeconds: number): void {
    this.promptTokens.inc({ model: this.model }, promptTokens);
    this.queueSeconds.observe({ model: this.model }, waitedSeconds);
  }

  decodeStep(rows: number): void {
    this.batchSize.observe({ model: this.model }, rows);
  }

  firstToken(seconds: number): void {
    this.generatedTokens.inc({ model: this.model });
    this.timeToFirstToken.observe({ model: this.model }, seconds);
  }

  interToken(seconds: number): void {
    this.generatedTokens.inc({ model: this.model });
    this.interTokenLatency.observe({ model: this.model }, seconds);
  }

  ended(end: SequenceEnd): void {
    this.sequences.inc({ model: this.model, reason: end });
  }
}
