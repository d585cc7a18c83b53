// What a ModelDeployment's status says, computed from what the operator observes: the spec's validity, the
// Deployment's rollout and the runtime pods' states. Pure: the same observation always gives the same status.
import type { V1Condition, V1Deployment, V1Pod, V1ContainerStatus } from '@kubernetes/client-node';
import type { ModelDeploymentStatus } from '../api/schema.js';
import { parseSummaryLine } from '../../common/optimization-report.js';
import { OPTIMIZE_CONTAINER } from '../resources/deployment.js';
import type { WarmupFailure } from './warmup-observer.js';
import { condition } from '../kube/conditions.js';
import { isoSeconds } from '../../common/time.js';

export type FailureReason = 'InvalidSpec' | 'ChildConflict' | 'PodsRejected' | 'Unschedulable' | 'ImagePullFailed' | 'CrashLoop' | 'ModelFetchFailed' | 'ModelLoadFailed' | 'ModelOptimizationFailed';

export interface Failure {
  reason: FailureReason;
  message: string;
}

export interface Observation {
  generation: number;
  /** Replicas the spec asks for (after defaults). */
  desiredReplicas: number;
  /** Set when the spec failed validation: the fields and why. */
  invalid?: string;
  /** Set when a child's name is taken by an object this ModelDeployment does not control: which, and what to do. */
  conflict?: string;
  deployment?: V1Deployment;
  pods: V1Pod[];
  selector: string;
  url?: string;
  previous?: ModelDeploymentStatus;
  now: Date;
  /** Whether the spec asks for model optimisation; false drops status.optimization. */
  optimizationRequested?: boolean;
  /** Ready pods whose warm-up on generated inputs failed (they serve all the same). */
  warmupFailures?: WarmupFailure[];
}

/**
 * What the optimise step of the runtime pods reported in its termination message, from the first pod (by name)
 * where it finished; the previous status's when no pod has one now (scaled to zero, pods restarting).
 */
export function optimizationStatus(pods: V1Pod[], previous: ModelDeploymentStatus['optimization'] | undefined): ModelDeploymentStatus['optimization'] | undefined {
  const sorted = pods.filter((p) => !p.metadata?.deletionTimestamp).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const pod of sorted) {
    const cs = pod.status?.initContainerStatuses?.find((c) => c.name === OPTIMIZE_CONTAINER);
    const t = cs?.state?.terminated ?? cs?.lastState?.terminated;
    const summary = parseSummaryLine(t?.message);
    if (summary) return summary;
  }
  return previous;
}


const IMAGE_PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

function terminatedWithError(cs: V1ContainerStatus): { exitCode: number; message?: string; reason?: string } | undefined {
  const t = cs.state?.terminated && cs.state.terminated.exitCode !== 0 ? cs.state.terminated : cs.lastState?.terminated && cs.lastState.terminated.exitCode !== 0 ? cs.lastState.terminated : undefined;
  return t ? { exitCode: t.exitCode, message: t.message?.trim() || undefined, reason: t.reason } : undefined;
}

/** Why one pod is not serving, read the way a person would read `kubectl describe pod`. */
export function podFailure(pod: V1Pod): Failure | undefined {
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return { reason: 'Unschedulable', message: scheduled.message || 'the pod cannot be scheduled' };
  }
  const name = pod.metadata?.name ?? 'pod';
  for (const cs of pod.status?.initContainerStatuses ?? []) {
    const waiting = cs.state?.waiting;
    if (waiting?.reason && IMAGE_PULL_REASONS.has(waiting.reason)) return { reason: 'ImagePullFailed', message: `${name}: init container ${cs.name}: ${waiting.message || waiting.reason}` };
    const t = terminatedWithError(cs);
    if (t) return { reason: cs.name === OPTIMIZE_CONTAINER ? 'ModelOptimizationFailed' : 'ModelFetchFailed', message: t.message ?? `${name}: init container ${cs.name} exited with code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}` };
  }
  for (const cs of pod.status?.containerStatuses ?? []) {
    const waiting = cs.state?.waiting;
    if (waiting?.reason && IMAGE_PULL_REASONS.has(waiting.reason)) return { reason: 'ImagePullFailed', message: `${name}: container ${cs.name}: ${waiting.message || waiting.reason}` };
    const t = terminatedWithError(cs);
    if (t?.message) return { reason: 'ModelLoadFailed', message: t.message };
    if (waiting?.reason === 'CrashLoopBackOff') {
      return { reason: 'CrashLoop', message: `${name}: container ${cs.name} keeps exiting${t ? ` with code ${t.exitCode}` : ''}: ${waiting.message || 'CrashLoopBackOff'}` };
    }
  }
  return undefined;
}

/**
 * Pods the API server refused to create (admission: a missing RuntimeClass, a ResourceQuota): they never exist, so
 * only the Deployment says so, in the ReplicaFailure condition its controllers copy the server's message into.
 */
export function rejectedPods(deployment: V1Deployment | undefined): Failure | undefined {
  const c = deployment?.status?.conditions?.find((x) => x.type === 'ReplicaFailure' && x.status === 'True');
  return c ? { reason: 'PodsRejected', message: c.message || c.reason || 'the API server refused to create the pods' } : undefined;
}

const SEVERITY: FailureReason[] = ['InvalidSpec', 'ChildConflict', 'PodsRejected', 'ModelFetchFailed', 'ModelOptimizationFailed', 'ModelLoadFailed', 'ImagePullFailed', 'CrashLoop', 'Unschedulable'];

/** The most telling failure among the pods (a load error explains more than a crash loop), if any. */
export function worstPodFailure(pods: V1Pod[]): Failure | undefined {
  const failures = pods
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    .map(podFailure)
    .filter((f): f is Failure => f !== undefined);
  failures.sort((a, b) => SEVERITY.indexOf(a.reason) - SEVERITY.indexOf(b.reason));
  return failures[0];
}


/** What the Deployment's status says of the rollout, and the failure that explains a ModelDeployment not ready. */
interface Rollout {
  desired: number;
  replicas: number;
  readyReplicas: number;
  available: number;
  upToDate: boolean;
  ready: boolean;
  failure?: Failure;
}

/** Builds one condition of this observation, keeping the previous transition time where the status holds. */
type CondFn = (type: string, status: 'True' | 'False', reason: string, message: string) => V1Condition;

function observeRollout(o: Observation): Rollout {
  const desired = o.desiredReplicas;
  const ds = o.deployment?.status ?? {};
  const replicas = ds.replicas ?? 0;
  const readyReplicas = ds.readyReplicas ?? 0;
  const available = ds.availableReplicas ?? 0;
  // Rolled out as `kubectl rollout status` means it: the Deployment controller has seen this generation, enough
  // pods run the current template, and none of an older one is left serving the previous spec.
  const upToDate = !!o.deployment && (ds.observedGeneration ?? 0) >= (o.deployment.metadata?.generation ?? 0)
    && (ds.updatedReplicas ?? 0) >= desired && replicas <= (ds.updatedReplicas ?? 0);
  const ready = !o.invalid && !o.conflict && upToDate && available >= desired && readyReplicas >= desired;
  const failure: Failure | undefined = o.invalid
    ? { reason: 'InvalidSpec', message: o.invalid }
    : o.conflict
      ? { reason: 'ChildConflict', message: o.conflict }
      : ready ? undefined : worstPodFailure(o.pods) ?? rejectedPods(o.deployment);
  return { desired, replicas, readyReplicas, available, upToDate, ready, failure };
}

const replicaCounts = (r: Rollout) => `${r.readyReplicas}/${r.desired} replicas ready`;

/** Ready and Available at zero replicas: nothing serves, and nothing is wrong; the data path wakes it. */
export const SCALED_TO_ZERO_MESSAGE = 'scaled to zero: the gateway starts a replica on the next request';

function readyCondition(o: Observation, r: Rollout, cond: CondFn): V1Condition {
  if (r.ready) return r.desired === 0 ? cond('Ready', 'True', 'ScaledToZero', SCALED_TO_ZERO_MESSAGE) : cond('Ready', 'True', 'Ready', replicaCounts(r));
  if (r.failure) return cond('Ready', 'False', r.failure.reason, r.failure.message);
  if (!o.deployment) return cond('Ready', 'False', 'Creating', 'waiting for the Deployment to be created');
  return cond('Ready', 'False', r.upToDate ? 'ReplicasNotReady' : 'RollingOut', replicaCounts(r));
}

function availableCondition(o: Observation, r: Rollout, cond: CondFn): V1Condition {
  const { available, failure } = r;
  return r.desired === 0 && !o.invalid
    ? cond('Available', 'True', 'ScaledToZero', SCALED_TO_ZERO_MESSAGE)
    : available > 0
      ? cond('Available', 'True', 'MinimumReplicasAvailable', `${available} replica${available === 1 ? '' : 's'} serving`)
      : cond('Available', 'False', failure?.reason ?? 'NoReplicasAvailable', failure?.message ?? 'no replica is serving yet');
}

function progressingCondition(o: Observation, r: Rollout, cond: CondFn): V1Condition {
  const counts = replicaCounts(r);
  const stalled = o.deployment?.status?.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False');
  return o.invalid
    ? cond('Progressing', 'False', 'InvalidSpec', o.invalid)
    : o.conflict
      ? cond('Progressing', 'False', 'ChildConflict', o.conflict)
      : r.ready
      ? cond('Progressing', 'False', 'RolloutComplete', counts)
      : stalled
        ? cond('Progressing', 'False', stalled.reason ?? 'ProgressDeadlineExceeded', stalled.message ?? 'the rollout made no progress in time')
        : cond('Progressing', 'True', r.failure?.reason ?? (o.deployment ? 'RollingOut' : 'Creating'), r.failure?.message ?? counts);
}

/** The runtime turns ready only after loading and warming up its model, so a ready pod proves a load. */
function modelLoadedCondition(o: Observation, r: Rollout, cond: CondFn): V1Condition {
  const { failure, readyReplicas } = r;
  const loadFailure = failure && (failure.reason === 'ModelFetchFailed' || failure.reason === 'ModelOptimizationFailed' || failure.reason === 'ModelLoadFailed') ? failure : undefined;
  const loadedBy = `loaded by ${readyReplicas} replica${readyReplicas === 1 ? '' : 's'}`;
  const warmups = o.warmupFailures ?? [];
  const prev = o.previous?.conditions as V1Condition[] | undefined;
  return readyReplicas > 0
    ? warmups.length
      ? cond('ModelLoaded', 'True', 'WarmUpFailed', `${loadedBy}; the warm-up on generated inputs failed on ${warmups.map((w) => w.pod).join(', ')} and the model is served all the same (spec.runtime.warmup gives it inputs it takes): ${warmups[0].message}`.slice(0, 4096))
      : cond('ModelLoaded', 'True', 'ModelLoaded', loadedBy)
    : loadFailure
      ? cond('ModelLoaded', 'False', loadFailure.reason, loadFailure.message)
      : condition('ModelLoaded', 'Unknown', 'Pending', 'no replica has loaded the model yet', o.generation, prev, o.now);
}

/** The previous lastFailure, replaced (with this time) when a different failure shows now. */
function nextLastFailure(o: Observation, failure: Failure | undefined): ModelDeploymentStatus['lastFailure'] {
  const lastFailure = o.previous?.lastFailure;
  if (failure && !(lastFailure && lastFailure.reason === failure.reason && lastFailure.message === failure.message)) {
    return { reason: failure.reason, message: failure.message, time: isoSeconds(o.now) };
  }
  return lastFailure;
}

/**
 * The status for an observation. Steps: observe the rollout, the Ready, Available, Progressing and ModelLoaded
 * conditions, the last failure, the optimisation summary.
 */
export function computeStatus(o: Observation): ModelDeploymentStatus {
  const r = observeRollout(o);
  const prev = o.previous?.conditions as V1Condition[] | undefined;
  const cond: CondFn = (type, status, reason, message) => condition(type, status, reason, message, o.generation, prev, o.now);
  const conditions = [readyCondition(o, r, cond), availableCondition(o, r, cond), progressingCondition(o, r, cond), modelLoadedCondition(o, r, cond)];
  const lastFailure = nextLastFailure(o, r.failure);
  return {
    observedGeneration: o.generation,
    replicas: r.replicas,
    readyReplicas: r.readyReplicas,
    availableReplicas: r.available,
    selector: o.selector,
    ...(o.url ? { url: o.url } : {}),
    conditions: conditions as ModelDeploymentStatus['conditions'],
    ...(lastFailure ? { lastFailure } : {}),
    ...optimizationField(o),
  };
}

function optimizationField(o: Observation): Pick<ModelDeploymentStatus, 'optimization'> {
  if (o.optimizationRequested === false) return {};
  const optimization = optimizationStatus(o.pods, o.previous?.optimization);
  return optimization ? { optimization } : {};
}

/** Equality of statuses as stored (JSON), so a status is written only when it changed. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val instanceof Date) return isoSeconds(val);
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(Object.entries(val as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([x], [y]) => x.localeCompare(y)));
    }
    return val;
  });
}
