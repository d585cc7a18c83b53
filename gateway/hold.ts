// Requests held while a deployment comes up. A request that finds no ready replica is held (in arrival order, per
// deployment) when the deployment is scaled to zero or on its way up; the deployment is asked for a replica at once
// (Target.activate: a /scale patch in a cluster, a process in local mode), and the held requests are released, in
// arrival order, as soon as a replica is ready. Held requests wait at most the activation timeout; the queue over every
// deployment is bounded; a deployment whose Ready condition says it fails has its held requests answered at once, with
// that reason, and new ones are not held.
import { pickUpstream, type Acquired, type UpstreamWaiter } from './balance.js';
import { FAILING_REASONS, type Directory, type Target } from './directory.js';
import { noReadyReplica } from './proxy.js';

export interface HoldOptions {
  /** Longest a request waits for a replica of a deployment coming up. */
  activationTimeoutMs: number;
  /** Requests held at once over every deployment; one more is answered 503 HoldQueueFull. */
  maxHeldRequests: number;
  /** Hears of each deployment's first held request and of each release (cold start time), for logs and events. */
  onActivation?: (target: Target, event: { kind: 'held' } | { kind: 'released'; count: number; waitedMs: number } | { kind: 'timedOut'; count: number }) => void;
}

/** The defaults of --activation-timeout (large models load slowly) and --max-held-requests. */
export const DEFAULT_HOLD = { activationTimeoutMs: 300_000, maxHeldRequests: 1000 } as const;

interface Held {
  done: (result: Acquired) => void;
  timer: NodeJS.Timeout;
}

interface Queue {
  held: Held[];
  /** When the first request of this wait was held. */
  since: number;
}

const NOT_HELD = { cancel: () => undefined };

/** The answer for a deployment at zero that is not started on demand: spec.replicas 0, set by hand. */
function stoppedOnPurpose(target: Target): Acquired {
  return { status: 503, reason: 'ScaledToZero', message: `ModelDeployment ${target.namespace}/${target.name} has spec.replicas 0 and no autoscaling with minReplicas 0: it is not started on demand; scale it up to serve`, retryAfterSeconds: 60 };
}

/** Whether a deployment with no ready replica is worth waiting for: at zero, or coming up, and not failing. */
export function worthHolding(target: Target): boolean {
  const ready = target.readyCondition();
  return !(ready && ready.status !== 'True' && FAILING_REASONS.has(ready.reason));
}

export class HoldQueue implements UpstreamWaiter {
  private readonly queues = new Map<Target, Queue>();
  private total = 0;

  constructor(directory: Directory, private readonly opts: HoldOptions) {
    directory.subscribe((target) => this.release(target));
  }

  /** Requests held now for `target`. */
  heldFor(target: Target): number {
    return this.queues.get(target)?.held.length ?? 0;
  }

  get heldTotal(): number {
    return this.total;
  }

  acquire(target: Target, done: (result: Acquired) => void): { cancel(): void } {
    const upstream = pickUpstream(target);
    if (upstream) {
      done({ upstream });
      return NOT_HELD;
    }
    if (!worthHolding(target)) {
      done(noReadyReplica(target));
      return NOT_HELD;
    }
    if (this.total >= this.opts.maxHeldRequests) {
      done({ status: 503, reason: 'HoldQueueFull', message: `${this.opts.maxHeldRequests} requests are already waiting for replicas (--max-held-requests); ${target.name} has none ready yet`, retryAfterSeconds: 1 });
      return NOT_HELD;
    }
    if (!target.activate()) {
      done(stoppedOnPurpose(target));
      return NOT_HELD;
    }
    let queue = this.queues.get(target);
    if (!queue) {
      queue = { held: [], since: Date.now() };
      this.queues.set(target, queue);
      this.opts.onActivation?.(target, { kind: 'held' });
    }
    const held: Held = { done, timer: setTimeout(() => this.expire(target), this.opts.activationTimeoutMs) };
    queue.held.push(held);
    this.total++;
    return { cancel: () => this.drop(target, held) };
  }

  /** A change of `target`: its held requests go to a replica in arrival order, or are answered when it fails. */
  release(target: Target): void {
    const queue = this.queues.get(target);
    if (!queue) return;
    if (pickUpstream(target)) {
      const held = this.take(target, queue.held.length);
      this.opts.onActivation?.(target, { kind: 'released', count: held.length, waitedMs: Date.now() - queue.since });
      // Each picks the least-loaded replica as it goes, so a burst spreads over the replicas that are ready.
      for (const h of held) {
        const upstream = pickUpstream(target);
        h.done(upstream ? { upstream } : noReadyReplica(target));
      }
      return;
    }
    if (!worthHolding(target)) {
      const refusal = noReadyReplica(target);
      for (const h of this.take(target, queue.held.length)) h.done(refusal);
      return;
    }
    // Still nothing ready (a scale back to zero, a failed /scale patch): ask again.
    if (!target.activate()) for (const h of this.take(target, queue.held.length)) h.done(stoppedOnPurpose(target));
  }

  /** The oldest held requests whose activation timeout passed (timers fire in arrival order: the oldest first). */
  private expire(target: Target): void {
    const [h] = this.take(target, 1);
    if (!h) return;
    this.opts.onActivation?.(target, { kind: 'timedOut', count: 1 });
    const seconds = Math.round(this.opts.activationTimeoutMs / 1000);
    h.done({
      status: 503,
      reason: 'ActivationTimeout',
      message: `no replica of ModelDeployment ${target.namespace}/${target.name} became ready within ${seconds} s (--activation-timeout); the request was not sent`,
      retryAfterSeconds: Math.max(1, Math.min(30, seconds)),
    });
  }

  /** The first `n` held requests of `target`, out of the queue, their timers stopped. */
  private take(target: Target, n: number): Held[] {
    const queue = this.queues.get(target);
    if (!queue) return [];
    const taken = queue.held.splice(0, n);
    for (const h of taken) clearTimeout(h.timer);
    this.total -= taken.length;
    if (queue.held.length === 0) this.queues.delete(target);
    return taken;
  }

  private drop(target: Target, held: Held): void {
    const queue = this.queues.get(target);
    const i = queue ? queue.held.indexOf(held) : -1;
    if (i < 0) return;
    clearTimeout(held.timer);
    queue!.held.splice(i, 1);
    this.total--;
    if (queue!.held.length === 0) this.queues.delete(target);
  }

  /** Every held request answered 503 (a stop). */
  close(): void {
    for (const target of [...this.queues.keys()]) {
      for (const h of this.take(target, Infinity)) h.done({ status: 503, reason: 'ShuttingDown', message: 'the gateway is stopping', retryAfterSeconds: 1 });
    }
  }
}
