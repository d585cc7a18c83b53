// From two successive scrapes of each runtime pod's /metrics to one LoadSample for the decider. Pure: the
// scraper hands in what it read; rates come from counter differences, so they are exact averages over the
// interval, whatever the scrape timing. With metric sequences the load is the generation engine's gauges instead,
// read at each scrape.
import { parsePrometheusText } from '../../common/prometheus-text.js';
import type { LoadSample } from './decision.js';

/** The series the autoscaler reads from a runtime's Prometheus text. */
export const CONCURRENCY_SERIES = 'modelplane_request_concurrency_seconds_total';
export const REQUESTS_SERIES = 'modelplane_inference_requests_total';
export const DURATION_SERIES = 'modelplane_inference_request_duration_seconds';
/** The generation engine's gauges (generative models only): sequences running, and waiting for room. */
export const RUNNING_SEQUENCES_SERIES = 'modelplane_generation_running_sequences';
export const WAITING_SEQUENCES_SERIES = 'modelplane_generation_waiting_sequences';

/** The counters of one runtime at one instant (summed over models). */
export interface RuntimeCounters {
  concurrencySeconds: number;
  rejected: number;
  durationSum: number;
  durationCount: number;
  /** Sequences running or waiting now (a gauge); absent when the runtime serves no generative model. */
  sequences?: number;
}

/** One pod's counters, read at `time` (ms). `pod` identifies the pod incarnation (name and uid). */
export interface PodScrape extends RuntimeCounters {
  pod: string;
  time: number;
}

/**
 * Reads the autoscaler's series from Prometheus text exposition; undefined when the concurrency counter is
 * missing (not a modelplane runtime, or one too old to export it), so the pod is left out rather than read as idle.
 */
export function parseRuntimeMetrics(text: string): RuntimeCounters | undefined {
  let found = false;
  const c: RuntimeCounters = { concurrencySeconds: 0, rejected: 0, durationSum: 0, durationCount: 0 };
  for (const { name, labels, value } of parsePrometheusText(text, (n) => n.startsWith('modelplane_'))) {
    if (!Number.isFinite(value)) continue;
    switch (name) {
      case CONCURRENCY_SERIES:
        found = true;
        c.concurrencySeconds += value;
        break;
      case REQUESTS_SERIES:
        if (labels.outcome === 'rejected') c.rejected += value;
        break;
      case `${DURATION_SERIES}_sum`:
        c.durationSum += value;
        break;
      case `${DURATION_SERIES}_count`:
        c.durationCount += value;
        break;
      case RUNNING_SEQUENCES_SERIES:
      case WAITING_SEQUENCES_SERIES:
        c.sequences = (c.sequences ?? 0) + value;
        break;
    }
  }
  return found ? c : undefined;
}

/** One pod's rates over the interval between two of its scrapes. */
export interface PodRates {
  pod: string;
  seconds: number;
  /** Average requests in flight (queued plus computing). */
  concurrency: number;
  /** Requests refused per second because the queue was full. */
  rejectedPerSecond: number;
  rejected: number;
  /** Average time in flight of the requests it served, seconds; undefined when it served none. */
  latency?: number;
}

/** Rates of one pod; undefined without a usable previous scrape. A counter that went backwards means a restart. */
export function podRates(previous: PodScrape | undefined, current: PodScrape): PodRates | undefined {
  if (!previous || previous.pod !== current.pod || current.time <= previous.time) return undefined;
  const seconds = (current.time - previous.time) / 1000;
  const reset =
    current.concurrencySeconds < previous.concurrencySeconds || current.rejected < previous.rejected ||
    current.durationSum < previous.durationSum || current.durationCount < previous.durationCount;
  // After a restart the counters began again from zero within the interval (Prometheus' rate() does the same).
  const base: RuntimeCounters = reset ? { concurrencySeconds: 0, rejected: 0, durationSum: 0, durationCount: 0 } : previous;
  const concurrency = (current.concurrencySeconds - base.concurrencySeconds) / seconds;
  const rejected = current.rejected - base.rejected;
  // Refused requests are answered at once and add next to nothing to the duration sum; the latency of demand
  // that was turned away is that of the requests that were served.
  const served = current.durationCount - base.durationCount - rejected;
  const latency = served > 0 ? (current.durationSum - base.durationSum) / served : undefined;
  return { pod: current.pod, seconds, concurrency, rejectedPerSecond: rejected / seconds, rejected, ...(latency !== undefined ? { latency } : {}) };
}

/**
 * The deployment's load over the last interval: per-pod rates summed over the pods measured twice, then
 * extrapolated to every ready pod (fresh pods and pods that did not answer are assumed to carry the average
 * load). Rejections become concurrency by Little's law: refused requests per second times the time a served
 * request spends in flight. Undefined when no pod has two scrapes (only new pods answered): no rate, no sample.
 */
export function loadSample(previous: ReadonlyMap<string, PodScrape>, current: PodScrape[], readyPods: number, now: number): LoadSample | undefined {
  const rates = current.map((c) => podRates(previous.get(c.pod), c)).filter((r): r is PodRates => r !== undefined);
  if (rates.length === 0) return undefined;
  const scale = Math.max(readyPods, rates.length) / rates.length;
  let concurrency = 0;
  let rejectedConcurrency = 0;
  let rejected = 0;
  let seconds = 0;
  for (const r of rates) {
    concurrency += r.concurrency;
    rejected += r.rejected;
    seconds += r.seconds;
    // A pod that served nothing but refused: the latency of its peers, else one concurrency unit per refusal/s.
    const latency = r.latency ?? averageLatency(rates) ?? 1;
    rejectedConcurrency += r.rejectedPerSecond * latency;
  }
  return {
    time: now,
    seconds: seconds / rates.length,
    concurrency: concurrency * scale,
    rejectedConcurrency: rejectedConcurrency * scale,
    rejected: Math.round(rejected * scale),
  };
}

/**
 * The deployment's sequences now (metric sequences): the running and waiting gauges summed over the pods that export
 * them and extrapolated to every ready pod, as loadSample does. A gauge needs no earlier scrape; the refusals still
 * come from counter differences (each refused request is a sequence turned away, so Little's law converts them into
 * sequences as it does into concurrency). `seconds` weighs the sample: the time since the previous step. Undefined when
 * no pod exports the gauges.
 */
export function sequencesSample(previous: ReadonlyMap<string, PodScrape>, current: PodScrape[], readyPods: number, now: number, seconds: number): LoadSample | undefined {
  const measured = current.filter((c) => c.sequences !== undefined);
  if (measured.length === 0) return undefined;
  const scale = Math.max(readyPods, measured.length) / measured.length;
  const sequences = measured.reduce((sum, c) => sum + c.sequences!, 0) * scale;
  const rates = loadSample(previous, measured, readyPods, now);
  return { time: now, seconds: rates?.seconds ?? seconds, concurrency: sequences, rejectedConcurrency: rates?.rejectedConcurrency ?? 0, rejected: rates?.rejected ?? 0 };
}

function averageLatency(rates: PodRates[]): number | undefined {
  const known = rates.filter((r) => r.latency !== undefined);
  return known.length ? known.reduce((s, r) => s + r.latency!, 0) / known.length : undefined;
}

/**
 * The scrapes to difference against next time: the newest of each pod still ready. A pod that missed this
 * round keeps its older scrape, so its next rate spans both intervals.
 */
export function nextBaseline(previous: ReadonlyMap<string, PodScrape>, current: PodScrape[], readyPods: ReadonlySet<string>): Map<string, PodScrape> {
  const next = new Map<string, PodScrape>();
  for (const [pod, s] of previous) if (readyPods.has(pod)) next.set(pod, s);
  for (const s of current) next.set(s.pod, s);
  return next;
}
