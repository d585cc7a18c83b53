// Reconcile one ModelDeployment key, level-triggered: read the object and its children from the caches,
// apply what differs, delete what is no longer wanted, and write the status only when it changed.
// Whatever woke it (an edit, a pod crash, a resync), it does the same thing. It never adopts: a child name
// taken by an object this ModelDeployment does not control is left alone and reported as ChildConflict, and
// the key is looked at again until the name is free.
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { API_VERSION, KIND, type ModelDeployment, type ModelDeploymentStatus } from '../api/schema.js';
import { formatErrors, validateModelDeployment } from '../api/validate.js';
import { appliedChildren, selectorFor, selectorLabels, serviceUrl, type OperatorConfig } from '../resources/index.js';
import { isControlledBy } from '../resources/owner.js';
import { childKey, needsApply, type ChildWriter } from '../kube/apply.js';
import type { EventRecorder } from '../kube/events.js';
import { computeStatus, sameStatus } from './status.js';
import { withScaling, type ScalingOutcome } from '../autoscaler/scalers.js';
import type { WarmupObserver } from './warmup-observer.js';
import type { ObjectRef } from '../kube/gone-watch.js';

/** Read access to what the informers hold. */
export interface ClusterCache {
  modelDeployment(namespace: string, name: string): ModelDeployment | undefined;
  /** Every ModelDeployment watched, as stored (not validated). */
  modelDeployments(): ModelDeployment[];
  /** A child of one of the kinds a ModelDeployment owns. */
  child(apiVersion: string, kind: string, namespace: string, name: string): KubernetesObject | undefined;
  pods(namespace: string, labels: Record<string, string>): V1Pod[];
}

export interface ReconcilerDeps {
  cache: ClusterCache;
  writer: ChildWriter;
  /** Writes status through the status subresource, conditional on the object's resourceVersion. */
  writeStatus(md: ModelDeployment, status: ModelDeploymentStatus): Promise<void>;
  events: EventRecorder;
  config: OperatorConfig;
  log: Logger;
  now?: () => Date;
  onApply?: (kind: string) => void;
  onStatusWrite?: () => void;
  /** How soon a ModelDeployment blocked by a child it does not own is looked at again; default 30 s. */
  conflictRetryMs?: number;
  /** The HPA or ScaledObject that spec.autoscaling.mode asks for, and the Autoscaling condition. */
  scalers?: { sync(md: ModelDeployment): Promise<ScalingOutcome> };
  /** Whether the API server no longer has this ModelDeployment (deleted, or replaced by one with another uid). */
  ownerGone?(md: ModelDeployment): Promise<boolean>;
  /** Queues `key` again as soon as the object in the way of one of its children is deleted. */
  watchUntilGone?(object: ObjectRef, key: string): void;
  /** What the ready pods said of their warm-up (asked in the background; the key is queued again when they answer). */
  warmups?: Pick<WarmupObserver, 'failures'>;
}


export interface ReconcileResult {
  requeueAfterMs?: number;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** What a ChildConflict says: the object in the way, and who controls it if anyone. */
export function conflictMessage(obj: KubernetesObject): string {
  const owner = obj.metadata?.ownerReferences?.find((o) => o.controller);
  const by = owner ? `is controlled by ${owner.kind} ${owner.name}` : 'has no controller';
  return `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name} already exists and ${by}; the operator does not adopt it: delete or rename it, or rename the ModelDeployment`;
}

export class Reconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const { cache, events, log } = this.deps;
    const { namespace, name } = splitKey(key);
    const md = cache.modelDeployment(namespace, name);
    // Deleted: the garbage collector removes the children through their ownerReferences.
    if (!md || md.metadata.deletionTimestamp) return {};
    const ref: KubernetesObject = { apiVersion: API_VERSION, kind: KIND, metadata: md.metadata };
    const validation = validateModelDeployment(md);
    let deployment = cache.child('apps/v1', 'Deployment', namespace, name) as V1Deployment | undefined;
    let conflict: string | undefined;
    let scaling: ScalingOutcome | undefined;
    if (validation.ok) {
      const synced = await this.syncChildren(md, ref, key, appliedChildren(validation.value, this.deps.config));
      if (synced.ownerGone) return {};
      conflict = synced.conflict;
      deployment = synced.deployment ?? deployment;
      await this.removeUnwantedBudget(md, ref, synced.wanted);
      scaling = await this.deps.scalers?.sync(validation.value);
    }
    if (deployment && !isControlledBy(deployment, md)) deployment = undefined;
    const result: ReconcileResult = conflict ? { requeueAfterMs: this.deps.conflictRetryMs ?? 30_000 } : {};

    const specReplicas = (md.spec as { replicas?: unknown } | undefined)?.replicas;
    const pods = cache.pods(namespace, selectorLabels(md));
    const servedName = (md.spec as { model?: { servedName?: string } } | undefined)?.model?.servedName ?? name;
    const now = this.deps.now?.() ?? new Date();
    const computed = computeStatus({
      generation: md.metadata.generation ?? 0,
      desiredReplicas: validation.ok ? validation.value.spec.replicas : typeof specReplicas === 'number' ? specReplicas : 1,
      invalid: validation.ok ? undefined : formatErrors(validation.errors),
      conflict,
      deployment,
      pods,
      selector: selectorFor(md),
      url: validation.ok ? serviceUrl(validation.value) : undefined,
      previous: md.status,
      now,
      optimizationRequested: validation.ok ? Boolean(validation.value.spec.optimization) : undefined,
      warmupFailures: validation.ok ? this.deps.warmups?.failures(key, servedName, pods) : undefined,
    });
    const status = scaling ? withScaling(computed, scaling, md.metadata.generation ?? 0, md.status, now) : computed;
    if (sameStatus(md.status ?? {}, status)) return result;
    if (!(await this.statusAccepted(md, ref, key, status))) return result;
    this.deps.onStatusWrite?.();
    const before = md.status?.conditions?.find((c) => c.type === 'Ready');
    const after = status.conditions!.find((c) => c.type === 'Ready')!;
    if (before?.reason !== after.reason || before?.status !== after.status) {
      if (after.status === 'True') events.normal(ref, 'Ready', after.message ?? 'ready');
      else if (status.lastFailure && status.lastFailure.reason === after.reason && after.reason !== 'ChildConflict') events.warning(ref, after.reason!, after.message ?? '');
    }
    const opt = status.optimization;
    if (opt && (opt.applied !== md.status?.optimization?.applied || opt.reason !== md.status?.optimization?.reason)) {
      if (opt.applied) events.normal(ref, 'ModelOptimized', opt.message ?? 'serving the optimised model');
      else events.warning(ref, 'ModelNotOptimized', `${opt.reason}: ${opt.message ?? ''}; serving the original model`);
    }
    log.debug('status written', { modelDeployment: key, ready: after.status, reason: after.reason });
    return result;
  }

  /**
   * Writes the status; false when the API server refuses it as invalid. It validates the whole object on a status
   * write, so a spec that a looser, older CRD let in and today's rules forbid blocks every status: say so in an Event
   * and wait for the next change, rather than retry in a loop.
   */
  private async statusAccepted(md: ModelDeployment, ref: KubernetesObject, key: string, status: ModelDeploymentStatus): Promise<boolean> {
    try {
      await this.deps.writeStatus(md, status);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 422) throw err;
      const message = apiMessage(err);
      this.deps.events.warning(ref, 'StatusRejected', `the API server refused the status update, so this object's status cannot say why it is not ready: ${message}`.slice(0, 1024));
      this.deps.log.warn('status refused by the API server', { modelDeployment: key, error: message });
      return false;
    }
  }

  /**
   * Creates the children that are missing and applies those that changed. A name missing from the caches is
   * created outright: the API server's 409 is what says the name is taken, and only then is the object read to see
   * whose it is. Creation stops at the first child in the way (the Deployment comes last, so its pods never start
   * beside a conflict); the others already created stay, owned by this ModelDeployment.
   */
  private async syncChildren(md: ModelDeployment, ref: KubernetesObject, key: string, desired: KubernetesObject[]): Promise<ChildrenOutcome> {
    const { cache, writer } = this.deps;
    const wanted = new Set(desired.map(childKey));
    const cached = (child: KubernetesObject) => cache.child(child.apiVersion!, child.kind!, child.metadata!.namespace!, child.metadata!.name!);
    // A cached object carrying our labels but controlled by another owner is in the way before anything is written.
    for (const child of desired) {
      const live = cached(child);
      if (live && !isControlledBy(live, md)) return { wanted, conflict: this.inTheWay(ref, key, child, live) };
    }
    let ownerChecked = false;
    let deployment: V1Deployment | undefined;
    for (const child of [...desired].sort((a, b) => Number(a.kind === 'Deployment') - Number(b.kind === 'Deployment'))) {
      let live = cached(child);
      if (!live) {
        // The deletion of a child (by the garbage collector) can be seen before that of its owner: before creating
        // one again, make sure the owner is still there, or a deleted ModelDeployment's Deployment would come back
        // and start its pods until the garbage collector removes it again. A ModelDeployment with no status yet
        // never had children to lose, so its first children need no such read.
        if (!ownerChecked && md.status) {
          ownerChecked = true;
          if (await this.deps.ownerGone?.(md)) return { wanted, ownerGone: true };
        }
        const created = await this.write(ref, key, child, 'Created', () => writer.create(child).catch(alreadyExists));
        if (created) {
          if (child.kind === 'Deployment') deployment = created as V1Deployment;
          continue;
        }
        live = await writer.get(child);
        if (!live) throw new Error(`${child.kind} ${key} was reported to exist, then could not be read; retrying`);
        if (!isControlledBy(live, md)) return { wanted, conflict: this.inTheWay(ref, key, child, live) };
      }
      if (!needsApply(child, live)) continue;
      const applied = await this.write(ref, key, child, 'Updated', () => writer.apply(child, live));
      if (child.kind === 'Deployment') deployment = applied as V1Deployment;
    }
    return { wanted, deployment };
  }

  /** One write of a child, with its log line, Event and metric; a 4xx other than a conflict is reported on the ModelDeployment. */
  private async write(ref: KubernetesObject, key: string, child: KubernetesObject, verb: 'Created' | 'Updated', send: () => Promise<KubernetesObject | undefined>): Promise<KubernetesObject | undefined> {
    const { events, log } = this.deps;
    let written: KubernetesObject | undefined;
    try {
      written = await send();
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) {
        events.warning(ref, 'ApplyFailed', `${child.kind} ${child.metadata!.name}: ${(err as Error).message}`.slice(0, 1024));
      }
      throw err;
    }
    if (!written) return undefined;
    this.deps.onApply?.(child.kind!);
    const namespace = child.metadata!.namespace!;
    log.info(`${verb.toLowerCase()} child`, { modelDeployment: key, kind: child.kind, name: child.metadata!.name });
    events.normal(ref, verb, `${verb} ${child.kind} ${namespace}/${child.metadata!.name}`);
    return written;
  }

  /** A child's name is held by an object this ModelDeployment does not control: report it, and look again once it goes. */
  private inTheWay(ref: KubernetesObject, key: string, child: KubernetesObject, live: KubernetesObject): string {
    const { namespace, name } = { namespace: child.metadata!.namespace!, name: child.metadata!.name! };
    const message = conflictMessage({ apiVersion: child.apiVersion, kind: child.kind, ...live, metadata: { namespace, name, ...live.metadata } });
    this.deps.events.warning(ref, 'ChildConflict', message);
    this.deps.watchUntilGone?.({ apiVersion: child.apiVersion!, kind: child.kind!, namespace, name, resourceVersion: live.metadata?.resourceVersion }, key);
    return message;
  }

  /** A PodDisruptionBudget is wanted only above one replica; ours goes when it no longer is. */
  private async removeUnwantedBudget(md: ModelDeployment, ref: KubernetesObject, wanted: Set<string>): Promise<void> {
    const namespace = md.metadata.namespace!;
    const name = md.metadata.name!;
    const budget = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { namespace, name } };
    const pdb = this.deps.cache.child(budget.apiVersion, budget.kind, namespace, name);
    if (!pdb || !isControlledBy(pdb, md) || wanted.has(childKey(budget))) return;
    await this.deps.writer.remove(budget);
    this.deps.events.normal(ref, 'Deleted', `Deleted PodDisruptionBudget ${namespace}/${name}: not needed with one replica`);
  }
}

interface ChildrenOutcome {
  /** Keys (childKey) of the children the spec wants. */
  wanted: Set<string>;
  /** Why a child could not be written: the object in the way. */
  conflict?: string;
  /** The Deployment as written now, when it was. */
  deployment?: V1Deployment;
  /** The API server no longer has the ModelDeployment: nothing more to do. */
  ownerGone?: boolean;
}

/** The API server's own message in an error it answered (its Status), else the error's. */
function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    if (status?.message) return status.message;
  } catch {
    // not a Status
  }
  return (err as Error).message ?? String(err);
}

/** A create answered 409: undefined (the name is taken), any other failure rethrown. */
function alreadyExists(err: unknown): undefined {
  if ((err as { code?: number }).code === 409) return undefined;
  throw err;
}
