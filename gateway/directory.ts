// What the gateway routes to, the same in both homes: a Directory of Targets (one per ModelDeployment, found by the
// model it serves), each with the ready Upstreams (pods from EndpointSlices in a cluster, replica processes in local
// mode) and a way to ask for a first replica when it is scaled to zero. The cluster and local mode each implement
// it; the proxy, the hold queue, keys and metrics see only this.
import type { Agent } from 'node:http';
import type { RepositoryModel } from '../runtime/core.js';

/** How an exchange ended, for meters: answered 2xx/3xx, a 4xx, turned away (503), or failed (5xx, no answer). */
export type Outcome = 'success' | 'client_error' | 'rejected' | 'failed';

/** One ready replica the gateway may send requests to. */
export interface Upstream {
  /** Names it in errors and logs: a pod name, or a local replica's id. */
  readonly id: string;
  readonly host: string;
  /** HTTP port (the Open Inference Protocol's REST routes, OpenAI's routes). */
  readonly port: number;
  /** gRPC port (inference.GRPCInferenceService); undefined when the replica serves no gRPC. */
  readonly grpcPort?: number;
  /** Requests the gateway has sent here that have not finished: least in-flight first. */
  inflight: number;
  /** Keep-alive connections to it. */
  readonly agent: Agent;
}

/** The Ready condition of a target's ModelDeployment, for the words of a 503. */
export interface ReadyCondition {
  status: string;
  reason: string;
  message: string;
}

/** Hears of every exchange on a target (local mode's load meter: the autoscaler's concurrency). */
export interface ExchangeObserver {
  begin(): void;
  end(outcome: Outcome, seconds: number): void;
}

/** A ModelDeployment as the gateway sees it. */
export interface Target {
  readonly namespace: string;
  /** The ModelDeployment's name. */
  readonly name: string;
  /** The model name clients ask for (/v2/models/{model}, OpenAI's `model`). */
  readonly model: string;
  /** The replicas ready to take requests now. */
  upstreams(): readonly Upstream[];
  /** Replicas wanted now (spec.replicas): 0 when scaled to zero. */
  desiredReplicas(): number;
  /** The Ready condition, when there is one yet. */
  readyCondition(): ReadyCondition | undefined;
  /**
   * Asks for a first replica of a target scaled to zero (the cluster patches /scale to 1; local mode starts a process).
   * Called for each request held; idempotent. Returns false when the deployment is not one to start on demand (its
   * zero is spec.replicas: 0 without autoscaling.minReplicas 0): the request is then answered, not held.
   */
  activate(): boolean;
  readonly observer?: ExchangeObserver;
}

/** Every target behind a gateway, by the model it serves. */
export interface Directory {
  lookup(model: string): Target | undefined;
  list(): readonly Target[];
  /** `listener` is called whenever a target's upstreams or Ready condition change (held requests are released then). */
  subscribe(listener: (target: Target) => void): void;
}

/**
 * Ready reasons that say a deployment fails: waiting will not make it ready, so held requests are answered at once.
 * Unschedulable is not one of them: a pod waiting for the cluster autoscaler's new GPU node is worth waiting for.
 */
export const FAILING_REASONS: ReadonlySet<string> = new Set(['ModelLoadFailed', 'ModelFetchFailed', 'ModelOptimizationFailed', 'CrashLoop', 'InvalidSpec', 'ImagePullFailed', 'PodsRejected', 'ChildConflict', 'ProgressDeadlineExceeded']);

/**
 * The protocol's server readiness, the same on HTTP (`/v2/health/ready`) and gRPC (`ServerReady`), in both homes:
 * at least one model, and every model can take a request now (a ready replica, or scaled to zero: a request
 * starts one).
 */
export function serverReady(targets: readonly Target[]): boolean {
  return targets.length > 0 && targets.every((t) => t.upstreams().length > 0 || t.desiredReplicas() === 0);
}

/** Triton's model states: READY, UNAVAILABLE (with a reason), LOADING. */
export function modelState(t: Target): Pick<RepositoryModel, 'state' | 'reason'> {
  if (t.upstreams().length > 0) return { state: 'READY', reason: '' };
  const ready = t.readyCondition();
  if (ready && ready.status !== 'True' && FAILING_REASONS.has(ready.reason)) return { state: 'UNAVAILABLE', reason: `${ready.reason}: ${ready.message}` };
  if (t.desiredReplicas() === 0) return { state: 'UNAVAILABLE', reason: 'scaled to zero: the next request starts a replica' };
  return { state: 'LOADING', reason: ready?.message ?? '' };
}

/** Triton's repository index of `targets` (both protocols): each model with its state; `readyOnly`, the READY ones. */
export function repositoryIndexOf(targets: readonly Target[], readyOnly = false): RepositoryModel[] {
  const models = targets.map((t) => ({ name: t.model, version: '1', ...modelState(t) }));
  return readyOnly ? models.filter((m) => m.state === 'READY') : models;
}
