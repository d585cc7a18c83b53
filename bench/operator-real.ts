// `npm run bench:operator -- --real`: 1000 ModelDeployments against a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler from KUBE_BIN_DIR, sharing this machine's cores), with
// simulated nodes marking the scheduled pods Running and Ready. Prints the time until every ModelDeployment is Ready,
// the operator's peak resident memory, and what it writes in 60 s of idling (a resync included).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { crdYaml } from '../operator/api/crd.js';
import { startControlPlane } from '../test/support/kube/control-plane.js';
import { NodeSimulator } from '../test/support/kube/node-simulator.js';
import { kubectl } from '../test/support/helm.js';
import { report, startOperatorProcess, waitFor } from './operator-process.js';

const COUNT = Number(process.env.BENCH_MODELDEPLOYMENTS ?? 1000);
const IDLE_SECONDS = 60;
const RESYNC_SECONDS = 30;
const NODES = 5;
const NS = 'bench';
const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };
const TARGETS = { readySeconds: 300, idleWrites: 0, peakRssMb: 150 };

const cp = await startControlPlane();
const work = mkdtempSync(join(tmpdir(), 'modelplane-bench-'));
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfig);
let ok = false;
let sim: NodeSimulator | undefined;
let operator: Awaited<ReturnType<typeof startOperatorProcess>> | undefined;
try {
  writeFileSync(join(work, 'crd.yaml'), crdYaml());
  const applied = await kubectl(['--kubeconfig', cp.kubeconfig, 'apply', '-f', join(work, 'crd.yaml')], 60_000);
  if (applied.code !== 0) throw new Error(applied.stderr);
  await kubectl(['--kubeconfig', cp.kubeconfig, 'wait', '--for=condition=Established', 'crd/modeldeployments.serving.modelplane.io', '--timeout=60s'], 70_000);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  const perNode = Math.ceil(COUNT / NODES) + 10;
  sim = await new NodeSimulator(kc, { nodes: Array.from({ length: NODES }, (_, i) => ({ name: `node-${i}`, cpu: String(perNode * 2), memory: `${perNode * 4}Gi`, pods: String(perNode) })) }).start();
  operator = await startOperatorProcess(cp.kubeconfig, ['--resync-seconds', String(RESYNC_SECONDS), '--namespace', NS]);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const started = Date.now();
  for (let i = 0; i < COUNT; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, COUNT - i) }, (_, j) => custom.createNamespacedCustomObject({
      ...MD, namespace: NS,
      body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: `model-${i + j}` }, spec: { model: { uri: `https://models.example/m${i + j}/model.onnx` }, replicas: 1 } },
    })));
  }
  const createdSeconds = (Date.now() - started) / 1000;
  const ready = async () => {
    const list = (await custom.listNamespacedCustomObject({ ...MD, namespace: NS })) as { items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> };
    return list.items.filter((m) => m.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  };
  let lastReady = 0;
  await waitFor(`${COUNT} ModelDeployments Ready`, async () => (lastReady = await ready()) === COUNT, TARGETS.readySeconds * 2000, 2000).catch((err: Error) => {
    throw new Error(`${err.message} (${lastReady} Ready)`);
  });
  const readySeconds = (Date.now() - started) / 1000;
  console.log(`ready: ${COUNT} ModelDeployments created in ${createdSeconds.toFixed(1)} s, all Ready (Deployment, ReplicaSet, pod scheduled and running on a simulated node) in ${readySeconds.toFixed(1)} s`);
  const before = await operator.writes();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idleWrites = (await operator.writes()) - before;
  console.log(`idle: ${idleWrites} writes in ${IDLE_SECONDS} s (a resync every ${RESYNC_SECONDS} s)`);
  const peakMb = operator.peakMb();
  console.log(`memory: operator peak resident set ${peakMb.toFixed(1)} MiB`);
  ok = report([
    [`all Ready <= ${TARGETS.readySeconds} s`, readySeconds <= TARGETS.readySeconds, `${readySeconds.toFixed(1)} s`],
    [`writes in ${IDLE_SECONDS} s idle = ${TARGETS.idleWrites}`, idleWrites === TARGETS.idleWrites, String(idleWrites)],
    [`peak RSS <= ${TARGETS.peakRssMb} MB`, peakMb <= TARGETS.peakRssMb, `${peakMb.toFixed(1)} MiB`],
  ]);
} catch (err) {
  console.error(`bench:operator --real failed: ${(err as Error).message}`);
} finally {
  await operator?.stop();
  await sim?.stop();
  await cp.stop();
  rmSync(work, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
