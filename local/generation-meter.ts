// What the dashboard shows of a generative deployment, read from its replicas' own metrics (runtime/generate/metrics.ts):
// tokens generated per second and the mean time to first token over the last window, and the sequences running and
// waiting now. The replicas are scraped when the dashboard's data is asked for (at most every MIN_SCRAPE_MS); their
// counters are summed into totals per deployment that never go down (a restarted replica starts again from zero, a
// replica seen for the first time counts from there), and the window's figures are differences of those totals.
import { fetchMetricsText, parsePrometheusText, type PromSample } from '../common/prometheus-text.js';
import type { ScrapeTarget } from './replica-metrics.js';

const TOKENS = 'modelplane_generation_tokens_total';
const TTFT_SUM = 'modelplane_generation_time_to_first_token_seconds_sum';
const TTFT_COUNT = 'modelplane_generation_time_to_first_token_seconds_count';
const RUNNING = 'modelplane_generation_running_sequences';
const WAITING = 'modelplane_generation_waiting_sequences';
const NAMES = new Set([TOKENS, TTFT_SUM, TTFT_COUNT, RUNNING, WAITING]);

/** Seconds the dashboard's generation figures average over. */
export const GENERATION_WINDOW_SECONDS = 10;
const MIN_SCRAPE_MS = 500;
const SCRAPE_TIMEOUT_MS = 1000;

/** One replica's generation figures as its /metrics gives them. */
export interface ReplicaGeneration {
  tokens: number;
  ttftSum: number;
  ttftCount: number;
  running: number;
  waiting: number;
}

/** What /api/local carries for a generative deployment. */
export interface GenerationSummary {
  tokensPerSecond: number;
  /** Mean time to first token of the sequences that started in the window; null when none did. */
  timeToFirstTokenSeconds: number | null;
  runningSequences: number;
  waitingSequences: number;
  windowSeconds: number;
}

/** The generation figures in one replica's samples; undefined for a replica that does not generate. */
export function replicaGeneration(samples: readonly PromSample[]): ReplicaGeneration | undefined {
  const g: ReplicaGeneration = { tokens: 0, ttftSum: 0, ttftCount: 0, running: 0, waiting: 0 };
  let generative = false;
  for (const s of samples) {
    if (s.name === TOKENS) {
      generative = true;
      g.tokens += s.value;
    } else if (s.name === TTFT_SUM) g.ttftSum += s.value;
    else if (s.name === TTFT_COUNT) g.ttftCount += s.value;
    else if (s.name === RUNNING) g.running += s.value;
    else if (s.name === WAITING) g.waiting += s.value;
  }
  return generative ? g : undefined;
}

interface Point {
  t: number;
  tokens: number;
  ttftSum: number;
  ttftCount: number;
}

/** How much a counter grew: from zero when it went down (the process restarted). */
const growth = (now: number, before: number) => (now >= before ? now - before : now);

/** One deployment's totals over time, fed with its replicas' figures at each scrape. */
export class GenerationMeter {
  private readonly last = new Map<string, ReplicaGeneration>();
  private total: Point = { t: 0, tokens: 0, ttftSum: 0, ttftCount: 0 };
  private points: Point[] = [];
  private running = 0;
  private waiting = 0;

  /** The figures of the replicas scraped at `now`, by replica process (a key per process: a restart is a new one). */
  observe(now: number, replicas: ReadonlyMap<string, ReplicaGeneration>): void {
    const t = { ...this.total, t: now };
    this.running = 0;
    this.waiting = 0;
    for (const [key, g] of replicas) {
      const before = this.last.get(key);
      // A replica seen for the first time counts from here: what it generated before may lie outside the window.
      if (before) {
        t.tokens += growth(g.tokens, before.tokens);
        t.ttftSum += growth(g.ttftSum, before.ttftSum);
        t.ttftCount += growth(g.ttftCount, before.ttftCount);
      }
      this.running += g.running;
      this.waiting += g.waiting;
    }
    for (const key of this.last.keys()) if (!replicas.has(key)) this.last.delete(key);
    for (const [key, g] of replicas) this.last.set(key, g);
    this.total = t;
    this.points.push(t);
    this.points = this.points.filter((p) => p.t >= now - 3 * GENERATION_WINDOW_SECONDS * 1000);
  }

  /** Rates over the last window: from the oldest point in it, or the one just before when it holds only the newest. */
  summary(now: number): GenerationSummary {
    const from = now - GENERATION_WINDOW_SECONDS * 1000;
    const last = this.points[this.points.length - 1];
    const inWindow = this.points.findIndex((p) => p.t >= from);
    const base = inWindow > 0 && this.points[inWindow] === last ? this.points[inWindow - 1] : this.points[Math.max(0, inWindow)];
    const seconds = last && base ? (last.t - base.t) / 1000 : 0;
    const started = last && base ? last.ttftCount - base.ttftCount : 0;
    return {
      tokensPerSecond: seconds > 0 ? (last.tokens - base.tokens) / seconds : 0,
      timeToFirstTokenSeconds: started > 0 ? (last.ttftSum - base.ttftSum) / started : null,
      runningSequences: this.running,
      waitingSequences: this.waiting,
      windowSeconds: GENERATION_WINDOW_SECONDS,
    };
  }
}

/** The generation meters of every deployment whose replicas generate, refreshed by scraping them. */
export class GenerationStats {
  private readonly meters = new Map<string, GenerationMeter>();
  private lastScrape = -Infinity;
  private scraping: Promise<void> | undefined;

  constructor(private readonly read: (url: string, timeoutMs: number) => Promise<string> = fetchMetricsText) {}

  /** Scrapes the targets unless that was done within MIN_SCRAPE_MS (or is under way: the same scrape is awaited). */
  refresh(targets: readonly ScrapeTarget[], now: number = Date.now()): Promise<void> {
    if (this.scraping) return this.scraping;
    if (now - this.lastScrape < MIN_SCRAPE_MS) return Promise.resolve();
    this.lastScrape = now;
    this.scraping = this.scrape(targets, now).finally(() => {
      this.scraping = undefined;
    });
    return this.scraping;
  }

  /** The deployment's figures, or null when none of its replicas generates. */
  summary(modelDeployment: string, now: number = Date.now()): GenerationSummary | null {
    return this.meters.get(modelDeployment)?.summary(now) ?? null;
  }

  private async scrape(targets: readonly ScrapeTarget[], now: number): Promise<void> {
    const texts = await Promise.all(targets.map((t) => this.read(`http://127.0.0.1:${t.port}/metrics`, SCRAPE_TIMEOUT_MS).catch(() => undefined)));
    const byDeployment = new Map<string, Map<string, ReplicaGeneration>>();
    targets.forEach((t, i) => {
      const text = texts[i];
      const g = text === undefined ? undefined : replicaGeneration(parsePrometheusText(text, (name) => NAMES.has(name)));
      if (!g) return;
      const replicas = byDeployment.get(t.modelDeployment) ?? new Map<string, ReplicaGeneration>();
      replicas.set(`${t.replica}/${t.pid}`, g);
      byDeployment.set(t.modelDeployment, replicas);
    });
    const deployments = new Set(targets.map((t) => t.modelDeployment));
    for (const name of this.meters.keys()) if (!deployments.has(name)) this.meters.delete(name);
    for (const [name, replicas] of byDeployment) {
      const meter = this.meters.get(name) ?? new GenerationMeter();
      this.meters.set(name, meter);
      meter.observe(now, replicas);
    }
  }
}
