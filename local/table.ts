// `kubectl get mdp` for local mode: the CRD's printer columns (Ready, Replicas, Available, Model, Age) plus the
// Ready reason, so a person sees why a deployment is not ready. Pure.
import type { ModelDeployment, ModelDeploymentStatus } from '../operator/api/schema.js';

export interface TableRow {
  name: string;
  ready: string;
  replicas: number;
  available: number;
  model: string;
  reason: string;
  created?: string;
}

export function rowFor(md: ModelDeployment & { status?: ModelDeploymentStatus }): TableRow {
  const ready = md.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: md.metadata.name!,
    ready: ready?.status ?? 'Unknown',
    replicas: md.spec.replicas,
    available: md.status?.readyReplicas ?? 0,
    model: md.spec.model.uri,
    reason: ready?.reason ?? '',
    ...(md.metadata.creationTimestamp ? { created: String(md.metadata.creationTimestamp) } : {}),
  };
}

/** `5s`, `3m`, `2h`, `4d`, as kubectl prints ages. */
export function age(fromIso: string | undefined, now: number): string {
  if (!fromIso) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** The table without the AGE column, to tell whether anything a person cares about changed. */
export function tableKey(rows: TableRow[]): string {
  return JSON.stringify(rows.map(({ created: _c, ...r }) => r));
}

export function renderTable(rows: TableRow[], now: number = Date.now()): string {
  const header = ['NAME', 'READY', 'REPLICAS', 'AVAILABLE', 'MODEL', 'REASON', 'AGE'];
  const cells = rows.map((r) => [r.name, r.ready, String(r.replicas), String(r.available), r.model, r.reason, age(r.created, now)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join('   ');
  return [line(header), ...cells.map(line)].join('\n');
}
