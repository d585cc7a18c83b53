// Server-side apply of a ModelDeployment's children with one field manager, and the decision whether an apply
// is needed at all: a converged cluster should see no writes when the operator resyncs.
import {
  AppsV1Api, CoreV1Api, PatchStrategy, PolicyV1Api, setHeaderOptions,
  type KubeConfig, type KubernetesObject,
} from '@kubernetes/client-node';
import { APPLIED_HASH_ANNOTATION } from '../resources/applied-hash.js';
import { makeApiClient, orAbsent, type ApiClientOptions } from './api-client.js';

export { APPLIED_HASH_ANNOTATION, withAppliedHash } from '../resources/applied-hash.js';
export const FIELD_MANAGER = 'modelplane';

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export function childKey(obj: KubernetesObject): string {
  return `${obj.apiVersion}/${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
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
  /** The object as the API server has it now, or undefined when there is none. */
  get(obj: KubernetesObject): Promise<KubernetesObject | undefined>;
  apply(obj: KubernetesObject): Promise<KubernetesObject>;
  remove(obj: KubernetesObject): Promise<void>;
}

/** The typed client-node calls behind server-side apply for each kind a ModelDeployment owns, each with a deadline. */
export function childWriter(kc: KubeConfig, client: ApiClientOptions = {}): ChildWriter {
  const apps = makeApiClient(kc, AppsV1Api, client);
  const core = makeApiClient(kc, CoreV1Api, client);
  const policy = makeApiClient(kc, PolicyV1Api, client);
  return {
    async get(obj) {
      const name = obj.metadata!.name!;
      const namespace = obj.metadata!.namespace!;
      switch (`${obj.apiVersion}/${obj.kind}`) {
        case 'apps/v1/Deployment':
          return orAbsent(apps.readNamespacedDeployment({ name, namespace }));
        case 'v1/Service':
          return orAbsent(core.readNamespacedService({ name, namespace }));
        case 'policy/v1/PodDisruptionBudget':
          return orAbsent(policy.readNamespacedPodDisruptionBudget({ name, namespace }));
        default:
          throw new Error(`no read for ${obj.apiVersion} ${obj.kind}`);
      }
    },
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
