// One leader under hung networks: every API request has a deadline, a leader whose lease renewal hangs gives
// up by its renew deadline and writes nothing more, a standby takes over only after that, and /healthz tells
// a stuck worker. Every write the fake API server takes is recorded with its writer (the User-Agent).
import { afterEach, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { LeaderLoop, LeaderTerm } from '../../../operator/controller/operator.js';
import { findResource, type RequestRecord } from '../../support/fake-apiserver/index.js';
import { Harness, condition, eventually, modelDeployment, sleep } from './harness.js';
import { memoryLogger } from '../../support/memory-logger.js';

const MDS = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const NS = 'ml';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const writer = (r: RequestRecord): string | undefined => /\(([^)]+)\)$/.exec(r.userAgent ?? '')?.[1];

describe('leader election under a hung network', () => {
  it('a leader whose lease request hangs stops writing by its renew deadline, before the standby starts; no two leaders ever write at once', async () => {
    h = await Harness.start();
    // Timings loose enough for a loaded machine: a renewal must succeed within 1.5 s of being sent.
    const election = { leaseName: 'modelplane-operator', leaseNamespace: 'ops', leaseDurationMs: 2500, renewDeadlineMs: 1500, retryPeriodMs: 100 };
    const lost: Record<string, number> = {};
    const a = h.operator({ leaderElection: { ...election, identity: 'a' }, onLostLeadership: () => (lost.a = Date.now()) });
    const b = h.operator({ leaderElection: { ...election, identity: 'b' }, onLostLeadership: () => (lost.b = Date.now()) });
    await a.start();
    await eventually(() => expect(a.synced).toBe(true));
    await b.start();

    // Steady work for whoever leads: a new ModelDeployment every 40 ms until the test is done.
    const server = h.server;
    let n = 0;
    let creating = true;
    const creator = (async () => {
      while (creating) {
        server.store.create(MDS, NS, modelDeployment(`m${n++}`) as never);
        await sleep(40);
      }
    })();
    const workBy = (who: string) => server.writes().filter((w) => writer(w) === who && !w.path.includes('/leases')).length;
    let hungAt = 0;
    try {
      await eventually(() => expect(workBy('a')).toBeGreaterThan(5), 15_000);
      // The API server takes a's lease requests and never answers; a's other requests still work.
      hungAt = Date.now();
      server.hangNext(1_000_000, (_method, path, ua) => path.includes('/leases') && !!ua?.endsWith('(a)'));
      await eventually(() => expect(b.isLeader).toBe(true), 10_000);
      await eventually(() => expect(workBy('b')).toBeGreaterThan(5), 10_000);
    } finally {
      creating = false;
      await creator;
    }

    expect(a.isLeader).toBe(false);
    expect(a.lostLeadership).toBe(true);
    expect(lost.a).toBeDefined();
    // Given up within the renew deadline of its last renewal (plus timer slack), not after a request timeout.
    expect(lost.a - hungAt).toBeLessThan(election.renewDeadlineMs + 1000);
    expect(lost.b).toBeUndefined();

    const writes = h.server.writes();
    expect(writes.every((w) => writer(w) === 'a' || writer(w) === 'b')).toBe(true);
    const lastA = Math.max(...writes.filter((w) => writer(w) === 'a').map((w) => w.time));
    const firstB = Math.min(...writes.filter((w) => writer(w) === 'b').map((w) => w.time));
    expect(lastA).toBeLessThan(firstB);
    // Sorted by arrival, the writers form two runs: a's, then b's.
    const runs = writes.map(writer).filter((w, i, all) => i === 0 || all[i - 1] !== w);
    expect(runs).toEqual(['a', 'b']);
    // a is not live any more (its pod restarts); b leads on.
    expect(a.liveness().ok).toBe(false);
    expect(a.ready).toBe(false);
    expect(b.isLeader).toBe(true);
    expect(b.liveness().ok).toBe(true);
  });

  it('a leader that cannot renew stops reconciling at once and does not campaign again', async () => {
    h = await Harness.start();
    let lostCalls = 0;
    const a = h.operator({
      leaderElection: { leaseName: 'lease', leaseNamespace: 'ops', identity: 'a', leaseDurationMs: 1000, renewDeadlineMs: 400, retryPeriodMs: 100 },
      onLostLeadership: () => lostCalls++,
    });
    await a.start();
    await eventually(() => expect(a.synced).toBe(true));
    h.server.failNext(1_000_000, 500, (_method, path) => path.includes('/leases/'));
    await eventually(() => expect(a.isLeader).toBe(false), 3000);
    expect(lostCalls).toBe(1);
    await h.create(NS, modelDeployment('while-deposed'));
    h.server.clearFaults();
    h.server.clearRequestLog();
    await sleep(800);
    expect(h.server.store.get(DEPLOYMENTS, NS, 'while-deposed')).toBeUndefined();
    expect(a.isLeader).toBe(false);
    expect(h.server.requests.filter((r) => r.path.includes('/leases/'))).toEqual([]);
  });
});

describe('leader-only loops', () => {
  it('start once the leader\'s caches sync, get the term\'s signal and clients, and stop when leadership ends', async () => {
    h = await Harness.start();
    const calls: string[] = [];
    let term: LeaderTerm | undefined;
    const loop: LeaderLoop = {
      name: 'probe',
      start: (t) => {
        term = t;
        calls.push(`start synced=${t.cache.modelDeployment(NS, 'seen') !== undefined}`);
      },
      stop: (drain) => {
        calls.push(`stop drain=${drain}`);
      },
    };
    await h.create(NS, modelDeployment('seen'));
    const a = h.operator({
      leaderElection: { leaseName: 'loops', leaseNamespace: 'ops', identity: 'a', leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100 },
      leaderLoops: [loop],
    });
    await a.start();
    await eventually(() => expect(calls).toEqual(['start synced=true']));
    // The term's clients carry the operator's identity and deadlines, and die with the term.
    const custom = term!.apiClient(CustomObjectsApi);
    await custom.getNamespacedCustomObject({ group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments', namespace: NS, name: 'seen' });
    expect(h.server.requests.some((r) => r.path.endsWith('/modeldeployments/seen') && r.userAgent === 'modelplane-operator (a)')).toBe(true);
    h.server.failNext(1_000_000, 500, (_method, path) => path.includes('/leases/'));
    await eventually(() => expect(calls).toEqual(['start synced=true', 'stop drain=false']), 4000);
    expect(term!.signal.aborted).toBe(true);
    await expect(custom.getNamespacedCustomObject({ group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments', namespace: NS, name: 'seen' })).rejects.toThrow();
  });
});

describe('deadlines and health', () => {
  it('every request has a deadline: a hung list and a hung apply are given up and retried', async () => {
    h = await Harness.start();
    await h.create(NS, modelDeployment('early'));
    // The first list of ModelDeployments never gets an answer.
    h.server.hangNext(1, (method, path) => method === 'GET' && path.endsWith('/modeldeployments'));
    h.server.hangNext(1, (method, path) => method === 'PATCH' && path.includes('/deployments/early'));
    const op = h.operator({ requestTimeoutMs: 400 });
    await op.start();
    await op.waitUntilSynced(5000);
    await h.until(NS, 'early', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'), 5000);
    expect(h.server.hungRequests).toBe(0);
  });

  it('/healthz fails while a reconcile is stuck past the threshold, and recovers when it ends', async () => {
    h = await Harness.start();
    const op = h.operator({ metricsPort: 0, metricsHost: '127.0.0.1', requestTimeoutMs: 2500, stuckAfterMs: 300 });
    await op.start();
    await op.waitUntilSynced();
    const get = (path: string, method = 'GET') => fetch(`http://127.0.0.1:${op.healthPort}${path}`, { method });
    expect((await get('/healthz')).status).toBe(200);
    h.server.hangNext(1, (method, path) => method === 'POST' && path.endsWith('/namespaces/ml/deployments'));
    await h.create(NS, modelDeployment('stuck'));
    await eventually(async () => {
      const r = await get('/healthz');
      expect(r.status).toBe(500);
      expect(await r.text()).toMatch(/a reconcile has been running for/);
    }, 2000);
    // The hung request hits its deadline, the retry succeeds, and the process is healthy again.
    await h.until(NS, 'stuck', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'), 6000);
    await eventually(async () => expect((await get('/healthz')).status).toBe(200));
    // The express app answers its routes for GET only.
    expect((await get('/healthz', 'POST')).status).toBe(404);
    expect((await get('/metrics')).headers.get('content-type')).toMatch(/^text\/plain/);
  });
});

describe('permissions', () => {
  it('a request the API server refuses (403) is logged at error with its verb and resource, once a minute, and counted', async () => {
    h = await Harness.start();
    const { log, entries } = memoryLogger('operator', 'info');
    h.server.failNext(1000, 403, (method, path) => method === 'GET' && path.includes('/leases/'));
    const op = h.operator({ logger: log, leaderElection: { leaseName: 'denied', leaseNamespace: 'ops', identity: 'a', leaseDurationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 50 } });
    await op.start();
    await eventually(() => expect(entries.some((e) => e.level === 'error')).toBe(true));
    await sleep(300);
    const errors = entries.filter((e) => e.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ verb: 'get', resource: 'leases.coordination.k8s.io', namespace: 'ops', name: 'denied', error: 'injected fault: 403' });
    expect(errors[0].message).toMatch(/refused a request/);
    expect(await op.metrics.registry.getSingleMetricAsString('modelplane_operator_forbidden_requests_total')).toMatch(/verb="get",resource="leases.coordination.k8s.io"\} ([2-9]|\d\d+)/);
    expect(op.isLeader).toBe(false);
  });
});
