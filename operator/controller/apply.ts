// Server-side apply of a ModelDeployment's children with one field manager, and the decision whether an apply
// is needed at all: a converged cluster should see no writes when the operator resyncs.
import { createHash } from 'node:crypto';
import {
  AppsV1Api, CoreV1Api, PatchStrategy, PolicyV1Api, setHeaderOptions,
  type KubeConfig, type KubernetesObject,
} from '@kubernetes/client-node';

export const FIELD_MANAGER = 'modelplane';
/** Hash of the configuration last applied: a field dropped from the desired object changes it, so the apply that removes the field is not skipped. */
export const APPLIED_HASH_ANNOTATION = 'serving.modelplane.io/applied-config-hash';

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export function childKey(obj: KubernetesObject): string {
  return `${obj.apiVersion}/${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : val);
}

/** The desired object with the hash of its own configuration as an annotation. */
export function withAppliedHash<T extends KubernetesObject>(obj: T): T {
  const hash = createHash('sha256').update(canonicalJson(obj)).digest('hex').slice(0, 16);
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash } } };
}

const QUANTITY = /^([+-]?\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SUFFIX: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A resource quantity's value, so `1000m` and `1` (as an API server canonicalizes them) compare equal. */
function quantityValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = QUANTITY.exec(v);
  return m ? Number(m[1]) * (m[2] ? SUFFIX[m[2]] : 1) : undefined;
}

/** True when every field of `desired` has the same value in `live` (which may hold more: defaults, status). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') {
    if (desired === live) return true;
    const a = quantityValue(desired);
    const b = quantityValue(live);
    return a !== undefined && b !== undefined && typeof desired === 'string' && Math.abs(a - b) <= Math.abs(a) * 1e-12;
  }
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, (live as Record<string, unknown>)[k]));
}

/** Whether the desired child (carrying its applied hash) must be applied over what the cache holds. */
export function needsApply(desired: KubernetesObject, live: KubernetesObject | undefined): boolean {
  if (!live) return true;
  const want = desired.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
  if (want === undefined || live.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] !== want) return true;
  // Same configuration applied before; still re-apply when someone changed one of our fields since.
  // apiVersion and kind are left out: list responses carry them on the list, not on each item.
  const { apiVersion: _v, kind: _k, ...fields } = desired;
  return !isSubset(fields, live);
}

export interface ChildWriter {
  apply(obj: KubernetesObject): Promise<KubernetesObject>;
  remove(obj: KubernetesObject): Promise<void>;
}

/** The typed client-node calls behind server-side apply for each kind a ModelDeployment owns. */
export function childWriter(kc: KubeConfig): ChildWriter {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  return {
    async apply(obj) {
      const name = obj.metadata!.name!;
      const namespace = obj.metadata!.namespace!;
      const req = { name, namespace, body: obj, fieldManager: FIELD_MANAGER, force: true };
      switch (`${obj.apiVersion}/${obj.kind}`) {
        case 'apps/v1/Deployment':
          return apps.patchNamespacedDeployment(req, SSA);
        case 'v1/Service':
          return core.patchNamespacedService(req, SSA);
        case 'policy/v1/PodDisruptionBudget':
          return policy.patchNamespacedPodDisruptionBudget(req, SSA);
        default:
          throw new Error(`no apply for ${obj.apiVersion} ${obj.kind}`);
      }
    },
    async remove(obj) {
      const name = obj.metadata!.name!;
      const namespace = obj.metadata!.namespace!;
      switch (`${obj.apiVersion}/${obj.kind}`) {
        case 'policy/v1/PodDisruptionBudget':
          await policy.deleteNamespacedPodDisruptionBudget({ name, namespace });
          return;
        default:
          throw new Error(`no delete for ${obj.apiVersion} ${obj.kind}`);
      }
    },
  };
}
