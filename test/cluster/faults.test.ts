// Faults a real API server cannot be told to make, put between the operator and it by a fault-injecting proxy:
// lease renewals that hang, 500s, dropped watches; and a permission the operator's role lacks.
import { afterAll, afterEach, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { installChart, startOperator, cleanUpInstall, type ChartInstall, type RunningOperator } from '../support/kube/chart-operator.js';
import { kubeconfigYaml } from '../support/kube/control-plane.js';
import { FaultProxy } from '../support/kube/fault-proxy.js';
import { describeOnRealCluster, freshNamespace } from '../support/kube/real-cluster.js';
import { freePort } from '../support/runtime-process.js';
import { eventually } from '../operator/integration/harness.js';

const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };
const LEASE = ['--set', 'operator.leaderElection.leaseDuration=4s', '--set', 'operator.leaderElection.renewDeadline=3s', '--set', 'operator.leaderElection.retryPeriod=500ms'];

describeOnRealCluster('the operator behind a faulty network', (cluster) => {
  const started: RunningOperator[] = [];
  const installs: ChartInstall[] = [];
  const proxies: FaultProxy[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-faults-'));

  afterEach(async () => {
    for (const o of started.splice(0)) await o.stop();
    for (const p of proxies.splice(0)) await p.stop();
  });
  afterAll(() => {
    installs.forEach(cleanUpInstall);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The chart installed for one namespace, and a kubeconfig of its ServiceAccount that goes through a new proxy. */
  async function setUp(prefix: string): Promise<{ install: ChartInstall; proxy: FaultProxy; viaProxy: string; ns: string }> {
    const ns = await freshNamespace(cluster.kc, prefix);
    const install = await installChart(cluster, await freshNamespace(cluster.kc, `${prefix}-system`), [...LEASE, '--set', `watchNamespaces={${ns}}`]);
    installs.push(install);
    const proxy = await new FaultProxy(cluster.server, cluster.caFile).start();
    proxies.push(proxy);
    const { users } = yaml.load((await import('node:fs')).readFileSync(install.kubeconfig, 'utf8')) as { users: Array<{ name: string; user: { token: string } }> };
    const viaProxy = join(dir, `${prefix}.kubeconfig`);
    writeFileSync(viaProxy, kubeconfigYaml(proxy.url, cluster.caFile, users[0].name, users[0].user.token, install.namespace));
    return { install, proxy, viaProxy, ns };
  }

  const run = (install: ChartInstall, opts: Parameters<typeof startOperator>[1]) => {
    const o = startOperator(install, opts);
    started.push(o);
    return o;
  };
  const ready = (o: RunningOperator) => eventually(async () => expect((await fetch(`http://127.0.0.1:${o.metricsPort}/readyz`)).status).toBe(200), 60_000, 200);

  it('a leader whose lease renewals hang stops by its renew deadline and exits non-zero; the standby then takes over', async () => {
    const { install, proxy, viaProxy } = await setUp('hang');
    const leases = cluster.kc.makeApiClient(CoordinationV1Api);
    const leaseName = install.container.args.find((a) => a.startsWith('--lease-name='))!.split('=')[1];
    const holder = async () => (await leases.readNamespacedLease({ name: leaseName, namespace: install.namespace })).spec?.holderIdentity ?? '';
    const leader = run(install, { kubeconfig: viaProxy, podName: 'leader' });
    await eventually(async () => expect(await holder()).toMatch(/^leader/), 30_000, 200);
    const standby = run(install, { podName: 'standby', metricsPort: await freePort() });
    await ready(standby);
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => leader.proc.once('exit', (code) => resolve({ code, at: Date.now() })));
    const hungAt = Date.now();
    proxy.hang(1_000_000, (_method, path) => path.includes('/leases/'));
    const { code, at } = await exited;
    expect(code).not.toBe(0);
    // The renew deadline (3 s) from the last renewal, which can be up to a retry period (0.5 s) before the hang.
    expect(at - hungAt).toBeLessThan(3000 + 2000);
    expect(leader.logs().some((l) => l.level === 'error' && /lost leadership/.test(String(l.message)))).toBe(true);
    await eventually(async () => expect(await holder()).toMatch(/^standby/), 30_000, 200);
    await ready(standby);
  }, 120_000);

  it('rides out 500s on its lists and dropped watches: informers restart, watches resume, the ModelDeployment converges', async () => {
    const { install, proxy, viaProxy, ns } = await setUp('flaky');
    proxy.fail(3, 500, (method, path, query) => method === 'GET' && path.endsWith('/modeldeployments') && query.get('watch') !== 'true');
    const op = run(install, { kubeconfig: viaProxy, extraArgs: ['--watch-timeout-seconds=30'] });
    await eventually(async () => {
      expect(proxy.requests.filter((r) => r.status === 500)).toHaveLength(3);
      expect(await op.metricTotal('modelplane_operator_informer_restarts_total')).toBeGreaterThan(0);
      expect(await op.metric('modelplane_operator_leader')).toBe(1);
    }, 30_000, 200);
    await ready(op);
    expect(proxy.dropWatches()).toBeGreaterThan(0);
    const custom = cluster.kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...MD, namespace: ns, body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'm' }, spec: { model: { uri: 'https://models.example/m.onnx' } } } });
    await eventually(async () => {
      const m = (await custom.getNamespacedCustomObject({ ...MD, namespace: ns, name: 'm' })) as { status?: { observedGeneration?: number } };
      expect(m.status?.observedGeneration).toBe(1);
    }, 30_000, 250);
  }, 90_000);

  it('logs at error, with its verb and resource, a request its role does not allow', async () => {
    const { install } = await setUp('denied');
    // Without the Role that lets it hold its Lease.
    const rbac = cluster.kc.makeApiClient(RbacAuthorizationV1Api);
    const role = install.objects.find((o) => o.kind === 'Role' && JSON.stringify(o).includes('leases'))!;
    await rbac.deleteNamespacedRole({ name: role.metadata.name, namespace: role.metadata.namespace ?? install.namespace });
    const op = run(install, {});
    await eventually(() => {
      const denied = op.logs().find((l) => l.level === 'error' && l.resource === 'leases.coordination.k8s.io');
      expect(denied).toMatchObject({ verb: 'get', namespace: install.namespace, error: expect.stringMatching(/cannot get resource "leases" in API group "coordination.k8s.io"/) });
    }, 30_000, 250);
  }, 60_000);
});
