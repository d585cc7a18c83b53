// The runtime's own metrics through the router: on each scrape of the router's /metrics, every replica process's
// /metrics is read and the runtime's counters and histograms (modelplane_* families of type counter or histogram) are
// summed per series, the way Prometheus would sum them over pods. A replica that goes away (drained, restarted,
// scaled down) leaves its last values in the sums, so no series ever goes down; what it counted after the last
// scrape before it went is lost. Each replica's resident memory is a gauge of its own,
// modelplane_local_replica_resident_memory_bytes. So `modelplane perf` pointed at the router gets its server
// breakdown (queue and compute time, batch size) and the replicas' memory, as from a single runtime.
import { fetchMetricsText, parsePrometheusText, type PromSample } from '../common/prometheus-text.js';

/** A replica process the router can scrape. */
export interface ScrapeTarget {
  modelDeployment: string;
  model: string;
  replica: string;
  pid: number;
  port: number;
}

interface Family {
  type: string;
  help: string;
}

interface ProcessSeries {
  target: ScrapeTarget;
  /** Series key -> the latest value read. */
  samples: Map<string, PromSample>;
  residentBytes?: number;
}

export const REPLICA_RSS_METRIC = 'modelplane_local_replica_resident_memory_bytes';

const SUMMED_TYPES = new Set(['counter', 'histogram']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

const seriesKey = (s: PromSample) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)))}`;
const escapeLabel = (v: string) => v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
const formatValue = (v: number) => (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));

function line(name: string, labels: Record<string, string>, value: number): string {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
  return `${name}${l ? `{${l}}` : ''} ${formatValue(value)}`;
}

export class ReplicaMetrics {
  private readonly families = new Map<string, Family>();
  private readonly live = new Map<string, ProcessSeries>();
  private readonly retired = new Map<string, PromSample>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly timeoutMs = 2000, private readonly read: (url: string, timeoutMs: number) => Promise<string> = fetchMetricsText) {}

  /** Scrapes the targets (one scrape at a time) and returns the summed families as Prometheus text. */
  collect(targets: ScrapeTarget[]): Promise<string> {
    const run = this.queue.then(() => this.scrape(targets));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private family(sampleName: string): string | undefined {
    if (this.families.has(sampleName)) return sampleName;
    for (const suffix of HISTOGRAM_SUFFIXES) {
      if (sampleName.endsWith(suffix) && this.families.get(sampleName.slice(0, -suffix.length))?.type === 'histogram') return sampleName.slice(0, -suffix.length);
    }
    return undefined;
  }

  private async scrape(targets: ScrapeTarget[]): Promise<string> {
    const keyOf = (t: ScrapeTarget) => `${t.replica}/${t.pid}`;
    const texts = await Promise.all(targets.map((t) => this.read(`http://127.0.0.1:${t.port}/metrics`, this.timeoutMs).catch(() => undefined)));
    targets.forEach((t, i) => {
      const text = texts[i];
      const entry = this.live.get(keyOf(t)) ?? { target: t, samples: new Map<string, PromSample>() };
      this.live.set(keyOf(t), entry);
      // A replica that did not answer this time keeps the values it gave last.
      if (text === undefined) return;
      for (const m of text.matchAll(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/gm)) {
        const f = this.families.get(m[2]) ?? { type: 'untyped', help: '' };
        if (m[1] === 'TYPE') f.type = m[3].trim();
        else f.help = m[3];
        this.families.set(m[2], f);
      }
      for (const s of parsePrometheusText(text)) {
        if (s.name === 'process_resident_memory_bytes') {
          entry.residentBytes = s.value;
          continue;
        }
        const family = this.family(s.name);
        if (!family || !family.startsWith('modelplane_') || !SUMMED_TYPES.has(this.families.get(family)!.type)) continue;
        entry.samples.set(seriesKey(s), s);
      }
    });
    // Processes gone since the last scrape: their last values stay in the sums.
    const current = new Set(targets.map(keyOf));
    for (const [key, entry] of this.live) {
      if (current.has(key)) continue;
      for (const [k, s] of entry.samples) {
        const r = this.retired.get(k);
        this.retired.set(k, { ...s, value: (r?.value ?? 0) + s.value });
      }
      this.live.delete(key);
    }
    return this.render();
  }

  private render(): string {
    const sums = new Map<string, PromSample>();
    const add = (k: string, s: PromSample) => {
      const prev = sums.get(k);
      sums.set(k, { ...s, value: (prev?.value ?? 0) + s.value });
    };
    for (const [k, s] of this.retired) add(k, s);
    for (const entry of this.live.values()) for (const [k, s] of entry.samples) add(k, s);
    const byFamily = new Map<string, PromSample[]>();
    for (const s of sums.values()) {
      const f = this.family(s.name)!;
      byFamily.set(f, [...(byFamily.get(f) ?? []), s]);
    }
    const lines: string[] = [];
    for (const name of [...byFamily.keys()].sort()) {
      const f = this.families.get(name)!;
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const s of byFamily.get(name)!) lines.push(line(s.name, s.labels, s.value));
    }
    const rss = [...this.live.values()].filter((e) => e.residentBytes !== undefined);
    if (rss.length) {
      lines.push(`# HELP ${REPLICA_RSS_METRIC} Resident memory of each replica process, bytes.`, `# TYPE ${REPLICA_RSS_METRIC} gauge`);
      for (const e of rss) lines.push(line(REPLICA_RSS_METRIC, { modeldeployment: e.target.modelDeployment, model: e.target.model, replica: e.target.replica }, e.residentBytes!));
    }
    return lines.length ? `${lines.join('\n')}\n` : '';
  }
}
