// Everything one ModelDeployment becomes. The controller applies exactly this list and `modelplane render`
// prints it, so what a reviewer sees is what the cluster gets.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/schema.js';
import { withDefaults } from '../api/validate.js';
import { withAppliedHash } from '../kube/applied-hash.js';
import { resolveConfig, type OperatorConfig } from './config.js';
import { buildDeployment } from './deployment.js';
import { buildPodDisruptionBudget, wantsPodDisruptionBudget } from './pdb.js';
import { buildService } from './service.js';
import { buildHorizontalPodAutoscaler, wantsHorizontalPodAutoscaler } from './hpa.js';
import { buildScaledObject, wantsScaledObject } from './scaledobject.js';

export type { OperatorConfig } from './config.js';
export { selectorFor, selectorLabels, labelsFor } from './labels.js';
export { serviceUrl } from './service.js';
export { ownerReferences } from './owner.js';

/**
 * The children of a ModelDeployment, each with apiVersion, kind, namespace, labels and (when the object has a
 * uid) its controller ownerReference, ready for server-side apply. Defaults are applied to a copy of the spec.
 */
export function desiredChildren(md: ModelDeployment, cfg: OperatorConfig): KubernetesObject[] {
  const full: ModelDeployment = { ...md, spec: withDefaults(md.spec) };
  const resolved = resolveConfig(cfg);
  const out: KubernetesObject[] = [buildDeployment(full, resolved), buildService(full, resolved)];
  if (wantsPodDisruptionBudget(full)) out.push(buildPodDisruptionBudget(full, resolved));
  // Builders share sub-objects (labels, security contexts); callers get trees with nothing shared.
  return out.map((o) => JSON.parse(JSON.stringify(o)) as KubernetesObject);
}

/**
 * Exactly what the controller applies for a ModelDeployment: the children, each carrying the hash of its own
 * configuration. `modelplane render` prints this list.
 */
export function appliedChildren(md: ModelDeployment, cfg: OperatorConfig): KubernetesObject[] {
  return desiredChildren(md, cfg).map(withAppliedHash);
}

/**
 * The HorizontalPodAutoscaler (mode hpa) or KEDA ScaledObject (mode keda) that scales the ModelDeployment, if any.
 * Kept apart from desiredChildren: each is applied only where the cluster serves its API.
 */
export function desiredScaler(md: ModelDeployment, cfg: OperatorConfig): KubernetesObject | undefined {
  const full: ModelDeployment = { ...md, spec: withDefaults(md.spec) };
  const resolved = resolveConfig(cfg);
  const out = wantsHorizontalPodAutoscaler(full) ? buildHorizontalPodAutoscaler(full, resolved) : wantsScaledObject(full) ? buildScaledObject(full, resolved) : undefined;
  return out && (JSON.parse(JSON.stringify(out)) as KubernetesObject);
}

/** The scaler as the controller applies it (with the hash of its configuration), if spec.autoscaling.mode wants one. */
export function appliedScaler(md: ModelDeployment, cfg: OperatorConfig): KubernetesObject | undefined {
  const scaler = desiredScaler(md, cfg);
  return scaler && withAppliedHash(scaler);
}
