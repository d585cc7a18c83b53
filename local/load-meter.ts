// What the router measures for one ModelDeployment: the time integral of requests in flight (the autoscaler's
// concurrency), requests turned away, and per-second counts and latencies for the dashboard.
import type { LoadSample } from '../operator/autoscaler/decision.js';

export type Outcome = 'success' | 'client_error' | 'rejected' | 'failed';

interface SecondBucket {
  second: number;
  requests: number;
  failed: number;
  rejected: number;
  /** Latencies in seconds, at most MAX_LATENCIES_PER_SECOND of them (a uniform sample beyond). */
  latencies: number[];
  seen: number;
  readyReplicas: number;
}

const MAX_LATENCIES_PER_SECOND = 2000;
/** Seconds of history kept for the dashboard's chart. */
export const HISTORY_SECONDS = 300;

export function percentile(sorted: number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface HistoryPoint {
  /** Unix seconds. */
  t: number;
  rate: number;
  p50?: number;
  p99?: number;
  readyReplicas: number;
}

export class LoadMeter {
  inflight = 0;
  private integral = 0;
  private lastChange: number;
  private sampleStart: number;
  private rejected = 0;
  private latencySum = 0;
  private latencyCount = 0;
  /** Mean latency of the last interval that had answers, for Little's law when an interval had none. */
  private lastMeanLatency = 0.01;
  private buckets: SecondBucket[] = [];
  readyReplicas = 0;

  constructor(now: number = Date.now()) {
    this.lastChange = now;
    this.sampleStart = now;
  }

  private advance(now: number): void {
    if (now > this.lastChange) {
      this.integral += this.inflight * (now - this.lastChange);
      this.lastChange = now;
    }
  }

  begin(now: number = Date.now()): void {
    this.advance(now);
    this.inflight++;
  }

  end(outcome: Outcome, seconds: number, now: number = Date.now()): void {
    this.advance(now);
    this.inflight--;
    if (outcome === 'rejected') this.rejected++;
    else {
      this.latencySum += seconds;
      this.latencyCount++;
    }
    const b = this.bucket(now);
    b.requests++;
    if (outcome === 'failed') b.failed++;
    if (outcome === 'rejected') b.rejected++;
    if (outcome === 'success' || outcome === 'client_error') {
      b.seen++;
      if (b.latencies.length < MAX_LATENCIES_PER_SECOND) b.latencies.push(seconds);
      else {
        const j = Math.floor(Math.random() * b.seen);
        if (j < MAX_LATENCIES_PER_SECOND) b.latencies[j] = seconds;
      }
    }
  }

  /** A request turned away before it reached a replica (no replica ready). */
  refuse(now: number = Date.now()): void {
    this.rejected++;
    const b = this.bucket(now);
    b.requests++;
    b.rejected++;
  }

  private bucket(now: number): SecondBucket {
    const second = Math.floor(now / 1000);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.second !== second) {
      b = { second, requests: 0, failed: 0, rejected: 0, latencies: [], seen: 0, readyReplicas: this.readyReplicas };
      this.buckets.push(b);
      const oldest = second - HISTORY_SECONDS;
      while (this.buckets.length && this.buckets[0].second <= oldest) this.buckets.shift();
    }
    return b;
  }

  /** Records the ready replicas for this second's point of the chart. */
  noteReplicas(ready: number, now: number = Date.now()): void {
    this.readyReplicas = ready;
    this.bucket(now).readyReplicas = ready;
  }

  /**
   * The load since the previous sample, as the autoscaler's decision function takes it: average concurrency (the
   * integral of in-flight requests over the interval), and the demand turned away as the concurrency it would have
   * added (Little's law: rejected rate x mean latency).
   */
  sample(now: number = Date.now()): LoadSample {
    this.advance(now);
    const seconds = Math.max(0.001, (now - this.sampleStart) / 1000);
    const concurrency = this.integral / 1000 / seconds;
    if (this.latencyCount > 0) this.lastMeanLatency = this.latencySum / this.latencyCount;
    const rejectedConcurrency = (this.rejected / seconds) * this.lastMeanLatency;
    const s: LoadSample = { time: now, seconds, concurrency, rejectedConcurrency, rejected: this.rejected };
    this.integral = 0;
    this.sampleStart = now;
    this.rejected = 0;
    this.latencySum = 0;
    this.latencyCount = 0;
    return s;
  }

  /** Request rate and latency percentiles over the last `seconds` complete and current seconds. */
  summary(seconds = 10, now: number = Date.now()): { rate: number; p50?: number; p99?: number; failed: number; rejected: number } {
    const from = Math.floor(now / 1000) - seconds + 1;
    let requests = 0;
    let failed = 0;
    let rejected = 0;
    const lat: number[] = [];
    for (const b of this.buckets) {
      if (b.second < from) continue;
      requests += b.requests;
      failed += b.failed;
      rejected += b.rejected;
      lat.push(...b.latencies);
    }
    lat.sort((a, b) => a - b);
    const span = Math.max(1, Math.min(seconds, (now - (this.buckets[0]?.second ?? Math.floor(now / 1000)) * 1000) / 1000));
    return { rate: requests / span, p50: percentile(lat, 50), p99: percentile(lat, 99), failed, rejected };
  }

  /** One point per second over the last `seconds`, oldest first; seconds without requests are zero. */
  history(seconds = HISTORY_SECONDS, now: number = Date.now()): HistoryPoint[] {
    const last = Math.floor(now / 1000);
    const bySecond = new Map(this.buckets.map((b) => [b.second, b]));
    const out: HistoryPoint[] = [];
    let ready = this.buckets[0]?.readyReplicas ?? this.readyReplicas;
    for (let t = last - seconds + 1; t <= last; t++) {
      const b = bySecond.get(t);
      if (b) ready = b.readyReplicas;
      else if (t === last) ready = this.readyReplicas;
      const sorted = b ? [...b.latencies].sort((x, y) => x - y) : [];
      out.push({ t, rate: b?.requests ?? 0, p50: percentile(sorted, 50), p99: percentile(sorted, 99), readyReplicas: ready });
    }
    return out;
  }
}
