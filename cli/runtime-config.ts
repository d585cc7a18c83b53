// The flags (and MODELPLANE_* environment variables) that decide what the operator builds for every
// ModelDeployment: one definition shared by `modelplane operator` and `modelplane render`, so render prints
// what an operator with the same settings applies. Parsing is pure and names the flag in every error.
import { Option, type Command } from 'commander';
import { integerArg } from './arg-parsers.js';
import type { V1ResourceRequirements, V1Toleration } from '@kubernetes/client-node';
import { resolveConfig, type OperatorConfig } from '../operator/resources/config.js';
import { minimumGracePeriodSeconds } from '../operator/resources/deployment.js';
import { SERVE_DEFAULTS } from '../common/serve-contract.js';

export interface RuntimeConfigFlags {
  runtimeImage: string;
  runtimeGpuImage?: string;
  runtimeResources?: string;
  runtimeImagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  runtimeImagePullSecrets?: string[];
  runtimePvcRoot?: string;
  runtimeLogLevel?: 'error' | 'warn' | 'info' | 'debug';
  runtimeRunAsUser?: number;
  runtimePrestopSleepSeconds?: number;
  runtimeTerminationGracePeriodSeconds?: number;
  runtimeStartupTimeoutSeconds?: number;
  runtimeGpuTolerations?: string;
  prometheusAddress?: string;
}

/** An integer flag from min to max (commander's argument parser). */
export const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) => integerArg(name, { min, max });

export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];

/** Adds the runtime settings to a command; each also reads MODELPLANE_<NAME> from the environment. */
export function addRuntimeConfigOptions(cmd: Command, version: string): Command {
  return cmd
    .addOption(new Option('--runtime-image <image>', 'runtime image when spec.runtime.image is not set').env('MODELPLANE_RUNTIME_IMAGE').default(`ghcr.io/modelplane/runtime:${version}`))
    .addOption(new Option('--runtime-gpu-image <image>', 'runtime image for ModelDeployments with spec.gpu (default: --runtime-image)').env('MODELPLANE_RUNTIME_GPU_IMAGE'))
    .addOption(new Option('--runtime-resources <json>', 'runtime container resources (JSON ResourceRequirements) when spec.resources is not set').env('MODELPLANE_RUNTIME_RESOURCES'))
    .addOption(new Option('--runtime-image-pull-policy <policy>', 'imagePullPolicy of the runtime containers (default IfNotPresent)').choices(['Always', 'IfNotPresent', 'Never']).env('MODELPLANE_RUNTIME_IMAGE_PULL_POLICY'))
    .addOption(new Option('--runtime-image-pull-secrets <names>', 'imagePullSecrets of the runtime pods (repeat or comma-separate)').env('MODELPLANE_RUNTIME_IMAGE_PULL_SECRETS').argParser(collect))
    .addOption(new Option('--runtime-pvc-root <dir>', 'where pvc:// claims are mounted in runtime pods (default /mnt/pvc)').env('MODELPLANE_RUNTIME_PVC_ROOT'))
    .addOption(new Option('--runtime-log-level <level>', 'log level of fetch and serve in runtime pods (default info)').choices(['error', 'warn', 'info', 'debug']).env('MODELPLANE_RUNTIME_LOG_LEVEL'))
    .addOption(new Option('--runtime-run-as-user <uid>', 'non-root user and group of the runtime pods (default 65532)').env('MODELPLANE_RUNTIME_RUN_AS_USER').argParser(int('--runtime-run-as-user', 1, 2147483647)))
    .addOption(new Option('--runtime-prestop-sleep-seconds <s>', 'seconds a terminating runtime pod keeps serving before its drain starts (default 5)').env('MODELPLANE_RUNTIME_PRESTOP_SLEEP_SECONDS').argParser(int('--runtime-prestop-sleep-seconds', 0, 3600)))
    .addOption(new Option('--runtime-termination-grace-period-seconds <s>', 'terminationGracePeriodSeconds of runtime pods (default 60)').env('MODELPLANE_RUNTIME_TERMINATION_GRACE_PERIOD_SECONDS').argParser(int('--runtime-termination-grace-period-seconds', 1)))
    .addOption(new Option('--runtime-startup-timeout-seconds <s>', 'time a runtime pod may take to fetch, load and warm up its model (default 1800)').env('MODELPLANE_RUNTIME_STARTUP_TIMEOUT_SECONDS').argParser(int('--runtime-startup-timeout-seconds', 5)))
    .addOption(new Option('--runtime-gpu-tolerations <json>', 'tolerations (JSON list) added to GPU pods besides the nvidia.com/gpu one').env('MODELPLANE_RUNTIME_GPU_TOLERATIONS'))
    .addOption(new Option('--prometheus-address <url>', 'Prometheus that KEDA ScaledObjects query, for spec.autoscaling.mode keda (default http://prometheus-operated.monitoring.svc:9090)').env('MODELPLANE_PROMETHEUS_ADDRESS'));
}

function parseJson(flag: string, json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw new Error(`${flag}: invalid JSON: ${(err as Error).message}`);
  }
}

export function parseResources(json: string | undefined): V1ResourceRequirements | undefined {
  if (!json) return undefined;
  const value = parseJson('--runtime-resources', json);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('--runtime-resources: invalid JSON ResourceRequirements: not an object');
  return Object.keys(value).length ? (value as V1ResourceRequirements) : undefined;
}

const TOLERATION_KEYS = new Set(['key', 'operator', 'value', 'effect', 'tolerationSeconds']);

export function parseTolerations(json: string | undefined): V1Toleration[] | undefined {
  if (!json) return undefined;
  const value = parseJson('--runtime-gpu-tolerations', json);
  if (!Array.isArray(value)) throw new Error('--runtime-gpu-tolerations: must be a JSON list of tolerations');
  value.forEach((t, i) => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new Error(`--runtime-gpu-tolerations[${i}]: must be an object`);
    const unknown = Object.keys(t).find((k) => !TOLERATION_KEYS.has(k));
    if (unknown) throw new Error(`--runtime-gpu-tolerations[${i}].${unknown}: not a toleration field`);
    const op = (t as V1Toleration).operator;
    if (op !== undefined && op !== 'Exists' && op !== 'Equal') throw new Error(`--runtime-gpu-tolerations[${i}].operator: must be Exists or Equal`);
  });
  return value.length ? (value as V1Toleration[]) : undefined;
}

export function parsePrometheusAddress(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--prometheus-address: not a URL: ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('--prometheus-address: must be an http:// or https:// URL');
  return value;
}

/** The OperatorConfig the flags describe; unset flags leave the built-in defaults. */
export function runtimeConfigFrom(f: RuntimeConfigFlags): OperatorConfig {
  const grace = f.runtimeTerminationGracePeriodSeconds;
  const preStop = f.runtimePrestopSleepSeconds;
  const cfg: OperatorConfig = { runtimeImage: f.runtimeImage };
  if (f.runtimeGpuImage) cfg.runtimeGpuImage = f.runtimeGpuImage;
  const resources = parseResources(f.runtimeResources);
  if (resources) cfg.defaultResources = resources;
  if (f.runtimeImagePullPolicy) cfg.imagePullPolicy = f.runtimeImagePullPolicy;
  if (f.runtimeImagePullSecrets?.length) cfg.imagePullSecrets = f.runtimeImagePullSecrets;
  if (f.runtimePvcRoot) {
    if (!f.runtimePvcRoot.startsWith('/')) throw new Error('--runtime-pvc-root: must be an absolute path');
    cfg.pvcRoot = f.runtimePvcRoot;
  }
  if (f.runtimeLogLevel) cfg.logLevel = f.runtimeLogLevel;
  if (f.runtimeRunAsUser !== undefined) cfg.runAsUser = f.runtimeRunAsUser;
  if (preStop !== undefined) cfg.preStopSleepSeconds = preStop;
  if (grace !== undefined) cfg.terminationGracePeriodSeconds = grace;
  if (f.runtimeStartupTimeoutSeconds !== undefined) cfg.startupTimeoutSeconds = f.runtimeStartupTimeoutSeconds;
  const tolerations = parseTolerations(f.runtimeGpuTolerations);
  if (tolerations) cfg.gpuTolerations = tolerations;
  if (f.prometheusAddress) cfg.prometheusAddress = parsePrometheusAddress(f.prometheusAddress);
  checkGracePeriod(resolveConfig(cfg));
  return cfg;
}

/** The grace period must hold the preStop sleep, the runtime's drain and its exit (what the Deployment builder plans). */
function checkGracePeriod(cfg: ReturnType<typeof resolveConfig>): void {
  const least = minimumGracePeriodSeconds(cfg.preStopSleepSeconds);
  if (cfg.terminationGracePeriodSeconds < least) {
    throw new Error(
      `--runtime-termination-grace-period-seconds: must be at least ${least} with a preStop sleep of ${cfg.preStopSleepSeconds} s ` +
      `(the sleep, the runtime's ${SERVE_DEFAULTS.drainSeconds} s drain window and 6 s for in-flight work to end), got ${cfg.terminationGracePeriodSeconds}`,
    );
  }
}
