// Every operator setting is reachable: chart values -> `helm template` (the real helm) -> the operator's args ->
// its parsed settings -> the children it renders. And each flag has its MODELPLANE_* environment variable.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { V1Deployment } from '@kubernetes/client-node';
import { operatorCommand, operatorSettings, type OperatorCliOptions, type OperatorSettings } from '../../cli/operator.js';
import type { OperatorConfig } from '../../operator/resources/config.js';
import { resolveConfig } from '../../operator/resources/config.js';
import { desiredChildren } from '../../operator/resources/index.js';
import { minimumGracePeriodSeconds } from '../../operator/resources/deployment.js';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { helm } from '../support/helm.js';
import { isGatewayObject, parseManifests } from './kube-schemas.js';

const CHART = join(import.meta.dirname, '..', '..', 'charts', 'modelplane');
const POOL_TOLERATION = { key: 'pool', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' };

/** Parses argv the way `modelplane operator` does, with only the given environment. */
async function parse(args: string[], env: Record<string, string> = {}): Promise<OperatorCliOptions> {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('MODELPLANE_'));
  for (const [k] of saved) delete process.env[k];
  Object.assign(process.env, env);
  try {
    let parsed: OperatorCliOptions | undefined;
    const cmd = operatorCommand('0.1.0').exitOverride().configureOutput({ writeErr: () => undefined }).action((opts: OperatorCliOptions) => {
      parsed = opts;
    });
    await cmd.parseAsync(args, { from: 'user' });
    return parsed!;
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    for (const [k, v] of saved) process.env[k] = v;
  }
}

const VALUES = {
  watchNamespaces: ['team-a', 'team-b'],
  operator: {
    logLevel: 'debug',
    workers: 7,
    resyncSeconds: 120,
    apiTimeout: '12s',
    watchTimeoutSeconds: 90,
    leaderElection: { enabled: true, leaseName: 'mp-lease', leaseDuration: '20s', renewDeadline: '14s', retryPeriod: '3s' },
    autoscaler: { interval: '3s', stableWindow: '90s', panicWindow: '9s', prometheusAddress: 'http://prometheus.monitoring.svc:9090' },
  },
  runtime: {
    image: { repository: 'registry.example.com/ml/runtime', tag: '9.9.9' },
    gpuImage: { repository: 'registry.example.com/ml/runtime-gpu', tag: '9.9.9' },
    resources: { requests: { cpu: '2', memory: '3Gi' }, limits: { memory: '3Gi' } },
    imagePullPolicy: 'Always',
    imagePullSecrets: [{ name: 'regcred' }, { name: 'mirror' }],
    pvcRoot: '/data/claims',
    logLevel: 'warn',
    runAsUser: 4242,
    preStopSleepSeconds: 9,
    terminationGracePeriodSeconds: 95,
    startupTimeoutSeconds: 3600,
    gpuTolerations: [POOL_TOLERATION],
  },
};

/** What those values must give, field by field; a new OperatorConfig field fails to compile until listed here. */
const EXPECTED_CONFIG: Required<OperatorConfig> = {
  runtimeImage: 'registry.example.com/ml/runtime:9.9.9',
  runtimeGpuImage: 'registry.example.com/ml/runtime-gpu:9.9.9',
  defaultResources: { requests: { cpu: '2', memory: '3Gi' }, limits: { memory: '3Gi' } },
  imagePullPolicy: 'Always',
  imagePullSecrets: ['regcred', 'mirror'],
  pvcRoot: '/data/claims',
  logLevel: 'warn',
  runAsUser: 4242,
  preStopSleepSeconds: 9,
  terminationGracePeriodSeconds: 95,
  startupTimeoutSeconds: 3600,
  gpuTolerations: [POOL_TOLERATION],
  prometheusAddress: 'http://prometheus.monitoring.svc:9090',
};

const EXPECTED: OperatorSettings = {
  kubeconfig: undefined,
  namespaces: ['team-a', 'team-b'],
  config: EXPECTED_CONFIG,
  workers: 7,
  metricsPort: 8081,
  leaderElection: { leaseName: 'mp-lease', leaseNamespace: 'modelplane-system', leaseDurationMs: 20_000, renewDeadlineMs: 14_000, retryPeriodMs: 3_000 },
  resyncMs: 120_000,
  requestTimeoutMs: 12_000,
  watchTimeoutSeconds: 90,
  // The chart's gateway (gateway.enabled, the default): the built-in autoscaler reads its pods too.
  autoscaler: { intervalMs: 3_000, stableWindowMs: 90_000, panicWindowMs: 9_000, gateway: { selector: 'app.kubernetes.io/component=gateway,app.kubernetes.io/instance=mp', namespace: 'modelplane-system' } },
  logLevel: 'debug',
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelplane-settings-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('operator settings', () => {
  it('chart values -> helm template -> operator args -> parsed settings -> rendered children', async () => {
    const values = join(dir, 'values.yaml');
    writeFileSync(values, yaml.dump(VALUES));
    const r = await helm(['template', 'mp', CHART, '--namespace', 'modelplane-system', '-f', values]);
    expect(r.stderr).toBe('');
    const op = parseManifests(r.stdout).find((o) => o.kind === 'Deployment' && !isGatewayObject(o))! as unknown as V1Deployment;
    const container = op.spec!.template.spec!.containers[0];
    expect(container.args![0]).toBe('operator');
    const settings = operatorSettings(await parse(container.args!.slice(1)));
    expect(settings).toEqual(EXPECTED);

    const validated = validateModelDeployment({
      apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment',
      metadata: { name: 'llm', namespace: 'team-a', uid: 'u-1' },
      spec: { model: { uri: 'pvc://models/llm/model.onnx', sha256: 'a'.repeat(64) }, gpu: { resource: 'nvidia.com/mig-1g.10gb' } },
    });
    if (!validated.ok) throw new Error('fixture invalid');
    const [deployment] = desiredChildren(validated.value, settings.config) as V1Deployment[];
    const pod = deployment.spec!.template.spec!;
    const runtime = pod.containers.find((c) => c.name === 'runtime')!;
    const fetch = pod.initContainers!.find((c) => c.name === 'fetch')!;
    expect(runtime.image).toBe(EXPECTED_CONFIG.runtimeGpuImage);
    expect([runtime.imagePullPolicy, fetch.imagePullPolicy]).toEqual(['Always', 'Always']);
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror' }]);
    expect(runtime.volumeMounts).toEqual(expect.arrayContaining([{ name: 'model', mountPath: '/data/claims/models', readOnly: true }]));
    expect(runtime.env).toEqual(expect.arrayContaining([{ name: 'MODELPLANE_PVC_ROOT', value: '/data/claims' }]));
    expect(runtime.args!.slice(runtime.args!.indexOf('--log-level'), runtime.args!.indexOf('--log-level') + 2)).toEqual(['--log-level', 'warn']);
    expect(fetch.args).toEqual(expect.arrayContaining(['--log-level', 'warn']));
    expect(pod.securityContext).toMatchObject({ runAsUser: 4242, runAsGroup: 4242, fsGroup: 4242 });
    expect(runtime.securityContext).toMatchObject({ runAsUser: 4242 });
    expect(runtime.lifecycle).toEqual({ preStop: { exec: { command: ['modelplane', 'sleep', '9'] } } });
    expect(pod.terminationGracePeriodSeconds).toBe(95);
    expect(runtime.startupProbe!.failureThreshold).toBe(3600 / runtime.startupProbe!.periodSeconds!);
    expect(deployment.spec!.progressDeadlineSeconds).toBe(3600 + 300);
    expect(runtime.resources).toEqual({ requests: { cpu: '2', memory: '3Gi' }, limits: { memory: '3Gi', 'nvidia.com/mig-1g.10gb': '1' } });
    expect(pod.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'nvidia.com/mig-1g.10gb', operator: 'Exists', effect: 'NoSchedule' },
      POOL_TOLERATION,
    ]);
  });

  it('the chart defaults give the built-in defaults', async () => {
    const r = await helm(['template', 'mp', CHART, '--namespace', 'modelplane-system']);
    const op = parseManifests(r.stdout).find((o) => o.kind === 'Deployment' && !isGatewayObject(o))! as unknown as V1Deployment;
    const fromChart = operatorSettings(await parse(op.spec!.template.spec!.containers[0].args!.slice(1)));
    const fromNothing = operatorSettings(await parse([]));
    expect(fromChart.config).toMatchObject({ imagePullPolicy: 'IfNotPresent', pvcRoot: '/mnt/pvc', logLevel: 'info', runAsUser: 65532, preStopSleepSeconds: 5, terminationGracePeriodSeconds: 60, startupTimeoutSeconds: 1800 });
    expect(fromChart.config.gpuTolerations).toBeUndefined();
    expect(resolveConfig(fromChart.config).prometheusAddress).toBe(resolveConfig(fromNothing.config).prometheusAddress);
    // The one difference: the chart's gateway, whose pods the built-in autoscaler reads.
    expect(fromChart.autoscaler.gateway).toEqual({ selector: 'app.kubernetes.io/component=gateway,app.kubernetes.io/instance=mp', namespace: 'modelplane-system' });
    expect(fromNothing.autoscaler.gateway).toBeUndefined();
    const { config: _a, leaderElection: leA, autoscaler: { gateway: _ga, ...asChart }, ...restChart } = fromChart;
    const { config: _b, leaderElection: leB, autoscaler: { gateway: _gb, ...asNothing }, ...restNothing } = fromNothing;
    expect(asChart).toEqual(asNothing);
    expect(restChart).toEqual(restNothing);
    expect(leA && { ...leA, leaseName: 'x', leaseNamespace: 'x' }).toEqual(leB && { ...leB, leaseName: 'x', leaseNamespace: 'x' });
  });

  it.each<[string, string, string, (s: OperatorSettings) => unknown, unknown]>([
    ['--namespace', 'MODELPLANE_NAMESPACE', 'a,b', (s) => s.namespaces, ['a', 'b']],
    ['--workers', 'MODELPLANE_WORKERS', '9', (s) => s.workers, 9],
    ['--metrics-port', 'MODELPLANE_METRICS_PORT', '9100', (s) => s.metricsPort, 9100],
    ['--leader-elect', 'MODELPLANE_LEADER_ELECT', 'false', (s) => s.leaderElection, false],
    ['--lease-name', 'MODELPLANE_LEASE_NAME', 'l2', (s) => s.leaderElection && s.leaderElection.leaseName, 'l2'],
    ['--lease-namespace', 'MODELPLANE_LEASE_NAMESPACE', 'ops', (s) => s.leaderElection && s.leaderElection.leaseNamespace, 'ops'],
    ['--leader-elect-lease-duration', 'MODELPLANE_LEADER_ELECT_LEASE_DURATION', '1m', (s) => s.leaderElection && s.leaderElection.leaseDurationMs, 60_000],
    ['--leader-elect-renew-deadline', 'MODELPLANE_LEADER_ELECT_RENEW_DEADLINE', '5500ms', (s) => s.leaderElection && s.leaderElection.renewDeadlineMs, 5500],
    ['--leader-elect-retry-period', 'MODELPLANE_LEADER_ELECT_RETRY_PERIOD', '0.5', (s) => s.leaderElection && s.leaderElection.retryPeriodMs, 500],
    ['--resync-seconds', 'MODELPLANE_RESYNC_SECONDS', '0', (s) => s.resyncMs, 0],
    ['--api-timeout', 'MODELPLANE_API_TIMEOUT', '1m30s', (s) => s.requestTimeoutMs, 90_000],
    ['--watch-timeout-seconds', 'MODELPLANE_WATCH_TIMEOUT_SECONDS', '60', (s) => s.watchTimeoutSeconds, 60],
    ['--autoscale-interval', 'MODELPLANE_AUTOSCALE_INTERVAL', '500ms', (s) => s.autoscaler.intervalMs, 500],
    ['--autoscale-stable-window', 'MODELPLANE_AUTOSCALE_STABLE_WINDOW', '2m', (s) => s.autoscaler.stableWindowMs, 120_000],
    ['--autoscale-panic-window', 'MODELPLANE_AUTOSCALE_PANIC_WINDOW', '10', (s) => s.autoscaler.panicWindowMs, 10_000],
    ['--prometheus-address', 'MODELPLANE_PROMETHEUS_ADDRESS', 'https://prom.example.com', (s) => s.config.prometheusAddress, 'https://prom.example.com'],
    ['--gateway-selector', 'MODELPLANE_GATEWAY_SELECTOR', 'app.kubernetes.io/component=gateway,app.kubernetes.io/instance=mp', (s) => s.autoscaler.gateway, { selector: 'app.kubernetes.io/component=gateway,app.kubernetes.io/instance=mp' }],
    ['--log-level', 'MODELPLANE_LOG_LEVEL', 'warn', (s) => s.logLevel, 'warn'],
    ['--kubeconfig', 'MODELPLANE_KUBECONFIG', '/k', (s) => s.kubeconfig, '/k'],
    ['--runtime-image', 'MODELPLANE_RUNTIME_IMAGE', 'r:1', (s) => s.config.runtimeImage, 'r:1'],
    ['--runtime-gpu-image', 'MODELPLANE_RUNTIME_GPU_IMAGE', 'g:1', (s) => s.config.runtimeGpuImage, 'g:1'],
    ['--runtime-resources', 'MODELPLANE_RUNTIME_RESOURCES', '{"limits":{"memory":"1Gi"}}', (s) => s.config.defaultResources, { limits: { memory: '1Gi' } }],
    ['--runtime-image-pull-policy', 'MODELPLANE_RUNTIME_IMAGE_PULL_POLICY', 'Never', (s) => s.config.imagePullPolicy, 'Never'],
    ['--runtime-image-pull-secrets', 'MODELPLANE_RUNTIME_IMAGE_PULL_SECRETS', 'one,two', (s) => s.config.imagePullSecrets, ['one', 'two']],
    ['--runtime-pvc-root', 'MODELPLANE_RUNTIME_PVC_ROOT', '/claims', (s) => s.config.pvcRoot, '/claims'],
    ['--runtime-log-level', 'MODELPLANE_RUNTIME_LOG_LEVEL', 'debug', (s) => s.config.logLevel, 'debug'],
    ['--runtime-run-as-user', 'MODELPLANE_RUNTIME_RUN_AS_USER', '1000', (s) => s.config.runAsUser, 1000],
    ['--runtime-prestop-sleep-seconds', 'MODELPLANE_RUNTIME_PRESTOP_SLEEP_SECONDS', '0', (s) => s.config.preStopSleepSeconds, 0],
    ['--runtime-termination-grace-period-seconds', 'MODELPLANE_RUNTIME_TERMINATION_GRACE_PERIOD_SECONDS', '30', (s) => s.config.terminationGracePeriodSeconds, 30],
    ['--runtime-startup-timeout-seconds', 'MODELPLANE_RUNTIME_STARTUP_TIMEOUT_SECONDS', '600', (s) => s.config.startupTimeoutSeconds, 600],
    ['--runtime-gpu-tolerations', 'MODELPLANE_RUNTIME_GPU_TOLERATIONS', '[{"key":"k","operator":"Exists"}]', (s) => s.config.gpuTolerations, [{ key: 'k', operator: 'Exists' }]],
  ])('%s and %s', async (flagName, env, value, pick, expected) => {
    expect(pick(operatorSettings(await parse([`${flagName}=${value}`])))).toEqual(expected);
    expect(pick(operatorSettings(await parse([], { [env]: value })))).toEqual(expected);
  });

  it.each<[string[], RegExp]>([
    [['--runtime-image-pull-policy=Sometimes'], /Allowed choices are Always, IfNotPresent, Never/],
    [['--runtime-run-as-user=0'], /--runtime-run-as-user: must be an integer from 1 to 2147483647, got "0"/],
    [['--runtime-resources={'], /--runtime-resources: invalid JSON/],
    [['--runtime-gpu-tolerations={"key":"k"}'], /--runtime-gpu-tolerations: must be a JSON list/],
    [['--runtime-gpu-tolerations=[{"key":"k","operator":"Maybe"}]'], /--runtime-gpu-tolerations\[0\]\.operator: must be Exists or Equal/],
    [['--runtime-pvc-root=claims'], /--runtime-pvc-root: must be an absolute path/],
    [['--runtime-termination-grace-period-seconds=15'], /--runtime-termination-grace-period-seconds: must be at least 16 with a preStop sleep of 5 s \(the sleep, the runtime's 5 s drain window and 6 s for in-flight work to end\), got 15/],
    [['--runtime-prestop-sleep-seconds=60'], /--runtime-termination-grace-period-seconds: must be at least 71 with a preStop sleep of 60 s/],
    [['--leader-elect-renew-deadline=20s'], /--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline/],
    [['--leader-elect-retry-period=11s'], /--leader-elect-renew-deadline must be longer than --leader-elect-retry-period/],
    [['--api-timeout=soon'], /--api-timeout: must be a duration such as 500ms, 10s, 5m or 1m30s, got "soon"/],
    [['--autoscale-interval=50ms'], /--autoscale-interval: must be at least 100 ms, got "50ms"/],
    [['--autoscale-panic-window=90s'], /--autoscale-panic-window must not be longer than --autoscale-stable-window/],
    [['--prometheus-address=prometheus:9090'], /--prometheus-address: must be an http:\/\/ or https:\/\/ URL/],
    [['--gateway-namespace=gw'], /--gateway-namespace needs --gateway-selector/],
    [['--gateway-selector= '], /--gateway-selector: must not be empty/],
    [['--prometheus-address=not a url'], /--prometheus-address: not a URL/],
  ])('refuses %s naming the flag', async (args, message) => {
    const fail = async () => operatorSettings(await parse(args));
    await expect(fail()).rejects.toThrow(message);
  });
});

test('--gateway-namespace names where the gateway pods are; without it, the operator\'s own namespace (decided where it runs)', async () => {
  const s = operatorSettings(await parse(['--gateway-selector=app=gw', '--gateway-namespace=edge']));
  expect(s.autoscaler.gateway).toEqual({ selector: 'app=gw', namespace: 'edge' });
  expect(operatorSettings(await parse([])).autoscaler.gateway).toBeUndefined();
});

describe('the runtime pods\' grace period', () => {
  it.each([0, 5, 60])('is refused below what the Deployment builder needs (preStop %i s), by the chart as by the operator', async (preStop) => {
    const least = minimumGracePeriodSeconds(preStop);
    const render = (grace: number) => helm(['template', 'mp', CHART, '--set', `runtime.preStopSleepSeconds=${preStop}`, '--set', `runtime.terminationGracePeriodSeconds=${grace}`]);
    expect((await render(least)).code).toBe(0);
    const refused = await render(least - 1);
    expect(refused.code).not.toBe(0);
    // Below 11 the values schema refuses it; above, the chart's own check with the message that names the least value.
    expect(refused.stderr).toMatch(least - 1 < 11 ? /at '\/runtime\/terminationGracePeriodSeconds': minimum: got \d+, want 11/ : new RegExp(`runtime.terminationGracePeriodSeconds: must be at least ${least} with runtime.preStopSleepSeconds ${preStop}`));
    await expect(parse([`--runtime-prestop-sleep-seconds=${preStop}`, `--runtime-termination-grace-period-seconds=${least}`]).then(operatorSettings)).resolves.toBeDefined();
    await expect(parse([`--runtime-prestop-sleep-seconds=${preStop}`, `--runtime-termination-grace-period-seconds=${least - 1}`]).then(operatorSettings)).rejects.toThrow(`must be at least ${least} with a preStop sleep of ${preStop} s`);
  });
});
