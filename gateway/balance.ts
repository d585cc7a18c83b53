// Which replica takes the next request: the ready one with the fewest requests in flight from this gateway, round
// robin among equals (so that an idle deployment's replicas share the requests instead of the first one taking all).
import type { ReadyCondition, Target, Upstream } from './directory.js';

let turn = 0;

/** The ready upstream of `target` with the fewest requests in flight, `not` excluded; undefined when there is none. */
export function pickUpstream(target: Target, not?: Upstream): Upstream | undefined {
  const ups = target.upstreams();
  const n = ups.length;
  if (n === 0) return undefined;
  const start = turn++ % n;
  let best: Upstream | undefined;
  for (let k = 0; k < n; k++) {
    const u = ups[(start + k) % n];
    if (u === not) continue;
    if (!best || u.inflight < best.inflight) best = u;
  }
  return best;
}

/** What a request waiting for a replica is told in the end: a replica to send to, or the error to answer with. */
export type Acquired =
  | { upstream: Upstream }
  | { status: number; reason: string; message: string; retryAfterSeconds?: number; ready?: ReadyCondition };

/**
 * Finds a replica for one request: at once when one is ready, else (a target scaled to zero, or one coming up from
 * zero) after holding the request until one is, in arrival order, within the activation timeout. `done` is called
 * exactly once; `cancel` (the client went away) drops a held request without calling it.
 */
export interface UpstreamWaiter {
  acquire(target: Target, done: (result: Acquired) => void): { cancel(): void };
}
