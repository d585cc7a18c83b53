// Reconcile one ModelDeployment key, level-triggered: read the object and its children from the caches,
// apply what differs, delete what is no longer wanted, and write the status only when it changed.
// Whatever woke it (an edit, a pod crash, a resync), it does the same thing.
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { API_VERSION, KIND, type ModelDeployment, type ModelDeploymentStatus } from '../api/schema.js';
import { formatErrors, validateModelDeployment } from '../api/validate.js';
import { desiredChildren, selectorFor, selectorLabels, serviceUrl, type OperatorConfig } from '../resources/index.js';
import { childKey, needsApply, withAppliedHash, type ChildWriter } from './apply.js';
import type { EventRecorder } from './events.js';
import { computeStatus, sameStatus } from './status.js';
import { withScaling, type ScalingOutcome } from '../autoscaler/scalers.js';

/** Read access to what the informers hold. */
export interface ClusterCache {
  modelDeployment(namespace: string, name: string): ModelDeployment | undefined;
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
  /** The HPA or ScaledObject that spec.autoscaling.mode asks for, and the Autoscaling condition. */
  scalers?: { sync(md: ModelDeployment): Promise<ScalingOutcome> };
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

function isOwnedBy(obj: KubernetesObject | undefined, md: ModelDeployment): boolean {
  return !!obj?.metadata?.ownerReferences?.some((o) => o.uid === md.metadata.uid && o.controller);
}

export class Reconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string): Promise<void> {
    const { cache, writer, events, log } = this.deps;
    const { namespace, name } = splitKey(key);
    const md = cache.modelDeployment(namespace, name);
    // Deleted: the garbage collector removes the children through their ownerReferences.
    if (!md || md.metadata.deletionTimestamp) return;
    const ref: KubernetesObject = { apiVersion: API_VERSION, kind: KIND, metadata: md.metadata };
    const validation = validateModelDeployment(md);
    let deployment = cache.child('apps/v1', 'Deployment', namespace, name) as V1Deployment | undefined;
    let scaling: ScalingOutcome | undefined;
    if (validation.ok) {
      const desired = desiredChildren(validation.value, this.deps.config).map(withAppliedHash);
      const wanted = new Set(desired.map(childKey));
      for (const child of desired) {
        const live = cache.child(child.apiVersion!, child.kind!, namespace, child.metadata!.name!);
        if (!needsApply(child, live)) continue;
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
      if (pdb && isOwnedBy(pdb, md) && !wanted.has(childKey({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { namespace, name } }))) {
        await writer.remove({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { namespace, name } });
        events.normal(ref, 'Deleted', `Deleted PodDisruptionBudget ${namespace}/${name}: not needed with one replica`);
      }
      scaling = await this.deps.scalers?.sync(validation.value);
    }
    if (deployment && !isOwnedBy(deployment, md)) deployment = undefined;

    const specReplicas = (md.spec as { replicas?: unknown } | undefined)?.replicas;
    const now = this.deps.now?.() ?? new Date();
    const computed = computeStatus({
      generation: md.metadata.generation ?? 0,
      desiredReplicas: validation.ok ? validation.value.spec.replicas : typeof specReplicas === 'number' ? specReplicas : 1,
      invalid: validation.ok ? undefined : formatErrors(validation.errors),
      deployment,
      pods: cache.pods(namespace, selectorLabels(md)),
      selector: selectorFor(md),
      url: validation.ok ? serviceUrl(validation.value) : undefined,
      previous: md.status,
      now,
    });
    const status = scaling ? withScaling(computed, scaling, md.metadata.generation ?? 0, md.status, now) : computed;
    if (sameStatus(md.status ?? {}, status)) return;
    await this.deps.writeStatus(md, status);
    this.deps.onStatusWrite?.();
    const before = md.status?.conditions?.find((c) => c.type === 'Ready');
    const after = status.conditions!.find((c) => c.type === 'Ready')!;
    if (before?.reason !== after.reason || before?.status !== after.status) {
      if (after.status === 'True') events.normal(ref, 'Ready', after.message ?? 'ready');
      else if (status.lastFailure && status.lastFailure.reason === after.reason) events.warning(ref, after.reason!, after.message ?? '');
    }
    log.debug('status written', { modelDeployment: key, ready: after.status, reason: after.reason });
  }
}
