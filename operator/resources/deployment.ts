// The runtime Deployment of one ModelDeployment: what its pods run, where they may be scheduled, how they
// are probed, drained and confined. Pure: the same spec and config always give the same object.
import type { V1Container, V1Deployment, V1ResourceRequirements, V1SecurityContext, V1Toleration, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { DEFAULT_GPU_RESOURCE, type ModelDeployment, type ModelDeploymentSpec } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { labelsFor, selectorLabels } from './labels.js';
import { CREDENTIALS_DIR, MODELS_DIR, planModelSource, type ModelSourcePlan } from './model-source.js';
import { childMetadata } from './owner.js';
import { DEFAULT_DRAIN_SECONDS } from '../../runtime/config.js';

export const HTTP_PORT = 8080;
export const RUNTIME_CONTAINER = 'runtime';
export const FETCH_CONTAINER = 'fetch';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';

const READY_PATH = '/v2/health/ready';
const LIVE_PATH = '/v2/health/live';
const STARTUP_PERIOD_SECONDS = 5;

/** Whole CPUs in a quantity, rounded up (`1500m` -> 2, `2` -> 2); undefined when absent or unparseable. */
export function cpuCores(quantity: string | number | undefined): number | undefined {
  if (quantity === undefined) return undefined;
  if (typeof quantity === 'number') return Math.max(1, Math.ceil(quantity));
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(quantity.trim());
  if (!m) return undefined;
  const cores = m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
  return Math.max(1, Math.ceil(cores));
}

/** Execution providers in order; by default the GPU ones first when the pod has a GPU. */
export function executionProviders(spec: ModelDeploymentSpec): string[] {
  return spec.runtime.executionProviders ?? (spec.gpu ? ['cuda', 'cpu'] : ['cpu']);
}

/** After the preStop sleep and the runtime's drain window (--drain-seconds), in-flight work must end before SIGKILL. */
export function drainTimeoutSeconds(cfg: ResolvedConfig): number {
  return Math.max(1, cfg.terminationGracePeriodSeconds - cfg.preStopSleepSeconds - DEFAULT_DRAIN_SECONDS - 5);
}

/** `modelplane serve` arguments rendered from the spec. */
export function serveArgs(md: ModelDeployment, plan: ModelSourcePlan, cfg: ResolvedConfig): string[] {
  const spec = md.spec;
  const rt = spec.runtime;
  const base = baseResources(spec, cfg);
  const threads = rt.intraOpThreads || cpuCores(base?.limits?.cpu ?? base?.requests?.cpu) || 0;
  const args = [
    'serve',
    '--model', plan.modelPath,
    '--name', spec.model.servedName ?? md.metadata.name!,
    '--http-port', String(HTTP_PORT),
    '--execution-providers', executionProviders(spec).join(','),
    '--graph-optimization-level', rt.graphOptimizationLevel,
    '--intra-op-threads', String(threads),
    '--max-queue-size', String(rt.maxQueueSize),
    '--gpu-mem-limit-bytes', String(rt.gpuMemoryLimitBytes),
    // SIGTERM arrives after the preStop sleep; the drain must end before the kubelet's SIGKILL.
    '--drain-timeout-seconds', String(drainTimeoutSeconds(cfg)),
  ];
  if (rt.batching && rt.batching.maxBatchSize > 1) {
    args.push('--max-batch-size', String(rt.batching.maxBatchSize), '--max-queue-delay-us', String(rt.batching.maxQueueDelayMicroseconds ?? 1000));
  }
  args.push('--log-level', cfg.logLevel);
  return args;
}

/** `modelplane fetch` arguments: download into /models, or verify an in-place model's sha256. */
export function fetchArgs(md: ModelDeployment, cfg: ResolvedConfig): string[] {
  const m = md.spec.model;
  const args = ['fetch', '--uri', m.uri, '--dest', MODELS_DIR];
  if (m.sha256) args.push('--sha256', m.sha256);
  if (m.credentialsSecret && /^(https?|s3):\/\//.test(m.uri)) args.push('--credentials-dir', CREDENTIALS_DIR);
  args.push('--log-level', cfg.logLevel);
  return args;
}

/** The restricted Pod Security profile, for every container including init containers. */
export function restrictedSecurityContext(cfg: ResolvedConfig): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: cfg.runAsUser,
    runAsGroup: cfg.runAsUser,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The image of both containers: the spec's, else the operator's GPU or CPU build. */
export function runtimeImageFor(spec: ModelDeploymentSpec, cfg: ResolvedConfig): string {
  return spec.runtime.image ?? (spec.gpu ? cfg.runtimeGpuImage : cfg.runtimeImage);
}

/** The spec's resources, else the operator's default. */
function baseResources(spec: ModelDeploymentSpec, cfg: ResolvedConfig): V1ResourceRequirements | undefined {
  return spec.resources ?? cfg.defaultResources;
}

/** Runtime resources: CPU and memory plus the GPU limit (requests, if given for the GPU, equal it). */
export function runtimeResources(spec: ModelDeploymentSpec, cfg: ResolvedConfig): V1ResourceRequirements | undefined {
  const base = baseResources(spec, cfg);
  if (!spec.gpu) return base && Object.keys(base).length ? structuredClone(base) : undefined;
  const resource = spec.gpu.resource ?? DEFAULT_GPU_RESOURCE;
  const count = String(spec.gpu.count ?? 1);
  const out: V1ResourceRequirements = structuredClone(base ?? {});
  out.limits = { ...(out.limits ?? {}), [resource]: count };
  if (out.requests && resource in out.requests) out.requests = { ...out.requests, [resource]: count };
  return out;
}

/** The init container gets the CPU and memory but never the GPU: a download needs none. */
function fetchResources(spec: ModelDeploymentSpec, cfg: ResolvedConfig): V1ResourceRequirements | undefined {
  const strip = (m?: Record<string, string>) => (m ? Object.fromEntries(Object.entries(m).filter(([k]) => k === 'cpu' || k === 'memory')) : undefined);
  const base = baseResources(spec, cfg);
  const limits = strip(base?.limits);
  const requests = strip(base?.requests);
  const out: V1ResourceRequirements = {};
  if (limits && Object.keys(limits).length) out.limits = limits;
  if (requests && Object.keys(requests).length) out.requests = requests;
  return Object.keys(out).length ? out : undefined;
}

/** The GPU's NoSchedule toleration, then the user's, without duplicates. */
export function tolerations(spec: ModelDeploymentSpec): V1Toleration[] | undefined {
  const out: V1Toleration[] = [];
  if (spec.gpu) out.push({ key: spec.gpu.resource ?? DEFAULT_GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' });
  for (const t of spec.scheduling?.tolerations ?? []) {
    if (!out.some((o) => JSON.stringify(o) === JSON.stringify(t))) out.push(t);
  }
  return out.length ? out : undefined;
}

export function nodeSelector(spec: ModelDeploymentSpec): Record<string, string> | undefined {
  const out: Record<string, string> = { ...(spec.scheduling?.nodeSelector ?? {}) };
  if (spec.gpu?.product) out[GPU_PRODUCT_LABEL] = spec.gpu.product;
  return Object.keys(out).length ? out : undefined;
}

export function buildDeployment(md: ModelDeployment, cfg: ResolvedConfig): V1Deployment & { apiVersion: 'apps/v1'; kind: 'Deployment' } {
  const spec = md.spec;
  const image = runtimeImageFor(spec, cfg);
  const labels = labelsFor(md, image);
  const plan = planModelSource(spec.model.uri, cfg.pvcRoot, spec.model.sha256);
  const security = restrictedSecurityContext(cfg);
  const env = [{ name: 'MODELPLANE_PVC_ROOT', value: cfg.pvcRoot }];

  const volumes: V1Volume[] = [{ name: 'tmp', emptyDir: {} }];
  const runtimeMounts: V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  const fetchMounts: V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (plan.kind === 'download') {
    volumes.push({ name: 'models', emptyDir: {} });
    runtimeMounts.push({ name: 'models', mountPath: MODELS_DIR, readOnly: true });
    fetchMounts.push({ name: 'models', mountPath: MODELS_DIR });
    if (spec.model.credentialsSecret) {
      volumes.push({ name: 'credentials', secret: { secretName: spec.model.credentialsSecret, defaultMode: 0o440 } });
      fetchMounts.push({ name: 'credentials', mountPath: CREDENTIALS_DIR, readOnly: true });
    }
  }
  if (plan.claim) {
    volumes.push({ name: 'model', persistentVolumeClaim: { claimName: plan.claim.name, readOnly: true } });
    const mount = { name: 'model', mountPath: plan.claim.mountPath, readOnly: true };
    runtimeMounts.push(mount);
    fetchMounts.push({ ...mount });
  }
  const initContainers: V1Container[] = [];
  if (plan.fetch) {
    const resources = fetchResources(spec, cfg);
    initContainers.push({
      name: FETCH_CONTAINER,
      image,
      imagePullPolicy: cfg.imagePullPolicy,
      command: ['modelplane'],
      args: fetchArgs(md, cfg),
      env: env.map((e) => ({ ...e })),
      ...(resources ? { resources } : {}),
      volumeMounts: fetchMounts,
      securityContext: security,
      terminationMessagePolicy: 'FallbackToLogsOnError',
    });
  }

  const resources = runtimeResources(spec, cfg);
  const probe = (path: string) => ({ httpGet: { path, port: 'http', scheme: 'HTTP' } });
  const runtime: V1Container = {
    name: RUNTIME_CONTAINER,
    image,
    imagePullPolicy: cfg.imagePullPolicy,
    command: ['modelplane'],
    args: serveArgs(md, plan, cfg),
    env,
    ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
    ...(resources ? { resources } : {}),
    // Loading and warming a large model can take many minutes; liveness waits until startup succeeds.
    startupProbe: { ...probe(READY_PATH), periodSeconds: STARTUP_PERIOD_SECONDS, timeoutSeconds: 2, failureThreshold: Math.ceil(cfg.startupTimeoutSeconds / STARTUP_PERIOD_SECONDS) },
    readinessProbe: { ...probe(READY_PATH), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    // Generous: a long inference may delay the answer, and a restart reloads the whole model.
    livenessProbe: { ...probe(LIVE_PATH), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    // Keep serving until the endpoints controller has removed the pod, then SIGTERM starts the drain.
    lifecycle: { preStop: { sleep: { seconds: cfg.preStopSleepSeconds } } },
    volumeMounts: runtimeMounts,
    securityContext: security,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };

  const selector = selectorLabels(md);
  const scheduling = spec.scheduling ?? {};
  const userSpread = scheduling.topologySpreadConstraints;
  const tol = tolerations(spec);
  const ns = nodeSelector(spec);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(md, labels),
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: selector },
      revisionHistoryLimit: 3,
      // Never drop below the wanted replicas during a rollout: a new GPU pod may wait minutes for a node.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      progressDeadlineSeconds: cfg.startupTimeoutSeconds + 300,
      template: {
        metadata: {
          labels,
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(HTTP_PORT),
            'prometheus.io/path': '/metrics',
            'kubectl.kubernetes.io/default-container': RUNTIME_CONTAINER,
            // Scratch volumes only: they must not stop the cluster autoscaler from removing an idle GPU node.
            'cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes': plan.kind === 'download' ? 'models,tmp' : 'tmp',
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: cfg.runAsUser,
            runAsGroup: cfg.runAsUser,
            fsGroup: cfg.runAsUser,
            // A chown of a large model volume on every start would delay it for minutes.
            fsGroupChangePolicy: 'OnRootMismatch',
            seccompProfile: { type: 'RuntimeDefault' },
          },
          terminationGracePeriodSeconds: cfg.terminationGracePeriodSeconds,
          ...(initContainers.length ? { initContainers } : {}),
          containers: [runtime],
          volumes,
          ...(ns ? { nodeSelector: ns } : {}),
          ...(tol ? { tolerations: tol } : {}),
          ...(scheduling.affinity ? { affinity: scheduling.affinity } : {}),
          topologySpreadConstraints: userSpread?.length
            ? userSpread
            : [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'ScheduleAnyway',
                  labelSelector: { matchLabels: selector },
                  matchLabelKeys: ['pod-template-hash'],
                },
              ],
          ...(scheduling.priorityClassName ? { priorityClassName: scheduling.priorityClassName } : {}),
          ...(scheduling.runtimeClassName ? { runtimeClassName: scheduling.runtimeClassName } : {}),
          ...(cfg.imagePullSecrets.length ? { imagePullSecrets: cfg.imagePullSecrets.map((name) => ({ name })) } : {}),
        },
      },
    },
  };
}
