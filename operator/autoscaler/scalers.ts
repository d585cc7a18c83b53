// What spec.autoscaling.mode puts in the cluster besides the children: for hpa an autoscaling/v2
// HorizontalPodAutoscaler, for keda a ScaledObject, each applied only where its API is served; on a change of
// mode the one no longer wanted is deleted (only if this ModelDeployment owns it). Also the Autoscaling
// condition and status.autoscaler the reconciler writes.
import {
  AutoscalingV2Api, CustomObjectsApi, PatchStrategy, setHeaderOptions,
  type KubeConfig, type KubernetesObject, type V1Condition,
} from '@kubernetes/client-node';
import type { ModelDeployment, ModelDeploymentStatus } from '../api/schema.js';
import { appliedScaler, type OperatorConfig } from '../resources/index.js';
import { CONCURRENCY_METRIC, SEQUENCES_METRIC } from '../resources/hpa.js';
import { SCALED_OBJECTS } from '../resources/scaledobject.js';
import { isControlledBy } from '../resources/owner.js';
import { makeApiClient, orAbsent, type ApiClientOptions } from '../kube/api-client.js';
import { FIELD_MANAGER, needsApply } from '../kube/apply.js';
import { condition } from '../kube/conditions.js';
import type { ApiAvailability } from './discovery.js';

export type AutoscalerStatus = NonNullable<ModelDeploymentStatus['autoscaler']>;
export type Mode = AutoscalerStatus['mode'];

export const AUTOSCALING_CONDITION = 'Autoscaling';

/** The Autoscaling condition's content (the reconciler adds generation and transition time). */
export interface ScalingCondition {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface ScalingOutcome {
  /** Undefined when the ModelDeployment has no autoscaling or mode none. */
  condition?: ScalingCondition;
  autoscaler?: AutoscalerStatus;
}

/** The cluster calls behind the HPA and ScaledObject, each kind addressed the same way. */
export interface ScalerClient {
  get(kind: ScalerKind, namespace: string, name: string): Promise<KubernetesObject | undefined>;
  apply(obj: KubernetesObject): Promise<void>;
  remove(kind: ScalerKind, namespace: string, name: string): Promise<void>;
}

export type ScalerKind = 'HorizontalPodAutoscaler' | 'ScaledObject';
const KIND_OF_MODE: Partial<Record<Mode, ScalerKind>> = { hpa: 'HorizontalPodAutoscaler', keda: 'ScaledObject' };
const GROUP_VERSION: Record<ScalerKind, string> = { HorizontalPodAutoscaler: 'autoscaling/v2', ScaledObject: 'keda.sh/v1alpha1' };


/** What the built-in autoscaler is said to do before its first decision; afterwards the loop writes its own. */
function builtinStatus(md: ModelDeployment): AutoscalerStatus {
  const previous = md.status?.autoscaler;
  if (previous?.mode === 'builtin') return previous;
  return { mode: 'builtin', reason: 'waiting for the first load measurements' };
}

function describeScaler(md: ModelDeployment, kind: ScalerKind): string {
  const a = md.spec.autoscaling!;
  const where = `${kind} ${md.metadata.namespace}/${md.metadata.name}`;
  if (a.metric === 'cpu') return `${where} scales on CPU utilization, target ${a.targetCPUUtilizationPercent}%`;
  const sequences = a.metric === 'sequences';
  const metric = kind === 'HorizontalPodAutoscaler' ? `the Pods metric ${sequences ? SEQUENCES_METRIC : CONCURRENCY_METRIC}` : `Prometheus ${sequences ? 'sequences' : 'concurrency'}`;
  return `${where} scales on ${metric}, target ${sequences ? a.targetSequences : a.targetConcurrency} per replica`;
}

/** What the built-in autoscaler scales on, for the Autoscaling condition. */
function describeBuiltin(a: NonNullable<ModelDeployment['spec']['autoscaling']>): string {
  const on = a.metric === 'sequences' ? `average sequences (running or waiting), target ${a.targetSequences}` : `average concurrency, target ${a.targetConcurrency}`;
  return `the operator scales on ${on} per replica, within [${a.minReplicas}, ${a.maxReplicas}]`;
}

/** What the operator's caches offer the scalers. */
export interface ScalerCache {
  /** An object from the caches, or undefined when they do not hold it (or do not watch its kind). */
  cached(apiVersion: string, kind: string, namespace: string, name: string): KubernetesObject | undefined;
  /** Told that an API is served, so the caches may start watching it. */
  served(groupVersion: string): void;
}

const NO_CACHE: ScalerCache = { cached: () => undefined, served: () => {} };

export class ExternalScalers {
  constructor(
    private readonly client: ScalerClient,
    private readonly apis: ApiAvailability,
    private readonly config: OperatorConfig,
    private readonly cache: ScalerCache = NO_CACHE,
  ) {}

  static forCluster(kc: KubeConfig, apis: ApiAvailability, config: OperatorConfig, client: ApiClientOptions, cache?: ScalerCache): ExternalScalers {
    return new ExternalScalers(scalerClient(kc, client), apis, config, cache);
  }

  /**
   * The live object: from the caches when they hold it (they hold only objects carrying the operator's label),
   * else read from the API, since the name may be taken by an object the caches do not see.
   */
  private async live(kind: ScalerKind, namespace: string, name: string): Promise<KubernetesObject | undefined> {
    return this.cache.cached(GROUP_VERSION[kind], kind, namespace, name)
      ?? orAbsent(this.client.get(kind, namespace, name));
  }

  /** Brings the HPA or ScaledObject in line with a validated ModelDeployment (defaults applied). */
  async sync(md: ModelDeployment): Promise<ScalingOutcome> {
    const namespace = md.metadata.namespace!;
    const name = md.metadata.name!;
    const mode: Mode | undefined = md.spec.autoscaling?.mode;
    const wantedKind = mode ? KIND_OF_MODE[mode] : undefined;
    // A mode that no longer wants an object: delete ours, once (status remembers the mode last in effect).
    const previousKind = md.status?.autoscaler ? KIND_OF_MODE[md.status.autoscaler.mode] : undefined;
    if (previousKind && previousKind !== wantedKind) {
      const live = await this.live(previousKind, namespace, name);
      if (isControlledBy(live, md)) await orAbsent(this.client.remove(previousKind, namespace, name));
    }
    if (!mode || mode === 'none') return mode ? { autoscaler: { mode: 'none', reason: 'nothing scales it but spec.replicas' } } : {};
    if (mode === 'builtin') {
      const a = md.spec.autoscaling!;
      const autoscaler = builtinStatus(md);
      if (autoscaler.unscrapedSince) {
        return { condition: { status: 'False', reason: 'NoMetrics', message: `the built-in autoscaler cannot scale: ${autoscaler.reason ?? 'no metrics'}` }, autoscaler };
      }
      return {
        condition: { status: 'True', reason: 'Builtin', message: describeBuiltin(a) },
        autoscaler,
      };
    }
    const kind = wantedKind!;
    const groupVersion = GROUP_VERSION[kind];
    if (!(await this.apis.served(groupVersion))) {
      const what = kind === 'ScaledObject' ? 'KEDA' : 'the HorizontalPodAutoscaler API';
      return {
        condition: { status: 'False', reason: kind === 'ScaledObject' ? 'KEDAUnavailable' : 'HPAUnavailable', message: `mode ${mode} needs ${what}, and the cluster does not serve ${groupVersion}; nothing scales this ModelDeployment` },
        autoscaler: { mode, reason: `${groupVersion} is not served` },
      };
    }
    this.cache.served(groupVersion);
    const desired = appliedScaler(md, this.config)!;
    const live = await this.live(kind, namespace, name);
    if (live && !isControlledBy(live, md)) {
      return {
        condition: { status: 'False', reason: 'ScalerConflict', message: `${kind} ${namespace}/${name} exists and is not owned by this ModelDeployment; delete it or rename one of them` },
        autoscaler: { mode, reason: `${kind} ${namespace}/${name} is someone else's` },
      };
    }
    if (needsApply(desired, live)) await this.client.apply(desired);
    const reason = describeScaler(md, kind);
    return { condition: scalerCondition(kind, live, reason), autoscaler: { mode, reason } };
  }
}

type ObservedCondition = { type: string; status: string; reason?: string; message?: string };

/**
 * The Autoscaling condition as the scaler itself reports it: an HPA scales only while AbleToScale and ScalingActive
 * are True (without a metrics adapter ScalingActive is False and says why), a ScaledObject while Ready is True.
 * Until its controller has looked, Unknown.
 */
export function scalerCondition(kind: ScalerKind, live: KubernetesObject | undefined, describing: string): ScalingCondition {
  const conditions = ((live as { status?: { conditions?: ObservedCondition[] } } | undefined)?.status?.conditions ?? []);
  const find = (type: string) => conditions.find((c) => c.type === type);
  const controller = kind === 'HorizontalPodAutoscaler' ? 'the HorizontalPodAutoscaler controller' : 'KEDA';
  const required = kind === 'HorizontalPodAutoscaler' ? ['AbleToScale', 'ScalingActive'] : ['Ready'];
  for (const type of required) {
    const c = find(type);
    if (!c || c.status === 'Unknown') return { status: 'Unknown', reason: 'Pending', message: `${describing}; ${controller} has not reported ${type} yet` };
    if (c.status !== 'True') return { status: 'False', reason: c.reason || `${type}False`, message: `${kind} ${type} is False: ${c.message || c.reason || 'no reason given'}` };
  }
  return { status: 'True', reason: kind, message: describing };
}

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** client-node calls for the two kinds; `client` gives each its deadline (and the leadership term's signal). */
export function scalerClient(kc: KubeConfig, client: ApiClientOptions): ScalerClient {
  const hpas = makeApiClient(kc, AutoscalingV2Api, client);
  const custom = makeApiClient(kc, CustomObjectsApi, client);
  return {
    async get(kind, namespace, name) {
      if (kind === 'HorizontalPodAutoscaler') return hpas.readNamespacedHorizontalPodAutoscaler({ namespace, name });
      return (await custom.getNamespacedCustomObject({ ...SCALED_OBJECTS, namespace, name })) as KubernetesObject;
    },
    async apply(obj) {
      const namespace = obj.metadata!.namespace!;
      const name = obj.metadata!.name!;
      const req = { namespace, name, body: obj, fieldManager: FIELD_MANAGER, force: true };
      if (obj.kind === 'HorizontalPodAutoscaler') await hpas.patchNamespacedHorizontalPodAutoscaler(req as never, SSA);
      else await custom.patchNamespacedCustomObject({ ...SCALED_OBJECTS, ...req }, SSA);
    },
    async remove(kind, namespace, name) {
      if (kind === 'HorizontalPodAutoscaler') await hpas.deleteNamespacedHorizontalPodAutoscaler({ namespace, name });
      else await custom.deleteNamespacedCustomObject({ ...SCALED_OBJECTS, namespace, name });
    },
  };
}

/** The status with the Autoscaling condition and status.autoscaler of the outcome (pure). */
export function withScaling(status: ModelDeploymentStatus, outcome: ScalingOutcome, generation: number, previous: ModelDeploymentStatus | undefined, now: Date): ModelDeploymentStatus {
  const out: ModelDeploymentStatus = { ...status };
  if (outcome.condition) {
    const c = outcome.condition;
    const prev = previous?.conditions as V1Condition[] | undefined;
    out.conditions = [...(status.conditions ?? []), condition(AUTOSCALING_CONDITION, c.status, c.reason, c.message, generation, prev, now)] as ModelDeploymentStatus['conditions'];
  }
  if (outcome.autoscaler) out.autoscaler = outcome.autoscaler;
  return out;
}
