// Per-model inference statistics in the shape of Triton's statistics extension, independent of the transport:
// the HTTP routes and any other front end serve the same snapshot.

/** A count and the cumulative time of the events counted, in nanoseconds. */
export interface StatDuration {
  count: number;
  ns: number;
}

export interface InferStatistics {
  /** Requests answered with outputs; ns from arrival to the response handed to the socket. */
  success: StatDuration;
  /** Requests for this model that were refused or failed; ns likewise. */
  fail: StatDuration;
  /** Successful requests' time in the scheduler queue. */
  queue: StatDuration;
  /** Successful requests' time decoding the request into tensors (JSON or binary). */
  compute_input: StatDuration;
  /** Successful requests' time from leaving the queue to holding their outputs (the model run, batched or not). */
  compute_infer: StatDuration;
  /** Successful requests' time encoding the outputs into the response. */
  compute_output: StatDuration;
  /** There is no response cache: always zero. */
  cache_hit: StatDuration;
  cache_miss: StatDuration;
}

export interface BatchStatistics {
  /** Rows (dimension 0) of the model runs counted here. */
  batch_size: number;
  /** Inputs are prepared per request (see inference_stats): zero here. */
  compute_input: StatDuration;
  /** Model runs of this many rows and onnxruntime's time for them. */
  compute_infer: StatDuration;
  /** Outputs are encoded per request (see inference_stats): zero here. */
  compute_output: StatDuration;
}

export interface ModelStatistics {
  name: string;
  version: string;
  /** Milliseconds since the epoch of the last successful inference; 0 before the first. */
  last_inference: number;
  /** Successful inferences: the rows of each request when the model batches, else one per request. */
  inference_count: number;
  /** Model runs (a batch of several requests is one run). */
  execution_count: number;
  inference_stats: InferStatistics;
  batch_stats: BatchStatistics[];
}

/** One successful request's stages, in seconds (performance.now() differences / 1000). */
export interface SuccessTimes {
  totalSeconds: number;
  queueSeconds: number;
  inputSeconds: number;
  inferSeconds: number;
  outputSeconds: number;
  /** Inferences this request counts for. */
  inferences: number;
}

const zero = (): StatDuration => ({ count: 0, ns: 0 });

function add(d: StatDuration, seconds: number): void {
  d.count++;
  d.ns += Math.max(0, Math.round(seconds * 1e9));
}

export class ModelStatisticsRecorder {
  private lastInference = 0;
  private inferences = 0;
  private executions = 0;
  private readonly stats: InferStatistics = {
    success: zero(), fail: zero(), queue: zero(), compute_input: zero(), compute_infer: zero(), compute_output: zero(), cache_hit: zero(), cache_miss: zero(),
  };
  private readonly batches = new Map<number, StatDuration>();
  /** Queue times reported by the scheduler, keyed by the request they belong to, until the request is answered. */
  private readonly queueTimes = new WeakMap<object, number>();

  constructor(readonly name: string, readonly version: string) {}

  /** The scheduler took a request off the queue after `seconds`. */
  dequeued(request: object, seconds: number): void {
    this.queueTimes.set(request, seconds);
  }

  /** The queue time recorded for a request (0 when none was), forgetting it. */
  takeQueueSeconds(request: object): number {
    const s = this.queueTimes.get(request) ?? 0;
    this.queueTimes.delete(request);
    return s;
  }

  /** One model run of `rows` rows took `computeSeconds`. */
  executed(rows: number, computeSeconds: number): void {
    this.executions++;
    let d = this.batches.get(rows);
    if (!d) this.batches.set(rows, (d = zero()));
    add(d, computeSeconds);
  }

  succeeded(t: SuccessTimes, now = Date.now()): void {
    add(this.stats.success, t.totalSeconds);
    add(this.stats.queue, t.queueSeconds);
    add(this.stats.compute_input, t.inputSeconds);
    add(this.stats.compute_infer, t.inferSeconds);
    add(this.stats.compute_output, t.outputSeconds);
    this.inferences += t.inferences;
    this.lastInference = now;
  }

  /**
   * A request answered, from its performance.now() marks: arrival, start and end of decoding, outputs in hand,
   * answer sent. The queue time is the one the scheduler reported for it. A batching model counts the request's
   * rows as inferences (Triton's way); otherwise a request is one inference.
   */
  answered(
    request: { batchSize?: number },
    t: { arrived: number; decodeStarted: number; decoded: number; computed: number; answered: number },
    batching: boolean,
  ): void {
    const queueSeconds = this.takeQueueSeconds(request);
    this.succeeded({
      totalSeconds: (t.answered - t.arrived) / 1000,
      queueSeconds,
      inputSeconds: (t.decoded - t.decodeStarted) / 1000,
      inferSeconds: Math.max(0, (t.computed - t.decoded) / 1000 - queueSeconds),
      outputSeconds: (t.answered - t.computed) / 1000,
      inferences: batching ? request.batchSize ?? 1 : 1,
    });
  }

  failed(totalSeconds: number): void {
    add(this.stats.fail, totalSeconds);
  }

  /** A copy of the statistics now, in Triton's JSON shape. */
  snapshot(): ModelStatistics {
    const copy = (d: StatDuration): StatDuration => ({ count: d.count, ns: d.ns });
    const s = this.stats;
    return {
      name: this.name,
      version: this.version,
      last_inference: this.lastInference,
      inference_count: this.inferences,
      execution_count: this.executions,
      inference_stats: {
        success: copy(s.success), fail: copy(s.fail), queue: copy(s.queue), compute_input: copy(s.compute_input),
        compute_infer: copy(s.compute_infer), compute_output: copy(s.compute_output), cache_hit: copy(s.cache_hit), cache_miss: copy(s.cache_miss),
      },
      batch_stats: [...this.batches.entries()].sort(([a], [b]) => a - b).map(([batch_size, d]) => ({
        batch_size, compute_input: zero(), compute_infer: copy(d), compute_output: zero(),
      })),
    };
  }
}

/** The statistics extension's response: every model, or one model (optionally at one version). */
export function statisticsResponse(recorders: readonly ModelStatisticsRecorder[], filter: { name?: string; version?: string } = {}): { model_stats: ModelStatistics[] } {
  return {
    model_stats: recorders
      .filter((r) => (filter.name === undefined || r.name === filter.name) && (filter.version === undefined || r.version === filter.version))
      .map((r) => r.snapshot()),
  };
}
