// Children point at their ModelDeployment as controller, so the garbage collector deletes them with it and
// watches on children map back to the owner's key.
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND, type ModelDeployment } from '../api/schema.js';

/** The controller ownerReference, or none when the object has no uid yet (rendered from a file, not read from a cluster). */
export function ownerReferences(md: ModelDeployment): V1OwnerReference[] | undefined {
  if (!md.metadata.uid) return undefined;
  return [{ apiVersion: API_VERSION, kind: KIND, name: md.metadata.name!, uid: md.metadata.uid, controller: true, blockOwnerDeletion: true }];
}

/** Whether this ModelDeployment is the object's controller (the only ownership the operator acts on). */
export function isControlledBy(obj: KubernetesObject | undefined, md: ModelDeployment): boolean {
  return !!obj?.metadata?.ownerReferences?.some((o) => o.uid === md.metadata.uid && o.controller);
}

/** Common metadata of every child: name, namespace, labels and the owner. */
export function childMetadata(md: ModelDeployment, labels: Record<string, string>, name = md.metadata.name!) {
  const owners = ownerReferences(md);
  return {
    name,
    namespace: md.metadata.namespace ?? 'default',
    labels,
    ...(owners ? { ownerReferences: owners } : {}),
  };
}
