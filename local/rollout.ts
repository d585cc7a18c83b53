// Which replicas to start and which to drain so that a deployment reaches its wanted count and template, the way
// a Deployment's RollingUpdate with maxSurge 1 and maxUnavailable 0 does: one new replica at a time, an old one
// drained only once a new one is ready. Pure.

export interface ReplicaView {
  id: string;
  /** Runs the deployment's current template. */
  current: boolean;
  ready: boolean;
  /** Milliseconds since the epoch; newer replicas go first on a scale-down. */
  createdAt: number;
}

export interface ReplicaPlan {
  start: number;
  drain: string[];
}

/** Not-ready replicas first (they hold no capacity), then the newest. */
function byDrainPreference(a: ReplicaView, b: ReplicaView): number {
  if (a.ready !== b.ready) return a.ready ? 1 : -1;
  return b.createdAt - a.createdAt;
}

/** `replicas` are the ones not already draining. */
export function planReplicas(desired: number, replicas: ReplicaView[]): ReplicaPlan {
  const current = replicas.filter((r) => r.current);
  const old = replicas.filter((r) => !r.current);
  const drain: string[] = [];
  if (current.length > desired) {
    drain.push(...[...current].sort(byDrainPreference).slice(0, current.length - desired).map((r) => r.id));
  }
  const keptCurrent = current.filter((r) => !drain.includes(r.id));
  if (old.length === 0) {
    return { start: Math.max(0, desired - current.length), drain };
  }
  // Old replicas that do not serve hold no capacity: they go at once.
  const oldReady = old.filter((r) => r.ready).sort((a, b) => a.createdAt - b.createdAt);
  drain.push(...old.filter((r) => !r.ready).map((r) => r.id));
  // Each ready new replica lets one old one go, so the ready count never drops below what is wanted.
  let excess = keptCurrent.filter((r) => r.ready).length + oldReady.length - desired;
  for (const r of oldReady) {
    if (excess <= 0) break;
    drain.push(r.id);
    excess--;
  }
  const start = keptCurrent.length < desired && keptCurrent.every((r) => r.ready) ? 1 : 0;
  return { start, drain };
}
