// The chart and the operator together, without a cluster: the real `modelplane operator` process is started
// with exactly the arguments and environment the chart's Deployment renders, against the fake API server.
// It must come up healthy on the chart's probe port, apply the example's children with the chart's runtime
// image and resources, and every request it makes must be allowed by the chart's RBAC objects.
import { freePort } from '../support/runtime-process.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import yaml from 'js-yaml';
import { findResource, startFakeApiServer, type FakeApiServer, type KObject } from '../support/fake-apiserver/index.js';
import { helm } from '../support/helm.js';
import { terminate } from '../support/processes.js';
import { type KubeObject, isGatewayObject, parseManifests } from './kube-schemas.js';
import { authorize, requestAttributes } from './rbac-authorize.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'modelplane');
const RELEASE_NS = 'modelplane-system';
// The test reads and writes the fake API server's store directly, so its HTTP request log holds the
// operator's requests only.
const MD = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const PDBS = findResource('policy', 'v1', 'poddisruptionbudgets')!;


async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`timed out waiting for ${what}: ${(last as Error)?.message ?? String(last)}`);
}

type Container = {
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
};

/** The container's environment as the kubelet would resolve it for a pod of this Deployment. */
function podEnv(c: Container, podName: string): Record<string, string> {
  const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': RELEASE_NS };
  return Object.fromEntries(c.env.map((e) => [e.name, e.value ?? fields[e.valueFrom!.fieldRef!.fieldPath]]));
}

const stopProcess = (p: ChildProcess) => terminate(p, 10_000);

describe.each([
  ['cluster-wide', [] as string[]],
  ['namespace-scoped', ['--set', 'watchNamespaces={team-a}']],
  ['without leader election', ['--set', 'operator.leaderElection.enabled=false']],
])('the operator as the chart runs it (%s)', (_mode, valueArgs) => {
  const namespace = 'team-a';
  const scoped = valueArgs.some((a) => a.startsWith('watchNamespaces'));
  const electing = !valueArgs.some((a) => a.startsWith('operator.leaderElection'));
  let api: FakeApiServer;
  let operator: ChildProcess;
  let objects: KubeObject[];
  let container: Container;
  let kubeconfig: string;
  let metricsPort: number;
  let output = '';
  const values = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { runtime: { resources: unknown } };

  beforeAll(async () => {
    api = await startFakeApiServer();
    kubeconfig = api.writeKubeconfig();
    metricsPort = await freePort();
    const r = await helm(['template', 'mp', CHART, '-n', RELEASE_NS, '--set', `metrics.port=${metricsPort}`, ...valueArgs]);
    expect(r.stderr).toBe('');
    objects = parseManifests(r.stdout);
    const deployment = objects.find((o) => o.kind === 'Deployment' && !isGatewayObject(o))!;
    container = (deployment.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0];
    operator = spawn(process.execPath, [join(ROOT, 'bin', 'modelplane.js'), ...container.args, `--kubeconfig=${kubeconfig}`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...podEnv(container, 'mp-modelplane-7d9f-abcde') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    operator.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    operator.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  });

  afterAll(async () => {
    if (operator) await stopProcess(operator);
    if (api) await api.stop();
    if (kubeconfig) rmSync(dirname(kubeconfig), { recursive: true, force: true });
  });

  test('comes up healthy and ready on the probe port, applies the example with the chart defaults, and stops cleanly', async () => {
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      await eventually(`${probe.httpGet.path} on port ${metricsPort} (operator output: ${output.slice(-2000)})`, async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}${probe.httpGet.path}`);
        if (res.status !== 200) throw new Error(`${probe.httpGet.path} answered ${res.status}`);
      });
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^# TYPE \S+ /m);

    const example = parseManifests(readFileSync(join(ROOT, 'examples', 'cpu.yaml'), 'utf8'))[0];
    const name = example.metadata.name;
    // No spec.resources, so the runtime container gets the chart's runtime.resources.
    const { resources: _omitted, ...spec } = example.spec as Record<string, unknown>;
    api.store.create(MD, namespace, { ...example, metadata: { name }, spec: { ...spec, replicas: 2 } } as never);
    // Outside the watched namespaces (namespace-scoped mode), nothing may happen to this one.
    api.store.create(MD, 'elsewhere', { ...example, metadata: { name }, spec } as never);

    const d = await eventually(`Deployment ${namespace}/${name}`, async () => api.store.mustGet(DEPLOYMENTS, namespace, name));
    const containers = (d as KObject & { spec: { template: { spec: { containers: Array<{ name: string; image: string; resources: unknown }> } } } }).spec.template.spec.containers;
    const runtimeImage = container.args.find((a) => a.startsWith('--runtime-image='))!.split('=')[1];
    expect(containers.map((c) => c.image)).toContain(runtimeImage);
    expect(containers.map((c) => c.resources)).toContainEqual(values.runtime.resources);
    await eventually('a PodDisruptionBudget for 2 replicas', async () => api.store.mustGet(PDBS, namespace, name));
    await eventually('status written', async () => {
      const md = api.store.mustGet(MD, namespace, name) as KObject & { status?: { observedGeneration?: number } };
      if (md.status?.observedGeneration !== 1) throw new Error('no status yet');
    });
    api.store.patch(MD, namespace, name, { spec: { replicas: 1 } }, 'application/merge-patch+json');
    await eventually('the PodDisruptionBudget removed at one replica', async () => {
      if (api.store.get(PDBS, namespace, name)) throw new Error('still there');
    });

    expect(api.store.list(DEPLOYMENTS, 'elsewhere').items.length).toBe(scoped ? 0 : 1);

    expect(await stopProcess(operator)).toBe(0);
    const leaseWrites = api.requests.filter((r) => r.path.includes('/leases') && r.method !== 'GET');
    if (!electing) {
      expect(api.requests.filter((r) => r.path.includes('/leases'))).toEqual([]);
      return;
    }
    expect(leaseWrites.length).toBeGreaterThan(0);
    const leaseName = container.args.find((a) => a.startsWith('--lease-name='))!.split('=')[1];
    expect(leaseWrites.every((r) => r.path.startsWith(`/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NS}/leases`))).toBe(true);
    expect(api.requests.some((r) => r.path.endsWith(`/leases/${leaseName}`))).toBe(true);
  });

  test("every request the operator made is allowed by the chart's RBAC", () => {
    const sa = { namespace: RELEASE_NS, name: (objects.find((o) => o.kind === 'ServiceAccount' && !isGatewayObject(o))!).metadata.name };
    expect(api.requests.length).toBeGreaterThan(10);
    const denied = api.requests
      .flatMap((r) => requestAttributes(r.method, r.path, r.query, r.method === 'PATCH' && r.status === 201))
      .filter((a) => !authorize(objects, sa, a))
      .map((a) => `${a.verb} ${a.group || 'core'}/${a.resource} ${a.namespace ?? '(cluster)'}/${a.name ?? ''}`);
    expect([...new Set(denied)]).toEqual([]);
  });
});
