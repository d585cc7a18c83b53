// The gateway on a real control plane, as the chart runs it: `modelplane gateway` with the chart's arguments and its
// own ServiceAccount's token (so the chart's gateway role is what the API server authorizes), the operator likewise,
// the real EndpointSlice controller writing each Service's slices, and the node simulator running real runtime
// processes on pod IPs added to the loopback interface (a real API server refuses 127.0.0.0/8 in EndpointSlices, so
// the simulator's usual loopback pod IPs never reach the gateway; adding addresses needs root: without it the test
// is skipped, saying so). A deployment at zero replicas: the first request through the gateway is held, the
// gateway patches /scale, and the request is answered once the pod is ready.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { simpleModel, writeModel } from '../../examples/onnx-models.js';
import { installChart, startOperator, cleanUpInstall, type ChartInstall, type RunningOperator } from '../support/kube/chart-operator.js';
import { kubeconfigYaml } from '../support/kube/control-plane.js';
import { canRouteSimulatedPods, NodeSimulator } from '../support/kube/node-simulator.js';
import { describeOnRealCluster, freshNamespace } from '../support/kube/real-cluster.js';
import { terminate } from '../support/processes.js';
import { CLI, REPO, freePort } from '../support/runtime-process.js';
import { waitFor } from '../support/wait-for.js';

const ROUTABLE = canRouteSimulatedPods();
/**
 * Its node takes only its own pods: suites share the control plane, and another suite's pod scheduled here would run
 * under this suite's simulator, out of that suite's sight.
 */
const SUITE_TAINT = { key: 'modelplane.io/test-suite', value: 'gateway', effect: 'NoSchedule' };
const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };

describeOnRealCluster('the gateway as the chart runs it', (cluster) => {
  const custom = cluster.kc.makeApiClient(CustomObjectsApi);
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-cluster-gateway-'));
  const model = writeModel(join(dir, 'tiny.onnx'), simpleModel(16));
  let ns: string;
  let install: ChartInstall;
  let op: RunningOperator;
  let sim: NodeSimulator;
  let gateway: ChildProcess;
  let output = '';
  let port: number;
  let healthPort: number;

  beforeAll(async () => {
    if (!ROUTABLE) return;
    ns = await freshNamespace(cluster.kc, 'gw');
    install = await installChart(cluster, await freshNamespace(cluster.kc, 'modelplane-system'), ['--set', `watchNamespaces={${ns}}`]);
    expect(install.gateway).toBeDefined();
    sim = await new NodeSimulator(cluster.kc, { runRuntimes: true, routablePodIPs: true, nodes: [{ name: `cpu-${ns}`, cpu: '16', memory: '64Gi', taints: [SUITE_TAINT] }] }).start();
    op = startOperator(install, { extraArgs: ['--watch-timeout-seconds=5', '--runtime-prestop-sleep-seconds=0', '--runtime-termination-grace-period-seconds=12'] });

    // The gateway's own ServiceAccount token: the API server authorizes it by the chart's gateway Role.
    const sa = install.gateway!.serviceAccount;
    const token = await core.createNamespacedServiceAccountToken({ name: sa, namespace: install.namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const kubeconfig = join(dir, 'gateway-kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(cluster.server, cluster.caFile, `system:serviceaccount:${install.namespace}:${sa}`, token.status!.token, install.namespace), { mode: 0o600 });
    [port, healthPort] = [await freePort(), await freePort()];
    const args = install.gateway!.container.args.filter((a) => !/^--(port|grpc-port|health-port)=/.test(a));
    gateway = spawn(process.execPath, [CLI, ...args, `--port=${port}`, '--grpc-port=0', `--health-port=${healthPort}`, '--host=127.0.0.1', `--kubeconfig=${kubeconfig}`, '--watch-timeout-seconds=5'], { cwd: REPO, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    gateway.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    gateway.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(`the gateway ready (output: ${output.slice(-2000)})`, async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200, 60_000, 250);
  }, 120_000);

  afterAll(async () => {
    if (gateway) await terminate(gateway, 20_000);
    await op?.stop();
    await sim?.stop();
    if (install) cleanUpInstall(install);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  if (!ROUTABLE) console.warn('skipped: the gateway on a real API server needs pod IPs outside 127.0.0.0/8, which this user may not add to the loopback interface (ip addr add needs root)');
  (ROUTABLE ? it : it.skip)('holds the first request for a deployment at zero, patches /scale with its own role, and answers it once the pod is ready', async () => {
    await custom.createNamespacedCustomObject({ ...MD, namespace: ns, body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'tiny' }, spec: { model: { uri: `file://${model}` }, replicas: 0, autoscaling: { mode: 'builtin', minReplicas: 0, maxReplicas: 2 }, scheduling: { tolerations: [{ ...SUITE_TAINT, operator: 'Equal' }] } } } });
    await waitFor('the model listed at zero', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/v2/repository/index`, { method: 'POST', body: '{}' });
      return ((await r.json()) as Array<{ name: string }>).some((m) => m.name === 'tiny');
    }, 60_000, 250);
    const body = JSON.stringify({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i) })) });
    const r = await fetch(`http://127.0.0.1:${port}/v2/models/tiny/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { outputs: Array<{ data: number[] }> }).outputs[0].data[3]).toBe(6);
    const md = (await custom.getNamespacedCustomObject({ ...MD, namespace: ns, name: 'tiny' })) as { spec: { replicas: number } };
    expect(md.spec.replicas).toBe(1);
    // Its EndpointSlice came from the real controller, which the gateway read with its own permissions.
    expect(output).not.toMatch(/forbidden|refused by the API server/i);
  }, 180_000);
});
