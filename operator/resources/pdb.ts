// A PodDisruptionBudget once there is more than one replica: node drains and cluster autoscaler scale-downs
// then take runtime pods one at a time. With one replica a budget would only block drains forever.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { runtimeImageFor } from './deployment.js';
import { labelsFor, selectorLabels } from './labels.js';
import { childMetadata } from './owner.js';

export function wantsPodDisruptionBudget(md: ModelDeployment): boolean {
  return md.spec.replicas > 1;
}

export function buildPodDisruptionBudget(md: ModelDeployment, cfg: ResolvedConfig): V1PodDisruptionBudget & { apiVersion: 'policy/v1'; kind: 'PodDisruptionBudget' } {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(md, labelsFor(md, runtimeImageFor(md.spec, cfg))),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(md) },
      // A crash-looping pod protects nothing; it must not block a node drain.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
