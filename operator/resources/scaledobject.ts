// mode keda: a KEDA ScaledObject with a Prometheus trigger on the runtime's concurrency counter, targeting the
// ModelDeployment's scale subresource. KEDA then owns an HPA of its own for the object.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { runtimeImageFor } from './deployment.js';
import { labelsFor } from './labels.js';
import { childMetadata } from './owner.js';
import { scaleDownStabilizationSeconds, scaleTargetRef } from './hpa.js';

export const KEDA_API_VERSION = 'keda.sh/v1alpha1';
/** CustomObjectsApi coordinates of ScaledObjects. */
export const SCALED_OBJECTS = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' } as const;

export interface ScaledObject extends KubernetesObject {
  apiVersion: typeof KEDA_API_VERSION;
  kind: 'ScaledObject';
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicaCount: number;
    maxReplicaCount: number;
    pollingInterval: number;
    advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: number } } } };
    triggers: Array<{ type: 'prometheus'; name: string; metadata: Record<string, string> }>;
  };
}

export function wantsScaledObject(md: ModelDeployment): boolean {
  return md.spec.autoscaling?.mode === 'keda';
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/**
 * The PromQL for one ModelDeployment's total concurrency. Pods of its Deployment are named
 * <name>-<pod-template-hash>-<suffix>, neither part holding a dash, so the anchored pattern matches its pods only.
 */
export function concurrencyQuery(md: ModelDeployment): string {
  return `sum(rate(modelplane_request_concurrency_seconds_total{${podMatchers(md)}}[1m]))`;
}

/** The PromQL for one ModelDeployment's sequences: those running plus those waiting for room, over its pods. */
export function sequencesQuery(md: ModelDeployment): string {
  const m = podMatchers(md);
  return `sum(modelplane_generation_running_sequences{${m}}) + sum(modelplane_generation_waiting_sequences{${m}})`;
}

/** The label matchers that select one ModelDeployment's runtime pods. */
function podMatchers(md: ModelDeployment): string {
  const ns = escapeLabel(md.metadata.namespace ?? 'default');
  const pods = escapeLabel(`${md.metadata.name!.replace(/[.]/g, '\\.')}-[a-z0-9]+-[a-z0-9]+`);
  return `namespace="${ns}",pod=~"${pods}"`;
}

export function buildScaledObject(md: ModelDeployment, cfg: ResolvedConfig): ScaledObject {
  const a = md.spec.autoscaling!;
  return {
    apiVersion: KEDA_API_VERSION,
    kind: 'ScaledObject',
    metadata: childMetadata(md, labelsFor(md, runtimeImageFor(md.spec, cfg))),
    spec: {
      scaleTargetRef: scaleTargetRef(md),
      minReplicaCount: a.minReplicas,
      maxReplicaCount: a.maxReplicas,
      pollingInterval: 15,
      advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: scaleDownStabilizationSeconds(md) } } } },
      triggers: [
        a.metric === 'sequences'
          ? { type: 'prometheus', name: 'sequences', metadata: { serverAddress: cfg.prometheusAddress, query: sequencesQuery(md), threshold: String(a.targetSequences) } }
          // threshold is per replica: KEDA divides the query's value by it (an AverageValue target).
          : { type: 'prometheus', name: 'concurrency', metadata: { serverAddress: cfg.prometheusAddress, query: concurrencyQuery(md), threshold: String(a.targetConcurrency) } },
      ],
    },
  };
}
