// The runtime Deployment of one ModelDeployment: what its pods run, where they may be scheduled, how they
// are probed, drained and confined. Pure: the same spec and config always give the same object.
import type { V1Container, V1Deployment, V1EnvVar, V1PodSpec, V1ResourceRequirements, V1SecurityContext, V1Toleration, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { ModelDeployment, ModelDeploymentSpec } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { labelsFor, selectorLabels } from './labels.js';
import { CREDENTIALS_DIR, MODELS_DIR, planModelSource, type ModelSourcePlan } from './model-source.js';
import { childMetadata } from './owner.js';
import { INLINE_SAMPLES_DIR, INLINE_SAMPLES_VOLUME, podSamplePlans, SAMPLE_FETCH_CONTAINERS, SAMPLES_DIR, SAMPLES_VOLUME, type SamplePlan } from './samples.js';
import { SERVICE_GRPC_PORT_NAME, SERVICE_HTTP_PORT_NAME, servedName } from '../api/names.js';
import { DEFAULT_HTTP_PORT, POD_GRPC_PORT, SERVE_DEFAULTS, serveArgv, type ExecutionProvider, type GenerationSettings, type ServeSettings } from '../../common/serve-contract.js';

export const HTTP_PORT = DEFAULT_HTTP_PORT;
export const GRPC_PORT = POD_GRPC_PORT;
export const RUNTIME_CONTAINER = 'runtime';
export const FETCH_CONTAINER = 'fetch';
export const OPTIMIZE_CONTAINER = 'optimize';
/** Where the optimise step writes the optimised model and its report (an emptyDir, read-only to the runtime). */
export const OPTIMIZED_DIR = '/models-optimized';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';
/** The taint the NVIDIA GPU operator (and most managed GPU node pools) put on GPU nodes, MIG ones included. */
export const NVIDIA_GPU_TAINT = 'nvidia.com/gpu';

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
export function executionProviders(spec: ModelDeploymentSpec): ExecutionProvider[] {
  return spec.runtime.executionProviders ?? (spec.gpu ? ['cuda', 'cpu'] : ['cpu']);
}

/** Seconds of the grace period kept back after the runtime's drain timeout, for its exit before SIGKILL. */
const EXIT_MARGIN_SECONDS = 5;

/** After the preStop sleep and the runtime's drain window (--drain-seconds), in-flight work must end before SIGKILL. */
export function drainTimeoutSeconds(cfg: ResolvedConfig): number {
  return Math.max(1, cfg.terminationGracePeriodSeconds - cfg.preStopSleepSeconds - SERVE_DEFAULTS.drainSeconds - EXIT_MARGIN_SECONDS);
}

/**
 * The shortest terminationGracePeriodSeconds a runtime pod may have with this preStop sleep: the sleep, the runtime's
 * drain window, at least a second for in-flight work, and the exit margin. The operator's flags and the chart check it.
 */
export function minimumGracePeriodSeconds(preStopSleepSeconds: number): number {
  return preStopSleepSeconds + SERVE_DEFAULTS.drainSeconds + 1 + EXIT_MARGIN_SECONDS;
}

/**
 * How the runtime serves a ModelDeployment, as `modelplane serve` settings. With a GPU the runtime must serve on
 * it (--require-gpu) and every GPU the pod holds gets its instances; threads default to the pod's CPUs shared
 * among the instances.
 */
export function serveSettings(md: ModelDeployment, plan: ModelSourcePlan, cfg: ResolvedConfig): ServeSettings {
  const spec = md.spec;
  const rt = spec.runtime;
  const base = baseResources(spec, cfg);
  const gpus = spec.gpu ? spec.gpu.count ?? 1 : 0;
  const perDevice = rt.instances ?? SERVE_DEFAULTS.instances;
  const instances = gpus > 0 ? gpus * perDevice : perDevice;
  const cores = cpuCores(base?.limits?.cpu ?? base?.requests?.cpu);
  const threads = rt.intraOpThreads || (cores ? Math.max(1, Math.floor(cores / instances)) : 0);
  return {
    model: plan.modelPath,
    name: servedName(md),
    httpPort: HTTP_PORT,
    grpcPort: GRPC_PORT,
    maxBatchSize: rt.batching?.maxBatchSize ?? 1,
    ...(rt.batching && rt.batching.maxBatchSize > 1 ? { maxQueueDelayUs: rt.batching.maxQueueDelayMicroseconds } : {}),
    maxQueueSize: rt.maxQueueSize,
    executionProviders: executionProviders(spec),
    requireGpu: gpus > 0,
    instances,
    ...(gpus > 0 ? { devices: Array.from({ length: gpus }, (_, i) => i) } : {}),
    graphOptimizationLevel: rt.graphOptimizationLevel,
    intraOpThreads: threads,
    // SIGTERM arrives after the preStop sleep; the drain must end before the kubelet's SIGKILL.
    drainTimeoutSeconds: drainTimeoutSeconds(cfg),
    ...(spec.optimization ? { optimizedModelDir: OPTIMIZED_DIR } : {}),
    ...(spec.runtime.warmup ? { warmup: podSamplePlans(spec).warmup!.path } : {}),
    logLevel: cfg.logLevel,
    ...generationSettings(spec),
  };
}

/** The generation engine's bounds (spec.runtime.generation), when the spec sets them; else the runtime's defaults hold. */
export function generationSettings(spec: ModelDeploymentSpec): GenerationSettings {
  const g = spec.runtime.generation;
  if (!g) return {};
  return { maxNumSeqs: g.maxNumSeqs, maxModelLen: g.maxModelLen, ...(g.maxKvCacheBytes !== undefined ? { maxKvCacheBytes: g.maxKvCacheBytes } : {}) };
}

/** `modelplane serve` arguments rendered from the spec (the Deployment's and local mode's). */
export function serveArgs(md: ModelDeployment, plan: ModelSourcePlan, cfg: ResolvedConfig): string[] {
  return serveArgv(serveSettings(md, plan, cfg));
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

/**
 * `modelplane optimize` arguments: optimise the fetched model into OPTIMIZED_DIR on the runtime's execution providers,
 * compared on the samples (`samplesPath` overrides where the pod has them, for local mode). A refusal or a failed
 * gate still exits 0 (the runtime then serves the original); the result goes to the termination message.
 */
export function optimizeArgs(md: ModelDeployment, plan: ModelSourcePlan, cfg: ResolvedConfig, out: string = OPTIMIZED_DIR, samplesPath?: string): string[] {
  const o = md.spec.optimization!;
  const args = ['optimize', '--model', plan.modelPath, '--out', out];
  if (o.quantize) args.push('--quantize', o.quantize);
  if (o.graphOptimization) args.push('--graph-optimization', o.graphOptimization);
  args.push('--execution-providers', executionProviders(md.spec).join(','));
  const samples = samplesPath ?? podSamplePlans(md.spec).samples?.path;
  if (samples) args.push('--samples', samples);
  if (o.maxAbsError !== undefined) args.push('--max-abs-error', String(o.maxAbsError));
  args.push('--min-cosine', String(o.minCosine), '--min-speedup', String(o.minSpeedup), '--fallback-to-original', '--log-level', cfg.logLevel);
  return args;
}

/** `modelplane fetch` arguments for a remote sample file, with the model's credentials when the pod mounts them. */
function sampleFetchArgs(fetch: NonNullable<SamplePlan['fetch']>, credentials: boolean, cfg: ResolvedConfig): string[] {
  return ['fetch', '--uri', fetch.uri, '--dest', fetch.dest, ...(credentials ? ['--credentials-dir', CREDENTIALS_DIR] : []), '--log-level', cfg.logLevel];
}

/**
 * What the sample requests add to a pod: an emptyDir and a fetch init container per remote file, a downward API
 * volume of the template's annotations for inline inputs, and the mounts that show both to the runtime and the
 * optimise step (read-only).
 */
function samplesInPod(spec: ModelDeploymentSpec, base: Omit<V1Container, 'name' | 'args' | 'volumeMounts'>, fetchMounts: V1VolumeMount[], credentials: boolean, cfg: ResolvedConfig) {
  const plans = podSamplePlans(spec).all;
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  const initContainers: V1Container[] = [];
  const annotations: Record<string, string> = {};
  if (plans.some((p) => p.fetch)) {
    volumes.push({ name: SAMPLES_VOLUME, emptyDir: {} });
    mounts.push({ name: SAMPLES_VOLUME, mountPath: SAMPLES_DIR, readOnly: true });
  }
  const inline = plans.filter((p) => p.inline);
  if (inline.length) {
    volumes.push({
      name: INLINE_SAMPLES_VOLUME,
      downwardAPI: { items: inline.map((p) => ({ path: p.inline!.file, fieldRef: { fieldPath: `metadata.annotations['${p.inline!.annotation}']` } })) },
    });
    mounts.push({ name: INLINE_SAMPLES_VOLUME, mountPath: INLINE_SAMPLES_DIR, readOnly: true });
    for (const p of inline) annotations[p.inline!.annotation] = p.inline!.body;
  }
  for (const p of plans.filter((x) => x.fetch)) {
    initContainers.push({
      ...structuredClone(base),
      name: SAMPLE_FETCH_CONTAINERS[p.role],
      args: sampleFetchArgs(p.fetch!, credentials, cfg),
      volumeMounts: [...fetchMounts.filter((m) => m.name === 'tmp' || (credentials && m.name === 'credentials')).map((m) => ({ ...m })), { name: SAMPLES_VOLUME, mountPath: SAMPLES_DIR }],
    });
  }
  return { volumes, mounts, initContainers, annotations };
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
  const resource = spec.gpu.resource;
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

/**
 * For a GPU pod: the nvidia.com/gpu taint's toleration (MIG nodes carry that taint too), the requested resource's
 * when it differs, and the operator's configured GPU tolerations; then the user's; without duplicates.
 */
export function tolerations(spec: ModelDeploymentSpec, cfg?: Pick<ResolvedConfig, 'gpuTolerations'>): V1Toleration[] | undefined {
  const out: V1Toleration[] = [];
  const configured = spec.gpu ? [
    { key: NVIDIA_GPU_TAINT, operator: 'Exists', effect: 'NoSchedule' },
    { key: spec.gpu.resource, operator: 'Exists', effect: 'NoSchedule' },
    ...(cfg?.gpuTolerations ?? []),
  ] : [];
  for (const t of [...configured, ...(spec.scheduling?.tolerations ?? [])]) {
    if (!out.some((o) => JSON.stringify(o) === JSON.stringify(t))) out.push(t);
  }
  return out.length ? out : undefined;
}

export function nodeSelector(spec: ModelDeploymentSpec): Record<string, string> | undefined {
  const out: Record<string, string> = { ...(spec.scheduling?.nodeSelector ?? {}) };
  if (spec.gpu?.product) out[GPU_PRODUCT_LABEL] = spec.gpu.product;
  return Object.keys(out).length ? out : undefined;
}

/** The runtime Deployment: the model's volumes, the fetch, sample and optimise init containers, the runtime, and the pod around them. */
export function buildDeployment(md: ModelDeployment, cfg: ResolvedConfig): V1Deployment & { apiVersion: 'apps/v1'; kind: 'Deployment' } {
  const spec = md.spec;
  const image = runtimeImageFor(spec, cfg);
  const plan = planModelSource(spec.model.uri, cfg.pvcRoot, spec.model.sha256);
  const common: ContainerCommon = { image, cfg, security: restrictedSecurityContext(cfg), env: [{ name: 'MODELPLANE_PVC_ROOT', value: cfg.pvcRoot }] };
  const pod = modelVolumes(spec, plan);
  const samples = addFetchSteps(pod, md, plan, common);
  if (spec.optimization) addOptimizeStep(pod, md, plan, common);
  const runtime = runtimeContainer(md, plan, common, pod.runtimeMounts);
  const selector = selectorLabels(md);
  const template = { labels: labelsFor(md, image), annotations: templateAnnotations(spec, plan, samples.volumes, samples.annotations) };
  return deploymentOf(md, cfg, selector, template, podSpec(spec, cfg, pod, runtime, selector));
}

/** The Deployment around the pod template: replicas, and a rollout that never drops below them. */
function deploymentOf(
  md: ModelDeployment, cfg: ResolvedConfig, selector: Record<string, string>, template: { labels: Record<string, string>; annotations: Record<string, string> }, pod: V1PodSpec,
): V1Deployment & { apiVersion: 'apps/v1'; kind: 'Deployment' } {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(md, template.labels),
    spec: {
      replicas: md.spec.replicas,
      selector: { matchLabels: selector },
      revisionHistoryLimit: 3,
      // Never drop below the wanted replicas during a rollout: a new GPU pod may wait minutes for a node.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      progressDeadlineSeconds: cfg.startupTimeoutSeconds + 300,
      template: { metadata: template, spec: pod },
    },
  };
}

/** What every container of the pod has alike. */
interface ContainerCommon {
  image: string;
  cfg: ResolvedConfig;
  security: V1SecurityContext;
  env: V1EnvVar[];
}

/** The pod's volumes and containers as the steps of buildDeployment add to them. */
interface PodParts {
  volumes: V1Volume[];
  runtimeMounts: V1VolumeMount[];
  fetchMounts: V1VolumeMount[];
  initContainers: V1Container[];
}

/** The scratch volume and the model's volumes (the download cache and its credentials, or the claim), and who mounts them. */
function modelVolumes(spec: ModelDeploymentSpec, plan: ModelSourcePlan): PodParts {
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
  return { volumes, runtimeMounts, fetchMounts, initContainers: [] };
}

/** The model's fetch init container, then what the sample requests add to the pod; returns the latter. */
function addFetchSteps(pod: PodParts, md: ModelDeployment, plan: ModelSourcePlan, common: ContainerCommon): ReturnType<typeof samplesInPod> {
  const fetchBase = initContainerBase(md.spec, common);
  if (plan.fetch) pod.initContainers.push({ name: FETCH_CONTAINER, ...structuredClone(fetchBase), args: fetchArgs(md, common.cfg), volumeMounts: pod.fetchMounts });
  const samples = samplesInPod(md.spec, fetchBase, pod.fetchMounts, pod.volumes.some((v) => v.name === 'credentials'), common.cfg);
  pod.volumes.push(...samples.volumes);
  pod.runtimeMounts.push(...samples.mounts);
  pod.initContainers.push(...samples.initContainers);
  return samples;
}

/** What the fetch init containers (the model's and the samples') have alike: no GPU, no name, arguments or mounts yet. */
function initContainerBase(spec: ModelDeploymentSpec, { image, cfg, security, env }: ContainerCommon): Omit<V1Container, 'name' | 'args' | 'volumeMounts'> {
  const resources = fetchResources(spec, cfg);
  return {
    image,
    imagePullPolicy: cfg.imagePullPolicy,
    command: ['modelplane'],
    env: env.map((e) => ({ ...e })),
    ...(resources ? { resources } : {}),
    securityContext: security,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** The optimise init container and its output volume, which the runtime mounts read-only. */
function addOptimizeStep(pod: PodParts, md: ModelDeployment, plan: ModelSourcePlan, { image, cfg, security, env }: ContainerCommon): void {
  // The optimise step measures on the hardware the runtime serves on, so it gets the runtime's resources (GPU included).
  pod.volumes.push({ name: 'optimized', emptyDir: {} });
  pod.runtimeMounts.push({ name: 'optimized', mountPath: OPTIMIZED_DIR, readOnly: true });
  const resources = runtimeResources(md.spec, cfg);
  pod.initContainers.push({
    name: OPTIMIZE_CONTAINER,
    image,
    imagePullPolicy: cfg.imagePullPolicy,
    command: ['modelplane'],
    args: optimizeArgs(md, plan, cfg),
    env: env.map((e) => ({ ...e })),
    ...(resources ? { resources } : {}),
    volumeMounts: [
      ...pod.runtimeMounts.filter((m) => m.name !== 'optimized').map((m) => ({ ...m })),
      { name: 'optimized', mountPath: OPTIMIZED_DIR },
    ],
    securityContext: security,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  });
}

/** The serving container: `modelplane serve`, its ports, probes and preStop drain. */
function runtimeContainer(md: ModelDeployment, plan: ModelSourcePlan, { image, cfg, security, env }: ContainerCommon, volumeMounts: V1VolumeMount[]): V1Container {
  const resources = runtimeResources(md.spec, cfg);
  const probe = (path: string) => ({ httpGet: { path, port: SERVICE_HTTP_PORT_NAME, scheme: 'HTTP' } });
  return {
    name: RUNTIME_CONTAINER,
    image,
    imagePullPolicy: cfg.imagePullPolicy,
    command: ['modelplane'],
    args: serveArgs(md, plan, cfg),
    env,
    ports: [{ name: SERVICE_HTTP_PORT_NAME, containerPort: HTTP_PORT, protocol: 'TCP' }, { name: SERVICE_GRPC_PORT_NAME, containerPort: GRPC_PORT, protocol: 'TCP' }],
    ...(resources ? { resources } : {}),
    // Loading and warming a large model can take many minutes; liveness waits until startup succeeds.
    startupProbe: { ...probe(READY_PATH), periodSeconds: STARTUP_PERIOD_SECONDS, timeoutSeconds: 2, failureThreshold: Math.ceil(cfg.startupTimeoutSeconds / STARTUP_PERIOD_SECONDS) },
    readinessProbe: { ...probe(READY_PATH), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    // Generous: a long inference may delay the answer, and a restart reloads the whole model.
    livenessProbe: { ...probe(LIVE_PATH), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    // Keep serving until the endpoints controller has removed the pod, then SIGTERM starts the drain. An exec of
    // the runtime's own binary works on every Kubernetes version (the sleep action needs 1.30) and every image.
    lifecycle: { preStop: { exec: { command: ['modelplane', 'sleep', String(cfg.preStopSleepSeconds)] } } },
    volumeMounts,
    securityContext: security,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** The pod template's annotations: Prometheus scraping, the default container, eviction, and the inline samples. */
function templateAnnotations(spec: ModelDeploymentSpec, plan: ModelSourcePlan, sampleVolumes: V1Volume[], sampleAnnotations: Record<string, string>): Record<string, string> {
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(HTTP_PORT),
    'prometheus.io/path': '/metrics',
    'kubectl.kubernetes.io/default-container': RUNTIME_CONTAINER,
    // The model cache is reproducible (fetched again on the next node) and the PodDisruptionBudget still
    // bounds evictions, so an idle GPU node can be removed; the scratch volumes are named as well for
    // autoscaler versions that read only the per-volume annotation.
    'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true',
    'cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes': [plan.kind === 'download' ? 'models' : '', spec.optimization ? 'optimized' : '', sampleVolumes.some((v) => v.emptyDir) ? SAMPLES_VOLUME : '', 'tmp'].filter(Boolean).join(','),
    ...sampleAnnotations,
  };
}

/** The pod: its security, containers and volumes, then where it may run. */
function podSpec(spec: ModelDeploymentSpec, cfg: ResolvedConfig, pod: PodParts, runtime: V1Container, selector: Record<string, string>): V1PodSpec {
  const { initContainers, volumes } = pod;
  return {
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
    ...placement(spec, cfg, selector),
    ...(cfg.imagePullSecrets.length ? { imagePullSecrets: cfg.imagePullSecrets.map((name) => ({ name })) } : {}),
  };
}

/** Where the pod may run: node selection, tolerations, affinity, spread (one per node by default), priority and runtime class. */
function placement(spec: ModelDeploymentSpec, cfg: ResolvedConfig, selector: Record<string, string>): Partial<V1PodSpec> & Pick<V1PodSpec, 'topologySpreadConstraints'> {
  const scheduling = spec.scheduling ?? {};
  const userSpread = scheduling.topologySpreadConstraints;
  const tol = tolerations(spec, cfg);
  const ns = nodeSelector(spec);
  return {
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
  };
}
