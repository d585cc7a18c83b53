// How a ModelDeployment's children are written: created (a POST, whose 409 says the name is taken) the first time,
// then server-side applied with one field manager; and the decision whether an apply is needed at all: a converged
// cluster should see no writes when the operator resyncs.
import {
  AppsV1Api, CoreV1Api, PatchStrategy, PolicyV1Api, setHeaderOptions,
  type KubeConfig, type KubernetesObject, type V1ManagedFieldsEntry,
} from '@kubernetes/client-node';
import { APPLIED_HASH_ANNOTATION } from './applied-hash.js';
import { makeApiClient, orAbsent, type ApiClientOptions } from './api-client.js';
import { quantityValue } from '../../common/quantity.js';

export { APPLIED_HASH_ANNOTATION, withAppliedHash } from './applied-hash.js';
export const FIELD_MANAGER = 'modelplane';

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const JSON_PATCH = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

export function childKey(obj: KubernetesObject): string {
  return `${obj.apiVersion}/${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
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
  /** Creates the object; an ApiException with code 409 when the name is taken. */
  create(obj: KubernetesObject): Promise<KubernetesObject>;
  /**
   * Server-side applies the object, first taking over what this manager's create owns (read from `live` when it
   * carries managedFields, else from the API server: the caches drop them).
   */
  apply(obj: KubernetesObject, live?: KubernetesObject): Promise<KubernetesObject>;
  remove(obj: KubernetesObject): Promise<void>;
}

/** Merges two FieldsV1 trees (each a set of field paths as nested keys). */
function unionFields(a: unknown, b: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { ...((a ?? {}) as Record<string, unknown>) };
  for (const [k, v] of Object.entries((b ?? {}) as Record<string, unknown>)) out[k] = k in out ? unionFields(out[k], v) : v;
  return out;
}

/** One JSON patch (RFC 6902) operation. */
export interface JsonPatchOp {
  op: 'test' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/**
 * A JSON patch that moves what `manager` owns through an Update (its create) into an Apply entry, or undefined when
 * it owns nothing that way. Server-side apply only removes fields the applier owns as an applier: without this, a
 * field dropped from the desired object after the create would stay for ever (kubectl's csaupgrade does the same
 * for client-side-applied objects). The patch tests the entries it changes by manager and operation, not by the
 * object's resourceVersion, which the Deployment controller's status writes keep moving.
 */
export function ownershipForApply(managedFields: V1ManagedFieldsEntry[] | undefined, manager: string): JsonPatchOp[] | undefined {
  const entries = managedFields ?? [];
  const mine = (e: V1ManagedFieldsEntry, operation: string) => e.manager === manager && e.operation === operation && !e.subresource;
  const updated = entries.findIndex((e) => mine(e, 'Update'));
  if (updated < 0) return undefined;
  const applied = entries.findIndex((e) => mine(e, 'Apply'));
  const at = (i: number) => `/metadata/managedFields/${i}`;
  const same = (i: number, operation: string): JsonPatchOp[] => [
    { op: 'test', path: `${at(i)}/manager`, value: manager },
    { op: 'test', path: `${at(i)}/operation`, value: operation },
  ];
  const fields = unionFields(applied >= 0 ? entries[applied].fieldsV1 : undefined, entries[updated].fieldsV1);
  return [
    ...same(updated, 'Update'),
    ...(applied >= 0 ? same(applied, 'Apply') : []),
    { op: 'replace', path: `${at(updated)}/operation`, value: 'Apply' },
    { op: 'replace', path: `${at(updated)}/fieldsV1`, value: fields },
    ...(applied >= 0 ? [{ op: 'remove' as const, path: at(applied) }] : []),
  ];
}

/** The typed client-node calls behind each kind a ModelDeployment owns: read, create, apply, remove, each with a deadline. */
export function childWriter(kc: KubeConfig, client: ApiClientOptions = {}): ChildWriter {
  const apps = makeApiClient(kc, AppsV1Api, client);
  const core = makeApiClient(kc, CoreV1Api, client);
  const policy = makeApiClient(kc, PolicyV1Api, client);
  type Calls = {
    read(name: string, namespace: string): Promise<KubernetesObject>;
    create(namespace: string, body: KubernetesObject): Promise<KubernetesObject>;
    patch(name: string, namespace: string, body: unknown, strategy: typeof SSA, force?: boolean): Promise<KubernetesObject>;
    /** Only what the operator ever deletes itself (a PodDisruptionBudget no longer wanted); the rest goes with its owner. */
    remove?(name: string, namespace: string): Promise<unknown>;
  };
  const fieldManager = FIELD_MANAGER;
  const kinds: Record<string, Calls> = {
    'apps/v1/Deployment': {
      read: (name, namespace) => apps.readNamespacedDeployment({ name, namespace }),
      create: (namespace, body) => apps.createNamespacedDeployment({ namespace, body: body as never, fieldManager }),
      patch: (name, namespace, body, strategy, force) => apps.patchNamespacedDeployment({ name, namespace, body, fieldManager, force }, strategy),
    },
    'v1/Service': {
      read: (name, namespace) => core.readNamespacedService({ name, namespace }),
      create: (namespace, body) => core.createNamespacedService({ namespace, body: body as never, fieldManager }),
      patch: (name, namespace, body, strategy, force) => core.patchNamespacedService({ name, namespace, body, fieldManager, force }, strategy),
    },
    'policy/v1/PodDisruptionBudget': {
      read: (name, namespace) => policy.readNamespacedPodDisruptionBudget({ name, namespace }),
      create: (namespace, body) => policy.createNamespacedPodDisruptionBudget({ namespace, body: body as never, fieldManager }),
      patch: (name, namespace, body, strategy, force) => policy.patchNamespacedPodDisruptionBudget({ name, namespace, body, fieldManager, force }, strategy),
      remove: (name, namespace) => policy.deleteNamespacedPodDisruptionBudget({ name, namespace }),
    },
  };
  const callsFor = (obj: KubernetesObject): Calls => {
    const calls = kinds[`${obj.apiVersion}/${obj.kind}`];
    if (!calls) throw new Error(`no writer for ${obj.apiVersion} ${obj.kind}`);
    return calls;
  };
  const at = (obj: KubernetesObject) => ({ name: obj.metadata!.name!, namespace: obj.metadata!.namespace! });
  return {
    get: (obj) => orAbsent(callsFor(obj).read(at(obj).name, at(obj).namespace)),
    create: (obj) => callsFor(obj).create(at(obj).namespace, obj),
    async apply(obj, live) {
      const { name, namespace } = at(obj);
      const calls = callsFor(obj);
      const current = live?.metadata?.managedFields ? live : await orAbsent(calls.read(name, namespace));
      const takeOver = ownershipForApply(current?.metadata?.managedFields, FIELD_MANAGER);
      if (takeOver) await calls.patch(name, namespace, takeOver, JSON_PATCH);
      return calls.patch(name, namespace, obj, SSA, true);
    },
    async remove(obj) {
      const remove = callsFor(obj).remove;
      if (!remove) throw new Error(`the operator does not delete ${obj.kind} objects`);
      await remove(at(obj).name, at(obj).namespace);
    },
  };
}
