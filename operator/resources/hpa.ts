// mode hpa: an autoscaling/v2 HorizontalPodAutoscaler whose target is the ModelDeployment itself (its scale
// subresource), so the HPA and the operator never both own the Deployment's replicas.
import type { V2HorizontalPodAutoscaler, V2MetricSpec } from '@kubernetes/client-node';
import { API_VERSION, KIND, type ModelDeployment } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { runtimeImageFor } from './deployment.js';
import { labelsFor } from './labels.js';
import { childMetadata } from './owner.js';

/**
 * The per-pod metric a metrics adapter must serve for mode hpa: rate(modelplane_request_concurrency_seconds_total),
 * the average in-flight plus queued requests of each pod (docs/autoscaling.md, shows a prometheus-adapter rule).
 */
export const CONCURRENCY_METRIC = 'modelplane_request_concurrency';
/**
 * The per-pod metric for metric sequences: modelplane_generation_running_sequences plus
 * modelplane_generation_waiting_sequences of each pod (docs/autoscaling.md shows the prometheus-adapter rule).
 */
export const SEQUENCES_METRIC = 'modelplane_generation_sequences';

export type HorizontalPodAutoscaler = V2HorizontalPodAutoscaler & { apiVersion: 'autoscaling/v2'; kind: 'HorizontalPodAutoscaler' };

export function wantsHorizontalPodAutoscaler(md: ModelDeployment): boolean {
  return md.spec.autoscaling?.mode === 'hpa';
}

/** What an HPA or a ScaledObject scales: the ModelDeployment's scale subresource, never its Deployment. */
export function scaleTargetRef(md: ModelDeployment): { apiVersion: string; kind: string; name: string } {
  return { apiVersion: API_VERSION, kind: KIND, name: md.metadata.name! };
}

/** The HPA scale-down stabilization window standing for scaleDownDelaySeconds (the HPA's maximum is an hour). */
export function scaleDownStabilizationSeconds(md: ModelDeployment): number {
  return Math.min(md.spec.autoscaling!.scaleDownDelaySeconds, 3600);
}

export function buildHorizontalPodAutoscaler(md: ModelDeployment, cfg: ResolvedConfig): HorizontalPodAutoscaler {
  const a = md.spec.autoscaling!;
  const pods = (name: string, target: number): V2MetricSpec => ({ type: 'Pods', pods: { metric: { name }, target: { type: 'AverageValue', averageValue: String(target) as never } } });
  const metric: V2MetricSpec = a.metric === 'cpu'
    ? { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercent } } }
    : a.metric === 'sequences' ? pods(SEQUENCES_METRIC, a.targetSequences) : pods(CONCURRENCY_METRIC, a.targetConcurrency);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: childMetadata(md, labelsFor(md, runtimeImageFor(md.spec, cfg))),
    spec: {
      scaleTargetRef: scaleTargetRef(md),
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [metric],
      behavior: { scaleDown: { stabilizationWindowSeconds: scaleDownStabilizationSeconds(md) } },
    },
  };
}
