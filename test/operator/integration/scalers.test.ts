// spec.autoscaling.mode hpa and keda against the fake API server: the HPA or ScaledObject is applied where its
// API is served, a condition says so where it is not, switching mode deletes the one no longer wanted, and
// mode none leaves replicas to spec.replicas.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AutoscalingV2Api } from '@kubernetes/client-node';
import { builtinAutoscalerLoop } from '../../../operator/autoscaler/builtin.js';
import { Harness, MERGE, condition, eventually, modelDeployment, sleep, type Md } from './harness.js';
import { findResource, putDeploymentPod } from '../../support/fake-apiserver/index.js';
import { freePort } from '../../support/runtime-process.js';
import { createServer } from 'node:http';

const NS = 'ml';
const HPAS = findResource('autoscaling', 'v2', 'horizontalpodautoscalers')!;
const SCALED = findResource('keda.sh', 'v1alpha1', 'scaledobjects')!;
const SO = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' };
let h: Harness;
let hpas: AutoscalingV2Api;

beforeAll(async () => {
  h = await Harness.start();
  h.server.serveApi('keda.sh/v1alpha1', false);
  hpas = h.kc.makeApiClient(AutoscalingV2Api);
  await h.operator({ namespaces: [NS], discoveryTtlMs: 0, leaderLoops: [builtinAutoscalerLoop({ intervalMs: 200 })] }).start();
  await h.operators[0].waitUntilSynced();
});
afterAll(async () => h.stop());

/** Reconciles the operator has finished, by its own metric. */
const reconciles = async () => (await h.operators[0].metrics.reconciles.get()).values.reduce((n, v) => n + v.value, 0);
const autoscalerOf = (m: Md) => (m.status as Record<string, any> | undefined)?.autoscaler;
const exists = (p: Promise<unknown>) => p.then(() => true, (err: { code?: number }) => (err.code === 404 ? false : Promise.reject(err)));

describe('spec.autoscaling.mode', () => {
  it('hpa: an autoscaling/v2 HPA aimed at the ModelDeployment, owned by it, and an Autoscaling condition', async () => {
    await h.create(NS, modelDeployment('resnet', { replicas: 2, autoscaling: { mode: 'hpa', minReplicas: 2, maxReplicas: 6, targetConcurrency: 3 } }));
    const hpa = await eventually(() => hpas.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name: 'resnet' }));
    const md = await h.read(NS, 'resnet');
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', name: 'resnet' },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: 'Pods', pods: { metric: { name: 'modelplane_request_concurrency' }, target: { type: 'AverageValue', averageValue: '3' } } }],
    });
    expect(hpa.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ModelDeployment', uid: md.metadata!.uid, controller: true });
    // Until the HPA controller has looked, nobody knows whether it can scale.
    await h.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')).toMatchObject({ status: 'Unknown', reason: 'Pending' }));
    // What the HPA controller reports in a cluster without a custom metrics adapter.
    const noAdapter = 'the HPA was unable to compute the replica count: unable to get metric modelplane_request_concurrency: no custom metrics API (custom.metrics.k8s.io) registered';
    const hpaStatus = (active: boolean) => h.server.store.patch(HPAS, NS, 'resnet', { status: { currentReplicas: 2, desiredReplicas: 2, conditions: [
      { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale' },
      active ? { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count' } : { type: 'ScalingActive', status: 'False', reason: 'FailedGetPodsMetric', message: noAdapter },
    ] } } as never, 'application/merge-patch+json', { subresource: 'status', manager: 'kube-controller-manager' });
    hpaStatus(false);
    const stuck = await h.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')?.status).toBe('False'));
    expect(condition(stuck, 'Autoscaling')).toMatchObject({ reason: 'FailedGetPodsMetric', message: `HorizontalPodAutoscaler ScalingActive is False: ${noAdapter}` });
    hpaStatus(true);
    const withStatus = await h.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')?.status).toBe('True'));
    expect(condition(withStatus, 'Autoscaling')).toMatchObject({ reason: 'HorizontalPodAutoscaler', message: expect.stringMatching(/modelplane_request_concurrency, target 3 per replica/) });
    expect(autoscalerOf(withStatus)).toMatchObject({ mode: 'hpa' });
    // A converged object is not applied again on resync, nor read from the API: the operator watches HPAs.
    h.server.clearRequestLog();
    const before = await reconciles();
    h.operators[0].resync();
    await eventually(async () => expect(await reconciles()).toBeGreaterThan(before));
    await sleep(300);
    expect(h.server.writes(/horizontalpodautoscalers/)).toEqual([]);
    expect(h.server.reads(/horizontalpodautoscalers\/resnet$/)).toEqual([]);
  });

  it('hpa: a deleted HPA is put back at once, without waiting for a resync', async () => {
    h.server.clearRequestLog();
    await hpas.deleteNamespacedHorizontalPodAutoscaler({ namespace: NS, name: 'resnet' });
    const back = await eventually(() => hpas.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name: 'resnet' }));
    expect(back.spec).toMatchObject({ minReplicas: 2, maxReplicas: 6 });
    const writes = h.server.writes(/horizontalpodautoscalers/).map((r) => r.method);
    expect(writes[0]).toBe('DELETE');
    expect(writes.slice(1)).toContain('PATCH');
    expect(writes.slice(1).every((m) => m === 'PATCH')).toBe(true);
  });

  it('keda where KEDA is not installed: nothing applied, the condition says why', async () => {
    await h.patchSpec(NS, 'resnet', { autoscaling: { mode: 'keda' } });
    const md = await h.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')?.reason).toBe('KEDAUnavailable'));
    expect(condition(md, 'Autoscaling')).toMatchObject({ status: 'False', message: expect.stringMatching(/mode keda needs KEDA, and the cluster does not serve keda.sh\/v1alpha1/) });
    // The HPA of mode hpa is gone: switching mode deletes what is no longer wanted.
    await eventually(async () => expect(await exists(hpas.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name: 'resnet' }))).toBe(false));
  });

  it('keda once KEDA is served: a ScaledObject with a Prometheus trigger', async () => {
    h.server.serveApi('keda.sh/v1alpha1', true);
    h.operators[0].resync();
    const so = (await eventually(() => h.custom.getNamespacedCustomObject({ ...SO, namespace: NS, name: 'resnet' }))) as Record<string, any>;
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', name: 'resnet' });
    expect(so.spec.triggers[0]).toMatchObject({ type: 'prometheus', metadata: { threshold: '3', query: expect.stringContaining('modelplane_request_concurrency_seconds_total{namespace="ml"') } });
    await h.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')).toMatchObject({ status: 'Unknown', reason: 'Pending' }));
    // KEDA's operator marks a ScaledObject Ready once its trigger and target check out.
    h.server.store.patch(SCALED, NS, 'resnet', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' }] } } as never, 'application/merge-patch+json', { subresource: 'status', manager: 'keda-operator' });
    await h.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')).toMatchObject({ status: 'True', reason: 'ScaledObject' }));
  });

  it('keda: once KEDA is found installed, ScaledObjects are watched: a deleted one is put back at once, a resync reads none', async () => {
    h.server.clearRequestLog();
    // The informer lists in the background once KEDA is found; wait until a resync no longer reads the object.
    await eventually(async () => {
      const before = await reconciles();
      h.server.clearRequestLog();
      h.operators[0].resync();
      await eventually(async () => expect(await reconciles()).toBeGreaterThan(before));
      await sleep(100);
      expect(h.server.reads(/scaledobjects\/resnet$/)).toEqual([]);
    });
    await h.custom.deleteNamespacedCustomObject({ ...SO, namespace: NS, name: 'resnet' });
    const back = (await eventually(() => h.custom.getNamespacedCustomObject({ ...SO, namespace: NS, name: 'resnet' }))) as Record<string, any>;
    expect(back.spec.scaleTargetRef.name).toBe('resnet');
  });

  it('none: the ScaledObject goes, no condition, and replicas are left to spec.replicas', async () => {
    await h.patchSpec(NS, 'resnet', { autoscaling: { mode: 'none' }, replicas: 5 });
    await eventually(async () => expect(await exists(h.custom.getNamespacedCustomObject({ ...SO, namespace: NS, name: 'resnet' }))).toBe(false));
    const md = await h.until(NS, 'resnet', (m) => expect(autoscalerOf(m)).toMatchObject({ mode: 'none' }));
    expect(condition(md, 'Autoscaling')).toBeUndefined();
    await sleep(600);
    expect(h.server.writes(/\/scale$/)).toEqual([]);
    expect((await h.read(NS, 'resnet')).spec.replicas).toBe(5);
  });

  it('an HPA of the same name that someone else owns is left alone and reported', async () => {
    await hpas.createNamespacedHorizontalPodAutoscaler({
      namespace: NS,
      body: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'bert' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'other', apiVersion: 'apps/v1' }, maxReplicas: 2 } },
    });
    await h.create(NS, modelDeployment('bert', { autoscaling: { mode: 'hpa', maxReplicas: 3 } }));
    const md = await h.until(NS, 'bert', (m) => expect(condition(m, 'Autoscaling')?.reason).toBe('ScalerConflict'));
    expect(condition(md, 'Autoscaling')?.message).toMatch(/HorizontalPodAutoscaler ml\/bert exists and is not owned by this ModelDeployment/);
    const hpa = await hpas.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name: 'bert' });
    expect(hpa.spec?.scaleTargetRef.name).toBe('other');
  });
});

describe('status after a change of mode', () => {
  it('keeps nothing of the mode before (builtin to hpa: no averageConcurrency), and a resync then writes nothing', async () => {
    await h.create(NS, modelDeployment('switch', { autoscaling: { mode: 'builtin', minReplicas: 1, maxReplicas: 4 } }));
    await h.until(NS, 'switch', (m) => expect(autoscalerOf(m)).toMatchObject({ mode: 'builtin' }));
    // What the built-in autoscaler writes once it has measured.
    await h.custom.patchNamespacedCustomObjectStatus({ group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments', namespace: NS, name: 'switch', body: { status: { autoscaler: { mode: 'builtin', averageConcurrency: 3.5, desiredReplicas: 2, reason: 'load' } } } }, MERGE);
    await h.patchSpec(NS, 'switch', { autoscaling: { mode: 'hpa', minReplicas: 1, maxReplicas: 4 } });
    const md = await h.until(NS, 'switch', (m) => expect(autoscalerOf(m)?.mode).toBe('hpa'));
    expect(autoscalerOf(md)).toEqual({ mode: 'hpa', reason: expect.stringMatching(/^HorizontalPodAutoscaler ml\/switch scales on/) });
    await sleep(300);
    h.server.clearRequestLog();
    const before = await reconciles();
    h.operators[0].resync();
    await eventually(async () => expect(await reconciles()).toBeGreaterThan(before));
    await sleep(300);
    expect(h.server.writes(/modeldeployments\/switch\/status$/)).toEqual([]);
  });
});

describe('mode builtin without metrics', () => {
  let blind: Harness;
  beforeAll(async () => {
    blind = await Harness.start();
    await blind.operator({ namespaces: [NS], leaderLoops: [builtinAutoscalerLoop({ intervalMs: 200, scrapeTimeoutMs: 200, tuning: { stableWindowSeconds: 1, panicWindowSeconds: 1 } })] }).start();
    await blind.operators[0].waitUntilSynced();
  });
  afterAll(async () => blind.stop());

  it('is Autoscaling=False, reason NoMetrics, with an Event, while no ready pod\'s metrics can be read; Builtin again once they can', async () => {
    await blind.create(NS, modelDeployment('blind', { autoscaling: { mode: 'builtin', minReplicas: 1, maxReplicas: 4 } }));
    await eventually(async () => blind.apps.readNamespacedDeployment({ name: 'blind', namespace: NS }));
    // A ready pod whose address answers nothing: a port just closed.
    const port = await freePort();
    putDeploymentPod(blind.server, NS, 'blind', 'blind-1', { phase: 'Running', ready: true }, { podIP: '127.0.0.1', ports: { http: port } });
    const md = await blind.until(NS, 'blind', (m) => expect(condition(m, 'Autoscaling')?.reason).toBe('NoMetrics'), 10_000);
    expect(condition(md, 'Autoscaling')).toMatchObject({ status: 'False', message: expect.stringMatching(/^the built-in autoscaler cannot scale: no ready runtime pod's metrics could be read for \d+ s \(blind-1: its metrics did not answer: /) });
    expect(autoscalerOf(md).unscrapedSince).toMatch(/^\d{4}-\d\d-\d\dT/);
    const events = await blind.core.listNamespacedEvent({ namespace: NS });
    expect(events.items.filter((e) => e.reason === 'NoMetrics' && e.type === 'Warning' && e.involvedObject.name === 'blind')).toHaveLength(1);
    // The pod answers: the autoscaler sees again.
    const server = createServer((_req, res) => res.end('modelplane_request_concurrency_seconds_total{model="blind"} 0\n'));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await blind.until(NS, 'blind', (m) => expect(condition(m, 'Autoscaling')?.reason).toBe('Builtin'), 10_000);
    } finally {
      server.close();
    }
  });
});

describe('a cluster that does not serve autoscaling/v2', () => {
  let old: Harness;
  beforeAll(async () => {
    old = await Harness.start();
    old.server.serveApi('autoscaling/v2', false);
    await old.operator({ namespaces: [NS], discoveryTtlMs: 0 }).start();
  });
  afterAll(async () => old.stop());

  it('the operator still syncs (no HPA watch), and mode hpa says the API is missing', async () => {
    await old.operators[0].waitUntilSynced();
    await old.create(NS, modelDeployment('resnet', { autoscaling: { mode: 'hpa', maxReplicas: 3 } }));
    const md = await old.until(NS, 'resnet', (m) => expect(condition(m, 'Autoscaling')?.reason).toBe('HPAUnavailable'));
    expect(condition(md, 'Autoscaling')).toMatchObject({ status: 'False', message: expect.stringMatching(/does not serve autoscaling\/v2/) });
    expect(old.server.reads(/horizontalpodautoscalers/)).toEqual([]);
  });
});
