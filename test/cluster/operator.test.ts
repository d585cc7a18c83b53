// The operator on a real control plane, as the chart runs it: its own ServiceAccount, roles and flags (token from the
// TokenRequest API), nodes simulated with real `modelplane serve` processes on loopback pod IPs, the real scheduler,
// Deployment, ReplicaSet, garbage-collector and HPA controllers, and real Leases.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, PolicyV1Api, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import OpenAI from 'openai';
import { mlpModel, simpleModel, writeModel } from '../../examples/onnx-models.js';
import { writeDecoderModelDir } from '../../examples/decoder-model.js';
import { kubectl } from '../support/helm.js';
import { installChart, startOperator, cleanUpInstall, type ChartInstall, type RunningOperator } from '../support/kube/chart-operator.js';
import { NodeSimulator } from '../support/kube/node-simulator.js';
import { describeOnRealCluster, freshNamespace } from '../support/kube/real-cluster.js';
import { eventually, sleep } from '../operator/integration/harness.js';

const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };
type Condition = { type: string; status: string; reason: string; message: string; observedGeneration: number };
type Md = { metadata: { name: string; generation: number; uid: string }; spec: Record<string, unknown>; status?: { observedGeneration?: number; readyReplicas?: number; url?: string; selector?: string; conditions?: Condition[] } };

/** Timings short enough for tests; everything else as the chart renders it. */
const FAST = [
  '--resync-seconds=10', '--watch-timeout-seconds=5', '--runtime-prestop-sleep-seconds=0', '--runtime-termination-grace-period-seconds=12',
  '--autoscale-interval=1s', '--autoscale-stable-window=6s', '--autoscale-panic-window=2s',
];
const LEASE = ['--set', 'operator.leaderElection.leaseDuration=4s', '--set', 'operator.leaderElection.renewDeadline=3s', '--set', 'operator.leaderElection.retryPeriod=500ms'];

describeOnRealCluster('the operator as the chart runs it', (cluster) => {
  const custom = cluster.kc.makeApiClient(CustomObjectsApi);
  const apps = cluster.kc.makeApiClient(AppsV1Api);
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const k = (...args: string[]) => kubectl(['--kubeconfig', cluster.kubeconfig, ...args], 60_000);
  const models = mkdtempSync(join(tmpdir(), 'modelplane-cluster-models-'));
  const tiny = writeModel(join(models, 'tiny.onnx'), simpleModel(16));
  const chat = writeDecoderModelDir(join(models, 'chat')).dir;
  let ns: string;
  let quotaNs: string;
  let install: ChartInstall;
  let op: RunningOperator;
  let sim: NodeSimulator;
  let standby: RunningOperator | undefined;

  const read = async (name: string, namespace = ns) => (await custom.getNamespacedCustomObject({ ...MD, namespace, name })) as Md;
  const create = (name: string, spec: Record<string, unknown>, namespace = ns) => custom.createNamespacedCustomObject({ ...MD, namespace, body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name }, spec } });
  const condition = (m: Md, type: string) => m.status?.conditions?.find((c) => c.type === type);
  const until = (name: string, check: (m: Md) => void, timeoutMs = 60_000, namespace = ns) => eventually(async () => {
    const m = await read(name, namespace);
    check(m);
    return m;
  }, timeoutMs, 250);
  const podsOf = async (name: string, namespace = ns) => (await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${name}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
  const infer = (pod: V1Pod, model: string, inputs: Record<string, number[]>) => fetch(`http://${pod.status!.podIP}:8080/v2/models/${model}/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: Object.entries(inputs).map(([name, data]) => ({ name, datatype: 'FP32', shape: [1, data.length], data })) }),
  });
  const ramp = (n: number) => Array.from({ length: n }, (_, i) => i / n);
  const writes = async (o: RunningOperator) => (await o.metric('modelplane_operator_status_writes_total')) + (await o.metric('modelplane_operator_child_applies_total', '{kind="Deployment"}')) + (await o.metric('modelplane_operator_child_applies_total', '{kind="Service"}'));

  beforeAll(async () => {
    ns = await freshNamespace(cluster.kc, 'ml');
    quotaNs = await freshNamespace(cluster.kc, 'quota');
    install = await installChart(cluster, await freshNamespace(cluster.kc, 'modelplane-system'), [...LEASE, '--set', `watchNamespaces={${ns},${quotaNs}}`]);
    sim = await new NodeSimulator(cluster.kc, {
      runRuntimes: true,
      nodes: [
        { name: `cpu-${ns}`, cpu: '16', memory: '64Gi' },
        { name: `gpu-${ns}`, cpu: '16', memory: '64Gi', gpus: 1, labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' }, taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] },
      ],
    }).start();
    op = startOperator(install, { extraArgs: FAST });
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${op.metricsPort}/readyz`)).status).toBe(200), 60_000, 250);
  }, 120_000);

  afterAll(async () => {
    await standby?.stop();
    await op?.stop();
    await sim?.stop();
    cleanUpInstall(install);
    rmSync(models, { recursive: true, force: true });
  }, 60_000);

  it('turns a ModelDeployment into owned children and real runtime pods that answer; Ready with observedGeneration, url and selector', async () => {
    await create('tiny', { model: { uri: `file://${tiny}` }, replicas: 1 });
    const m = await until('tiny', (x) => expect(condition(x, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' }), 90_000);
    expect(m.status).toMatchObject({ observedGeneration: m.metadata.generation, readyReplicas: 1, url: `http://tiny.${ns}.svc:8080/v2/models/tiny`, selector: 'app.kubernetes.io/instance=tiny,app.kubernetes.io/name=modelplane-runtime' });
    expect(m.status!.conditions!.every((c) => c.observedGeneration === m.metadata.generation)).toBe(true);
    const d = await apps.readNamespacedDeployment({ name: 'tiny', namespace: ns });
    expect(d.metadata!.ownerReferences![0]).toMatchObject({ kind: 'ModelDeployment', uid: m.metadata.uid, controller: true, blockOwnerDeletion: true });
    const [pod] = await podsOf('tiny');
    expect(pod.spec!.nodeName).toBe(`cpu-${ns}`);
    const r = await infer(pod, 'tiny', { INPUT0: ramp(16), INPUT1: ramp(16).map(() => 1) });
    expect(r.status).toBe(200);
    const out = ((await r.json()) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> }).outputs.find((o) => o.name === 'OUTPUT0')!;
    expect(out.shape).toEqual([1, 16]);
    expect(out.data).toEqual(ramp(16).map((x) => Math.fround(Math.fround(x) + 1)));
    // kubectl wait works because every condition carries the generation.
    expect((await k('wait', '-n', ns, '--for=condition=Ready', 'mdp/tiny', '--timeout=10s')).code).toBe(0);
  }, 120_000);

  it('writes nothing while idle: what it wrote is what the API server keeps, through a resync and a watch timeout', async () => {
    const before = await writes(op);
    const status = (await read('tiny')).status;
    await sleep(12_000);
    expect(await writes(op)).toBe(before);
    expect((await read('tiny')).status).toEqual(status);
  }, 30_000);

  it('follows kubectl scale through the scale subresource: replicas, pods, runtimes and a PodDisruptionBudget', async () => {
    expect((await k('scale', '-n', ns, 'mdp/tiny', '--replicas=2')).code).toBe(0);
    await until('tiny', (x) => expect(x.status?.readyReplicas).toBe(2), 90_000);
    expect((await apps.readNamespacedDeployment({ name: 'tiny', namespace: ns })).spec!.replicas).toBe(2);
    expect(sim.running().filter((key) => key.startsWith(`${ns}/tiny-`))).toHaveLength(2);
    await eventually(() => cluster.kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'tiny', namespace: ns }), 30_000, 250);
  }, 120_000);

  it('rolls a spec edit out through the Deployment controller: new generation, new runtime flags, new pods', async () => {
    const oldPods = (await podsOf('tiny')).map((p) => p.metadata!.name);
    const generation = (await read('tiny')).metadata.generation + 1;
    await custom.patchNamespacedCustomObject({ ...MD, namespace: ns, name: 'tiny', body: { spec: { runtime: { maxQueueSize: 64 } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const m = await until('tiny', (x) => {
      expect(x.metadata.generation).toBe(generation);
      expect(x.status?.observedGeneration).toBe(generation);
      expect(condition(x, 'Ready')?.status).toBe('True');
    }, 120_000);
    expect(m.status?.readyReplicas).toBe(2);
    const args = (await apps.readNamespacedDeployment({ name: 'tiny', namespace: ns })).spec!.template.spec!.containers[0].args!;
    expect(args[args.indexOf('--max-queue-size') + 1]).toBe('64');
    const pods = await podsOf('tiny');
    expect(pods.filter((p) => oldPods.includes(p.metadata!.name))).toEqual([]);
    // The old pods' runtimes drain (within the grace period), then only the new ones run.
    const current = pods.map((p) => `${ns}/${p.metadata!.name}`).sort();
    await eventually(() => expect(sim.running().filter((key) => key.startsWith(`${ns}/tiny-`)).sort()).toEqual(current), 30_000, 500);
  }, 150_000);

  it('undoes a user\'s edit of a field it owns and keeps a field it does not own (server-side apply ownership)', async () => {
    expect((await k('set', 'image', '-n', ns, 'deployment/tiny', 'runtime=example.com/other:1')).code).toBe(0);
    expect((await k('annotate', '-n', ns, 'deployment/tiny', 'team=ranking')).code).toBe(0);
    await eventually(async () => {
      const d = await apps.readNamespacedDeployment({ name: 'tiny', namespace: ns });
      expect(d.spec!.template.spec!.containers[0].image).not.toBe('example.com/other:1');
      expect(d.metadata!.annotations!.team).toBe('ranking');
    }, 30_000, 250);
  }, 60_000);

  it('reports the real scheduler\'s message when no node has the GPUs a replica asks for', async () => {
    await create('big', { model: { uri: `file://${tiny}` }, gpu: { count: 2 } });
    const m = await until('big', (x) => expect(condition(x, 'Ready')?.reason).toBe('Unschedulable'), 60_000);
    // Other suites on the same control plane may have nodes of their own at the time: the count is theirs too.
    expect(condition(m, 'Ready')!.message).toMatch(/0\/\d+ nodes are available: .*Insufficient nvidia\.com\/gpu/);
  }, 90_000);

  it('reports pods the API server refuses at admission: a missing RuntimeClass, a ResourceQuota', async () => {
    await create('rc', { model: { uri: `file://${tiny}` }, scheduling: { runtimeClassName: 'nvidia' } });
    const rc = await until('rc', (x) => expect(condition(x, 'Ready')?.reason).toBe('PodsRejected'), 60_000);
    expect(condition(rc, 'Ready')!.message).toMatch(/^pods "rc-[0-9a-z]+-" is forbidden: pod rejected: RuntimeClass "nvidia" not found$/);
    await core.createNamespacedResourceQuota({ namespace: quotaNs, body: { metadata: { name: 'no-pods' }, spec: { hard: { pods: '0' } } } });
    await create('quota', { model: { uri: `file://${tiny}` } }, quotaNs);
    const q = await until('quota', (x) => expect(condition(x, 'Ready')?.reason).toBe('PodsRejected'), 60_000, quotaNs);
    // Quota admission runs after the pod's name is generated, so its message names the pod itself.
    expect(condition(q, 'Ready')!.message).toMatch(/^pods "quota-[0-9a-z]+-[0-9a-z]+" is forbidden: exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0$/);
  }, 120_000);

  it('in mode hpa, says what the real HPA controller says: without a metrics adapter it cannot scale', async () => {
    await create('scaled', { model: { uri: `file://${tiny}` }, autoscaling: { mode: 'hpa', minReplicas: 1, maxReplicas: 3 } });
    // The controller-manager learns a new CRD's kind from discovery within half a minute; until then the HPA says it
    // cannot get the scale (FailedGetScale), then that it has no metric (no custom metrics API in this cluster).
    const m = await until('scaled', (x) => expect(condition(x, 'Autoscaling')?.reason).toBe('FailedGetPodsMetric'), 90_000);
    expect(condition(m, 'Autoscaling')).toMatchObject({ status: 'False', message: expect.stringMatching(/^HorizontalPodAutoscaler ScalingActive is False: .*modelplane_request_concurrency/) });
  }, 120_000);

  it('scales real runtimes up under load with the built-in autoscaler, through the Deployment controller, and back down', async () => {
    const busy = writeModel(join(models, 'busy.onnx'), mlpModel(1024, 12));
    await create('busy', { model: { uri: `file://${busy}` }, autoscaling: { mode: 'builtin', minReplicas: 1, maxReplicas: 3, targetConcurrency: 1, scaleDownDelaySeconds: 4 } });
    await until('busy', (x) => expect(condition(x, 'Ready')?.status).toBe('True'), 90_000);
    // Six callers in a loop over the ready pods, which a watcher refreshes once a second.
    let loading = true;
    let ready: V1Pod[] = [];
    const refresh = async () => {
      while (loading) {
        ready = (await podsOf('busy')).filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        await sleep(1000);
      }
    };
    const call = async (i: number) => {
      for (let n = i; loading; n++) {
        const p = ready[n % Math.max(1, ready.length)];
        if (!p) await sleep(100);
        else await infer(p, 'busy', { input: ramp(1024) }).then((r) => r.arrayBuffer(), () => undefined);
      }
    };
    const load = [refresh(), ...Array.from({ length: 6 }, (_, i) => call(i))];
    try {
      await until('busy', (x) => expect(x.status?.readyReplicas).toBe(3), 90_000);
      expect(sim.running().filter((key) => key.startsWith(`${ns}/busy-`))).toHaveLength(3);
    } finally {
      loading = false;
      await Promise.all(load);
    }
    await until('busy', (x) => expect(x.spec.replicas).toBe(1), 60_000);
    await eventually(() => expect(sim.running().filter((key) => key.startsWith(`${ns}/busy-`))).toHaveLength(1), 60_000, 500);
  }, 240_000);

  it('re-lists without writing when its watch expires (etcd compacted past it)', async () => {
    const lists = () => op.metric('modelplane_operator_informer_lists_total', '{informer="modeldeployments"}');
    const before = await lists();
    // The earlier tests' deployments settle first (a scale-down's last status write can come seconds later).
    let written = await writes(op);
    for (let i = 0; i < 20; i++) {
      await sleep(3000);
      const now = await writes(op);
      if (now === written) break;
      written = now;
    }
    const range = (await (await fetch(`${cluster.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) })).json()) as { header: { revision: string } };
    const compacted = await fetch(`${cluster.etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: range.header.revision, physical: true }) });
    expect(compacted.ok).toBe(true);
    await eventually(async () => expect(await lists()).toBeGreaterThan(before), 30_000, 500);
    await sleep(3000);
    expect(await writes(op)).toBe(written);
  }, 120_000);

  it('leaves deletion to the garbage collector: children and runtimes go with their ModelDeployment', async () => {
    await custom.deleteNamespacedCustomObject({ ...MD, namespace: ns, name: 'tiny' });
    await eventually(async () => {
      const left = (await apps.listNamespacedDeployment({ namespace: ns })).items.filter((d) => d.metadata!.name === 'tiny');
      expect(left).toEqual([]);
      expect((await core.listNamespacedService({ namespace: ns })).items.filter((s) => s.metadata!.name === 'tiny')).toEqual([]);
    }, 90_000, 500);
    await eventually(() => expect(sim.running().filter((key) => key.startsWith(`${ns}/tiny-`))).toEqual([]), 60_000, 500);
  }, 180_000);

  it('hands over leadership through the real Lease when the leader is killed', async () => {
    standby = startOperator(install, { extraArgs: FAST, metricsPort: 0, podName: 'mp-modelplane-standby' });
    const leases = cluster.kc.makeApiClient(CoordinationV1Api);
    const leaseName = install.container.args.find((a) => a.startsWith('--lease-name='))!.split('=')[1];
    const holder = async () => (await leases.readNamespacedLease({ name: leaseName, namespace: install.namespace })).spec?.holderIdentity;
    await eventually(async () => expect(await holder()).toBeTruthy(), 30_000, 250);
    expect(await holder()).not.toMatch(/standby/);
    op.proc.kill('SIGKILL');
    await eventually(async () => expect(await holder()).toMatch(/standby/), 30_000, 250);
    await create('after', { model: { uri: `file://${tiny}` } });
    await until('after', (x) => expect(condition(x, 'Ready')?.status).toBe('True'), 90_000);
  }, 150_000);

  it('serves a generative ModelDeployment: Ready, and the openai client streams from its pod', async () => {
    await create('chat', { model: { uri: `file://${chat}/model.onnx` } });
    await until('chat', (x) => expect(condition(x, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' }), 90_000);
    const [pod] = await podsOf('chat');
    const client = new OpenAI({ baseURL: `http://${pod.status!.podIP}:8080/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.completions.create({ model: 'chat', prompt: 'the cluster', max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      chunks++;
    }
    expect(chunks).toBeGreaterThan(1);
    const whole = await client.completions.create({ model: 'chat', prompt: 'the cluster', max_tokens: 6, temperature: 0 });
    expect(whole.choices[0].text).toBe(text);
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    await custom.deleteNamespacedCustomObject({ ...MD, namespace: ns, name: 'chat' });
  }, 120_000);
});
