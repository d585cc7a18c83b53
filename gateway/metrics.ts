// The gateway's own measurements, per model, as Prometheus text: requests answered (by status code), requests in
// flight to replicas, requests held for a deployment coming up, and the upstream latency (from sending to a replica
// to its last byte). Kept in plain counters updated twice per request, and written out only when scraped.
import type { Outcome, Target } from './directory.js';
import type { ExchangeStats } from './proxy.js';

/** Upstream latency buckets, in seconds: a millisecond model to a long generation. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

class ModelStats {
  /** Exchanges begun and not ended: in flight to a replica, or held. */
  active = 0;
  readonly byStatus = new Map<number, number>();
  readonly buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  latencyCount = 0;
  latencySum = 0;
  coldStarts = 0;
  coldStartSeconds = 0;
}

/** Label values escaped as the text format wants. */
function escape(v: string): string {
  return v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

export class GatewayStats implements ExchangeStats {
  private readonly models = new Map<Target, ModelStats>();

  /** `heldFor`: requests held now per target (the hold queue's), counted apart from those in flight. */
  constructor(private readonly heldFor: (target: Target) => number) {}

  private of(target: Target): ModelStats {
    let s = this.models.get(target);
    if (!s) {
      s = new ModelStats();
      this.models.set(target, s);
    }
    return s;
  }

  begin(target: Target): void {
    this.of(target).active++;
  }

  end(target: Target, status: number, _outcome: Outcome, upstreamSeconds: number | undefined): void {
    const s = this.of(target);
    s.active--;
    s.byStatus.set(status, (s.byStatus.get(status) ?? 0) + 1);
    if (upstreamSeconds === undefined) return;
    s.latencyCount++;
    s.latencySum += upstreamSeconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (upstreamSeconds <= LATENCY_BUCKETS[i]) s.buckets[i]++;
  }

  /** A deployment came up from zero with requests waiting: how long the first one waited. */
  coldStart(target: Target, seconds: number): void {
    const s = this.of(target);
    s.coldStarts++;
    s.coldStartSeconds += seconds;
  }

  /** Requests in flight to replicas now (held ones not counted). */
  inflight(target: Target): number {
    return Math.max(0, (this.models.get(target)?.active ?? 0) - this.heldFor(target));
  }

  /** Cold starts so far and the mean wait of their first requests, for the dashboard. */
  coldStarts(target: Target): { count: number; meanSeconds?: number } {
    const s = this.models.get(target);
    return s && s.coldStarts ? { count: s.coldStarts, meanSeconds: s.coldStartSeconds / s.coldStarts } : { count: 0 };
  }

  /** Prometheus text for `targets` (the directory's now: a deployment gone is forgotten). */
  text(targets: readonly Target[]): string {
    const live = new Set(targets);
    for (const t of this.models.keys()) if (!live.has(t)) this.models.delete(t);
    const lines: string[] = [];
    const head = (name: string, help: string, type: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const labelsOf = (t: Target) => `namespace="${escape(t.namespace)}",modeldeployment="${escape(t.name)}",model="${escape(t.model)}"`;
    head('modelplane_gateway_requests_total', 'Requests answered by the gateway, per model and status code (499: the client went away).', 'counter');
    for (const t of targets) for (const [code, n] of this.models.get(t)?.byStatus ?? []) lines.push(`modelplane_gateway_requests_total{${labelsOf(t)},code="${code}"} ${n}`);
    head('modelplane_gateway_requests_in_flight', 'Requests sent to a replica and not yet answered, per model (held requests not counted).', 'gauge');
    for (const t of targets) lines.push(`modelplane_gateway_requests_in_flight{${labelsOf(t)}} ${this.inflight(t)}`);
    head('modelplane_gateway_requests_held', 'Requests waiting for a replica of a deployment coming up (from zero), per model.', 'gauge');
    for (const t of targets) lines.push(`modelplane_gateway_requests_held{${labelsOf(t)}} ${this.heldFor(t)}`);
    head('modelplane_gateway_ready_replicas', 'Ready replicas the gateway routes to, per model.', 'gauge');
    for (const t of targets) lines.push(`modelplane_gateway_ready_replicas{${labelsOf(t)}} ${t.upstreams().length}`);
    head('modelplane_gateway_cold_starts_total', 'Times a deployment came up from zero with requests held.', 'counter');
    for (const t of targets) lines.push(`modelplane_gateway_cold_starts_total{${labelsOf(t)}} ${this.models.get(t)?.coldStarts ?? 0}`);
    this.latencyText(targets, labelsOf, head, lines);
    return `${lines.join('\n')}\n`;
  }

  private latencyText(targets: readonly Target[], labelsOf: (t: Target) => string, head: (n: string, h: string, t: string) => void, lines: string[]): void {
    const name = 'modelplane_gateway_upstream_latency_seconds';
    head(name, 'Time from sending a request to a replica to its last byte, per model.', 'histogram');
    for (const t of targets) {
      const s = this.models.get(t);
      if (!s) continue;
      const l = labelsOf(t);
      LATENCY_BUCKETS.forEach((b, i) => lines.push(`${name}_bucket{${l},le="${b}"} ${s.buckets[i]}`));
      lines.push(`${name}_bucket{${l},le="+Inf"} ${s.latencyCount}`, `${name}_sum{${l}} ${s.latencySum}`, `${name}_count{${l}} ${s.latencyCount}`);
    }
  }
}
