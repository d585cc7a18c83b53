// From two successive scrapes of each runtime pod's /metrics to one LoadSample for the decider. Pure: the
// scraper hands in what it read; rates come from counter differences, so they are exact averages over the
// interval, whatever the scrape timing. With metric sequences the load is the generation engine's gauges instead,
// read at each scrape. The gateway's per-deployment gauges (requests in flight, and held while a deployment is at
// zero) join the sample as demand, so a deployment with no pod to scrape still scales up.
import { parsePrometheusText } from '../../common/prometheus-text.js';
import type { LoadSample } from './decision.js';

/** The series the autoscaler reads from a runtime's Prometheus text. */
export const CONCURRENCY_SERIES = 'modelplane_request_concurrency_seconds_total';
export const REQUESTS_SERIES = 'modelplane_inference_requests_total';
export const DURATION_SERIES = 'modelplane_inference_request_duration_seconds';
/** The generation engine's gauges (generative models only): sequences running, and waiting for room. */
export const RUNNING_SEQUENCES_SERIES = 'modelplane_generation_running_sequences';
export const WAITING_SEQUENCES_SERIES = 'modelplane_generation_waiting_sequences';

/** The gateway's gauges, per ModelDeployment (labels namespace, modeldeployment, model). */
export const GATEWAY_IN_FLIGHT_SERIES = 'modelplane_gateway_requests_in_flight';
/** Requests the gateway holds while a deployment at zero gets a replica; not counted in its in-flight gauge. */
export const GATEWAY_HELD_SERIES = 'modelplane_gateway_requests_held';

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

/** What the gateways report for one ModelDeployment at one instant, summed over gateway pods and models. */
export interface GatewayLoad {
  inFlight: number;
  held: number;
}

/** The key gateway loads are filed under: `namespace/name` of the ModelDeployment. */
export const gatewayKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** Reads one gateway's gauges from its Prometheus text: the load per ModelDeployment (models of one summed). */
export function parseGatewayMetrics(text: string): Map<string, GatewayLoad> {
  const out = new Map<string, GatewayLoad>();
  for (const { name, labels, value } of parsePrometheusText(text, (n) => n === GATEWAY_IN_FLIGHT_SERIES || n === GATEWAY_HELD_SERIES)) {
    if (!Number.isFinite(value) || value < 0 || !labels.namespace || !labels.modeldeployment) continue;
    const key = gatewayKey(labels.namespace, labels.modeldeployment);
    const load = out.get(key) ?? { inFlight: 0, held: 0 };
    if (name === GATEWAY_IN_FLIGHT_SERIES) load.inFlight += value;
    else load.held += value;
    out.set(key, load);
  }
  return out;
}

/** The loads of several gateway pods added up, per ModelDeployment. */
export function sumGatewayLoads(loads: Iterable<Map<string, GatewayLoad>>): Map<string, GatewayLoad> {
  const out = new Map<string, GatewayLoad>();
  for (const one of loads) {
    for (const [key, l] of one) {
      const sum = out.get(key) ?? { inFlight: 0, held: 0 };
      out.set(key, { inFlight: sum.inFlight + l.inFlight, held: sum.held + l.held });
    }
  }
  return out;
}

/**
 * The pods' sample with the gateway's demand added. A request in flight at the gateway is also in flight (or queued)
 * at a pod, so the two are not added: the larger counts (the pods' figure is an average over the interval, the
 * gateway's a level now; either may show a burst the other missed). Held requests reach no pod: they are added.
 * Without a pod sample (no pod ready at zero, or only fresh pods), the gateway's demand makes one when there is
 * any, so a deployment at zero with held requests scales up; no demand there gives no sample (nothing measured).
 */
export function withGatewayLoad(sample: LoadSample | undefined, gateway: GatewayLoad | undefined, now: number, seconds: number): LoadSample | undefined {
  if (!gateway) return sample;
  if (sample) return { ...sample, concurrency: Math.max(sample.concurrency, gateway.inFlight) + gateway.held };
  const demand = gateway.inFlight + gateway.held;
  return demand > 0 ? { time: now, seconds, concurrency: demand, rejectedConcurrency: 0, rejected: 0 } : undefined;
}
