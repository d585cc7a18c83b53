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
import { childKey, needsApply, type ChildWriter } from './apply.js';
import type { EventRecorder } from './events.js';
import { computeStatus, sameStatus } from './status.js';
import { withScaling, type ScalingOutcome } from '../autoscaler/scalers.js';

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
    const { cache, writer, events, log } = this.deps;
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
      const desired = appliedChildren(validation.value, this.deps.config);
      const wanted = new Set(desired.map(childKey));
      // The caches hold only objects carrying the operator's label; a name missing there may still be taken.
      const lives: Array<KubernetesObject | undefined> = [];
      for (const child of desired) {
        const live = cache.child(child.apiVersion!, child.kind!, namespace, child.metadata!.name!) ?? (await writer.get(child));
        if (live && !isControlledBy(live, md)) {
          conflict ??= conflictMessage({ apiVersion: child.apiVersion, kind: child.kind, ...live, metadata: { namespace, name: child.metadata!.name, ...live.metadata } });
        }
        lives.push(live);
      }
      if (conflict) events.warning(ref, 'ChildConflict', conflict);
      let ownerChecked = false;
      for (const [i, child] of desired.entries()) {
        if (conflict) break;
        const live = lives[i];
        if (!needsApply(child, live)) continue;
        // The deletion of a child (by the garbage collector) can be seen before that of its owner: before creating
        // one, make sure the owner is still there, or a deleted ModelDeployment's Deployment would come back and
        // start its pods until the garbage collector removes it again.
        if (!live && !ownerChecked) {
          ownerChecked = true;
          if (await this.deps.ownerGone?.(md)) return {};
        }
        let applied: KubernetesObject;
        try {
          applied = await writer.apply(child);
        } catch (err) {
          const code = (err as { code?: number }).code;
          if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) {
            events.warning(ref, 'ApplyFailed', `${child.kind} ${child.metadata!.name}: ${(err as Error).message}`.slice(0, 1024));
          }
          throw err;
        }
        this.deps.onApply?.(child.kind!);
        const verb = live ? 'Updated' : 'Created';
        log.info(`${verb.toLowerCase()} child`, { modelDeployment: key, kind: child.kind, name: child.metadata!.name });
        events.normal(ref, verb, `${verb} ${child.kind} ${namespace}/${child.metadata!.name}`);
        if (child.kind === 'Deployment') deployment = applied as V1Deployment;
      }
      // A PodDisruptionBudget is wanted only above one replica; remove ours when it no longer is.
      const pdb = cache.child('policy/v1', 'PodDisruptionBudget', namespace, name);
      if (pdb && isControlledBy(pdb, md) && !wanted.has(childKey({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { namespace, name } }))) {
        await writer.remove({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { namespace, name } });
        events.normal(ref, 'Deleted', `Deleted PodDisruptionBudget ${namespace}/${name}: not needed with one replica`);
      }
      scaling = await this.deps.scalers?.sync(validation.value);
    }
    if (deployment && !isControlledBy(deployment, md)) deployment = undefined;
    const result: ReconcileResult = conflict ? { requeueAfterMs: this.deps.conflictRetryMs ?? 30_000 } : {};

    const specReplicas = (md.spec as { replicas?: unknown } | undefined)?.replicas;
    const now = this.deps.now?.() ?? new Date();
    const computed = computeStatus({
      generation: md.metadata.generation ?? 0,
      desiredReplicas: validation.ok ? validation.value.spec.replicas : typeof specReplicas === 'number' ? specReplicas : 1,
      invalid: validation.ok ? undefined : formatErrors(validation.errors),
      conflict,
      deployment,
      pods: cache.pods(namespace, selectorLabels(md)),
      selector: selectorFor(md),
      url: validation.ok ? serviceUrl(validation.value) : undefined,
      previous: md.status,
      now,
      optimizationRequested: validation.ok ? Boolean(validation.value.spec.optimization) : undefined,
    });
    const status = scaling ? withScaling(computed, scaling, md.metadata.generation ?? 0, md.status, now) : computed;
    if (sameStatus(md.status ?? {}, status)) return result;
    await this.deps.writeStatus(md, status);
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
}
