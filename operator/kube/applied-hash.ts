// The hash of a child's own configuration, carried as an annotation: a field dropped from the desired object
// changes it, so the apply that removes the field is not skipped. The ownerReference is left out of the hash:
// it names the ModelDeployment's uid, which only the cluster knows, so `modelplane render` and the controller
// compute the same annotation for the same spec and configuration.
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';

export const APPLIED_HASH_ANNOTATION = 'serving.modelplane.io/applied-config-hash';

function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : val);
}

/** The desired object with the hash of its own configuration as an annotation. */
export function withAppliedHash<T extends KubernetesObject>(obj: T): T {
  const { ownerReferences: _owners, ...metadata } = obj.metadata ?? {};
  const hash = createHash('sha256').update(canonicalJson({ ...obj, metadata })).digest('hex').slice(0, 16);
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash } } };
}
