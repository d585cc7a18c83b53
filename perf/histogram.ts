// Latency recording with bounded memory and bounded error, in the manner of HdrHistogram: values in whole
// microseconds; below 2048 us every value has its own bucket (exact), above it each power of two is split into
// 1024 linear buckets, so a reported percentile is within 0.1% of the true one, whatever the run's length.

const SUB = 1024;
const EXACT = 2 * SUB;

/** Bucket index of a value in microseconds. */
export function bucketOf(us: number): number {
  const v = Math.max(0, Math.round(us));
  if (v < EXACT) return v;
  const e = Math.floor(Math.log2(v)) - 10;
  // Math.log2 can round across a power of two; settle the exponent exactly.
  const shift = v >= 2 ** (e + 11) ? e + 1 : v < 2 ** (e + 10) ? e - 1 : e;
  const sub = Math.floor(v / 2 ** shift);
  return EXACT + (shift - 1) * SUB + (sub - SUB);
}

/** The highest value (us) that falls in a bucket. */
export function bucketHigh(index: number): number {
  if (index < EXACT) return index;
  const shift = Math.floor((index - EXACT) / SUB) + 1;
  const sub = ((index - EXACT) % SUB) + SUB;
  return (sub + 1) * 2 ** shift - 1;
}

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export class LatencyHistogram {
  private counts: number[] = [];
  count = 0;
  private sumUs = 0;
  private minUs = Infinity;
  private maxUs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.max(0, ms * 1000);
    const i = bucketOf(us);
    while (this.counts.length <= i) this.counts.push(0);
    this.counts[i]++;
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  merge(other: LatencyHistogram): void {
    while (this.counts.length < other.counts.length) this.counts.push(0);
    other.counts.forEach((c, i) => (this.counts[i] += c));
    this.count += other.count;
    this.sumUs += other.sumUs;
    this.minUs = Math.min(this.minUs, other.minUs);
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** Nearest-rank percentile in milliseconds (the smallest recorded value with at least p% of values at or below it). */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.round(Math.min(bucketHigh(i), this.maxUs)) / 1000;
    }
    return Math.round(this.maxUs) / 1000;
  }

  summary(): LatencySummary {
    const r = (us: number) => Math.round(us) / 1000;
    if (this.count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
    return {
      count: this.count,
      min: r(this.minUs),
      mean: r(this.sumUs / this.count),
      p50: this.percentile(50),
      p90: this.percentile(90),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: r(this.maxUs),
    };
  }
}
