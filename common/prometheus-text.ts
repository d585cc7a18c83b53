// Prometheus text exposition, read: the runtime's /metrics as the operator's autoscaler and `modelplane perf`
// scrape it. One parser and one bounded fetch for both.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** A label value with its escapes (\n, \\, \") undone in one pass, so `\\n` stays a backslash and an n. */
const unescape = (v: string) => v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));

/**
 * The samples of a text exposition (comments skipped, label values unescaped), optionally only those whose
 * metric name `keep` accepts (checked before the labels are parsed).
 */
export function parsePrometheusText(text: string, keep?: (name: string) => boolean): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m || (keep && !keep(m[1]))) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(LABEL)) labels[l[1]] = unescape(l[2]);
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (!Number.isNaN(value) || m[4] === 'NaN') out.push({ name: m[1], labels, value });
  }
  return out;
}

const MAX_METRICS_BYTES = 4 * 1024 * 1024;

/** GETs a /metrics body within the deadline; throws on a non-200 answer, a failure or a body over 4 MiB. */
export async function fetchMetricsText(url: string, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_METRICS_BYTES) throw new Error(`${url} answered more than ${MAX_METRICS_BYTES} bytes`);
  return text;
}
