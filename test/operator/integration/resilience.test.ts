// The operator converges through what real API servers do to controllers: conflict storms, 500s, watches that
// drop, go silent or expire, a crash between applying children and writing status, and a second replica
// waiting for the lease.
import { afterEach, describe, expect, it } from '@jest/globals';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { findResource } from '../../support/fake-apiserver/index.js';
import { Harness, condition, eventually, modelDeployment, sleep } from './harness.js';

const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const SERVICES = findResource('', 'v1', 'services')!;
const MDS = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
const NS = 'ml';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function converged(harness: Harness, name: string, timeoutMs = 8000): Promise<void> {
  await harness.until(NS, name, (m) => {
    expect(m.status?.observedGeneration).toBe(m.metadata?.generation);
    expect(condition(m, 'Ready')?.reason).toBe('RollingOut');
  }, timeoutMs);
  expect(harness.server.store.get(DEPLOYMENTS, NS, name)).toBeDefined();
  expect(harness.server.store.get(SERVICES, NS, name)).toBeDefined();
}

async function metric(op: { metrics: { registry: { getSingleMetricAsString(n: string): Promise<string> } } }, name: string, labels = ''): Promise<number> {
  const text = await op.metrics.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels}`) && !l.startsWith('#'));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('convergence under faults', () => {
  it('rides out a 409 storm on every write', async () => {
    h = await Harness.start();
    const op = h.operator();
    await op.start();
    await op.waitUntilSynced();
    h.server.conflictStorm(40);
    // Created in-process: the storm is for the operator's writes.
    for (const name of ['a', 'b', 'c']) h.server.store.create(MDS, NS, modelDeployment(name) as never);
    for (const name of ['a', 'b', 'c']) await converged(h, name);
    expect(h.server.requests.filter((r) => r.status === 409).length).toBeGreaterThan(10);
    expect(await metric(op, 'modelplane_operator_reconcile_total', '{result="conflict"}')).toBeGreaterThan(0);
  });

  it('starts through API 500s (informer restarts with backoff) and retries failed reconciles', async () => {
    h = await Harness.start();
    await h.create(NS, modelDeployment('early'));
    h.server.failNext(12);
    const op = h.operator();
    await op.start();
    await converged(h, 'early');
    expect(await metric(op, 'modelplane_operator_informer_restarts_total')).toBeGreaterThan(0);
    h.server.failNext(6, 500, (method, path, userAgent) => method !== 'GET' && !path.includes('/events') && !!userAgent?.startsWith('modelplane-operator'));
    await h.create(NS, modelDeployment('later'));
    await converged(h, 'later');
    expect(await metric(op, 'modelplane_operator_reconcile_total', '{result="error"}')).toBeGreaterThan(0);
  });

  it('recovers from dropped watches, silent watches and an expired resourceVersion', async () => {
    h = await Harness.start();
    const op = h.operator();
    await op.start();
    await op.waitUntilSynced();
    h.server.dropWatches();
    await h.create(NS, modelDeployment('after-drop'));
    await converged(h, 'after-drop');

    // Connections stay open but carry nothing: only the watchdog notices.
    h.server.goSilent();
    h.server.resume();
    await h.create(NS, modelDeployment('after-silence'));
    await converged(h, 'after-silence', 10_000);
    expect(await metric(op, 'modelplane_operator_informer_restarts_total', '{informer="modeldeployments",reason="silent"}')).toBeGreaterThan(0);

    // Events happen while no watch is open, then the history is compacted: resuming answers 410, the informer re-lists.
    h.server.goSilent();
    await h.create(NS, modelDeployment('after-compaction'));
    h.server.compact();
    h.server.resume();
    h.server.dropWatches();
    await converged(h, 'after-compaction');
  });
});

describe('restarts and replicas', () => {
  it('a crash between applying children and writing status leaves no duplicates; the next operator finishes the job', async () => {
    h = await Harness.start();
    h.server.failNext(1_000_000, 500, (method, path) => method === 'PUT' && path.endsWith('/status'));
    const first = h.operator();
    await first.start();
    await h.create(NS, modelDeployment('resnet'));
    await eventually(() => expect(h!.server.store.get(DEPLOYMENTS, NS, 'resnet')).toBeDefined());
    await first.kill();
    expect((await h.read(NS, 'resnet')).status).toBeUndefined();
    h.server.clearFaults();
    h.server.clearRequestLog();
    const second = h.operator();
    await second.start();
    await converged(h, 'resnet');
    const owned = h.server.store.all().filter((o) => (o.metadata.ownerReferences as Array<{ name: string }> | undefined)?.some((r) => r.name === 'resnet'));
    expect(owned.map((o) => `${String(o.kind)}/${String(o.metadata.name)}`).sort()).toEqual(['Deployment/resnet', 'Service/resnet']);
    // The children were already as desired: the second operator only wrote the status.
    expect(h.server.writes().map((w) => `${w.method} ${w.path}`).filter((w) => !w.includes('/events'))).toEqual([`PUT /apis/serving.modelplane.io/v1alpha1/namespaces/${NS}/modeldeployments/resnet/status`]);
  });

  it('two operators: one leader reconciles; when it dies the other takes over after the lease expires', async () => {
    h = await Harness.start();
    // Timings loose enough for a loaded machine: a renewal must succeed within 1.5 s of being sent.
    const election = { leaseName: 'modelplane-operator', leaseNamespace: 'modelplane-system', leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100 };
    const a = h.operator({ leaderElection: { ...election, identity: 'a' } });
    await a.start();
    await eventually(() => expect(a.isLeader).toBe(true));
    const b = h.operator({ leaderElection: { ...election, identity: 'b' } });
    await b.start();
    await h.create(NS, modelDeployment('one'));
    await converged(h, 'one');
    // Longer than the lease lasts: only renewals keep b out.
    await sleep(2200);
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(await metric(b, 'modelplane_operator_reconcile_total', '{result="success"}')).toBe(0);
    expect(await metric(a, 'modelplane_operator_reconcile_total', '{result="success"}')).toBeGreaterThan(0);

    await a.kill();
    const killedAt = Date.now();
    await h.create(NS, modelDeployment('two'));
    await eventually(() => expect(b.isLeader).toBe(true), 6000);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1800);
    await converged(h, 'two');
    const leases = h.kc.makeApiClient(CoordinationV1Api);
    const lease = await leases.readNamespacedLease({ name: 'modelplane-operator', namespace: 'modelplane-system' });
    expect(lease.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });

    // A clean shutdown hands the lease back at once.
    await b.stop();
    expect((await leases.readNamespacedLease({ name: 'modelplane-operator', namespace: 'modelplane-system' })).spec?.holderIdentity).toBe('');
  });
});
