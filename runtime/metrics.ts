// The runtime's Prometheus metrics. One registry per server, so tests can run several in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Outcome = 'success' | 'client_error' | 'rejected' | 'failed';
/** The transport a request came by. */
export type Protocol = 'http' | 'grpc';

/**
 * Requests in flight (queued plus computing) and their integral over time, kept exactly: the integral is brought
 * up to date on every change of the count and on every read, so the rate of the counter built on it over any
 * window is the window's average concurrency, with no sampling noise. The autoscaler scales on that rate.
 */
export class InflightTracker {
  private n = 0;
  private integral = 0;
  private since: number;

  constructor(private readonly clock: () => number = () => performance.now()) {
    this.since = clock();
  }

  get count(): number {
    return this.n;
  }

  set count(value: number) {
    this.advance();
    this.n = value;
  }

  /** Request-seconds in flight since the tracker was created. */
  concurrencySeconds(): number {
    this.advance();
    return this.integral;
  }

  private advance(): void {
    const now = this.clock();
    this.integral += (this.n * (now - this.since)) / 1000;
    this.since = now;
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'protocol' | 'outcome'>;
  readonly requestSeconds: Histogram<'model' | 'protocol'>;
  readonly queueSeconds: Histogram<'model'>;
  readonly computeSeconds: Histogram<'model'>;
  readonly batchSize: Histogram<'model'>;
  readonly runs: Counter<'model' | 'place'>;
  readonly batchFallbacks: Counter<'model' | 'reason'>;
  readonly warmupFailures: Counter<'model'>;
  readonly inflight: Gauge<'model'>;
  readonly queued: Gauge<'model'>;
  readonly codecHeld: Gauge<'model'>;
  readonly loadSeconds: Gauge<'model'>;
  readonly concurrencySeconds: Counter<'model'>;
  readonly executionProvider: Gauge<'model' | 'provider'>;

  constructor(readonly model: string, live: { inflight: () => number; queued: () => number; concurrencySeconds?: () => number; codecHeldBytes?: () => number }, protocols: readonly Protocol[] = ['http']) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'modelplane_inference_requests_total', help: 'Inference requests by model, protocol (http, grpc) and outcome (success, client_error, rejected, failed)', labelNames: ['model', 'protocol', 'outcome'], registers });
    this.requestSeconds = new Histogram({ name: 'modelplane_inference_request_duration_seconds', help: 'Time from request arrival to response, seconds', labelNames: ['model', 'protocol'], buckets: LATENCY_BUCKETS, registers });
    this.queueSeconds = new Histogram({ name: 'modelplane_inference_queue_duration_seconds', help: 'Time a request waited in the queue before its batch ran, seconds', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.computeSeconds = new Histogram({ name: 'modelplane_inference_compute_duration_seconds', help: 'Time onnxruntime spent on one batch, seconds', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.batchSize = new Histogram({ name: 'modelplane_inference_batch_size', help: 'Rows (dimension 0) per model run', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.runs = new Counter({ name: 'modelplane_inference_runs_total', help: 'Model runs by where they computed: session_worker, or event_loop (short runs, --inline-run-max-us)', labelNames: ['model', 'place'], registers });
    for (const place of ['session_worker', 'event_loop'] as const) this.runs.inc({ model, place }, 0);
    this.batchFallbacks = new Counter({
      name: 'modelplane_batch_fallbacks_total',
      help: 'Batches re-run request by request, by reason: run_failed (the batched run failed), outputs_not_split (its outputs did not split along dimension 0)',
      labelNames: ['model', 'reason'],
      registers,
    });
    for (const reason of ['run_failed', 'outputs_not_split'] as const) this.batchFallbacks.inc({ model, reason }, 0);
    this.warmupFailures = new Counter({
      name: 'modelplane_warmup_failures_total',
      help: 'Warm-up runs on generated inputs that failed (the model is served; a --warmup sample that fails stops the start instead)',
      labelNames: ['model'],
      registers,
    });
    this.warmupFailures.inc({ model }, 0);
    this.inflight = new Gauge({ name: 'modelplane_inference_inflight_requests', help: 'Requests received and not yet answered (queued + computing)', labelNames: ['model'], registers, collect() { this.set({ model }, live.inflight()); } });
    this.queued = new Gauge({ name: 'modelplane_inference_queued_requests', help: 'Requests waiting in the queue', labelNames: ['model'], registers, collect() { this.set({ model }, live.queued()); } });
    this.codecHeld = new Gauge({
      name: 'modelplane_codec_held_bytes',
      help: 'Bytes the codec worker holds for long JSON request bodies still arriving and long JSON answers still being written',
      labelNames: ['model'],
      registers,
      collect() {
        this.set({ model }, live.codecHeldBytes?.() ?? 0);
      },
    });
    let reported = 0;
    this.concurrencySeconds = new Counter({
      name: 'modelplane_request_concurrency_seconds_total',
      help: 'Integral over time of requests in flight (queued plus computing); its rate is the average concurrency',
      labelNames: ['model'],
      registers,
      collect() {
        const total = live.concurrencySeconds?.() ?? reported;
        if (total > reported) this.inc({ model }, total - reported);
        reported = Math.max(reported, total);
      },
    });
    this.concurrencySeconds.inc({ model }, 0);
    this.loadSeconds = new Gauge({ name: 'modelplane_model_load_seconds', help: 'Time to load and warm up the model, seconds', labelNames: ['model'], registers });
    this.executionProvider = new Gauge({ name: 'modelplane_execution_provider_info', help: 'The onnxruntime execution provider the model instances run on (1 for each in use)', labelNames: ['model', 'provider'], registers });
    for (const protocol of protocols) {
      for (const outcome of ['success', 'client_error', 'rejected', 'failed'] as const) this.requests.inc({ model, protocol, outcome }, 0);
    }
    collectDefaultMetrics({ register: this.registry });
  }
}
