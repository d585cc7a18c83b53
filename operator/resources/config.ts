// What the operator's configuration (chart values, flags) decides for every ModelDeployment it builds.
import type { V1ResourceRequirements, V1Toleration } from '@kubernetes/client-node';

export interface OperatorConfig {
  /** Runtime image used when spec.runtime.image is not set. */
  runtimeImage: string;
  /** Runtime image (a CUDA build) for ModelDeployments with spec.gpu and no spec.runtime.image; default runtimeImage. */
  runtimeGpuImage?: string;
  /** Runtime container resources for ModelDeployments that set no spec.resources. */
  defaultResources?: V1ResourceRequirements;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  imagePullSecrets?: string[];
  /** Where pvc:// claims are mounted in the runtime pod; default /mnt/pvc. */
  pvcRoot?: string;
  /** Log level passed to `modelplane fetch` and `modelplane serve`; default info. */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** Non-root user and group the runtime runs as; default 65532. */
  runAsUser?: number;
  /** Seconds endpoints get to drop a terminating pod before it receives SIGTERM; default 5. */
  preStopSleepSeconds?: number;
  /** Pod terminationGracePeriodSeconds: drain time after SIGTERM plus the preStop sleep; default 60. */
  terminationGracePeriodSeconds?: number;
  /** How long a pod may take to download, load and warm up its model before it is restarted; default 1800. */
  startupTimeoutSeconds?: number;
  /** Tolerations added to every pod that requests a GPU, besides the nvidia.com/gpu taint's (e.g. a GPU node pool's own taint). */
  gpuTolerations?: V1Toleration[];
  /** Prometheus that KEDA ScaledObjects (spec.autoscaling.mode keda) query; default http://prometheus-operated.monitoring.svc:9090. */
  prometheusAddress?: string;
}

export const DEFAULT_PROMETHEUS_ADDRESS = 'http://prometheus-operated.monitoring.svc:9090';

export type ResolvedConfig = Required<Omit<OperatorConfig, 'imagePullSecrets' | 'defaultResources'>> & {
  imagePullSecrets: string[];
  defaultResources?: V1ResourceRequirements;
};

export function resolveConfig(cfg: OperatorConfig): ResolvedConfig {
  return {
    runtimeImage: cfg.runtimeImage,
    runtimeGpuImage: cfg.runtimeGpuImage || cfg.runtimeImage,
    ...(cfg.defaultResources ? { defaultResources: cfg.defaultResources } : {}),
    imagePullPolicy: cfg.imagePullPolicy ?? 'IfNotPresent',
    imagePullSecrets: cfg.imagePullSecrets ?? [],
    pvcRoot: (cfg.pvcRoot ?? '/mnt/pvc').replace(/\/+$/, ''),
    logLevel: cfg.logLevel ?? 'info',
    runAsUser: cfg.runAsUser ?? 65532,
    preStopSleepSeconds: cfg.preStopSleepSeconds ?? 5,
    terminationGracePeriodSeconds: cfg.terminationGracePeriodSeconds ?? 60,
    startupTimeoutSeconds: cfg.startupTimeoutSeconds ?? 1800,
    gpuTolerations: cfg.gpuTolerations ?? [],
    prometheusAddress: cfg.prometheusAddress || DEFAULT_PROMETHEUS_ADDRESS,
  };
}
