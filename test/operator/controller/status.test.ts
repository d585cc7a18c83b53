// The status a ModelDeployment reports for what the operator observes: table-driven.
import { describe, expect, it } from '@jest/globals';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { computeStatus, podFailure, sameStatus, type Observation } from '../../../operator/controller/status.js';
import { condition } from '../../../operator/kube/conditions.js';
import { podStatus, type PodState } from '../../support/fake-apiserver/index.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:05:00Z');
const containers = { init: ['fetch'], main: ['runtime'] };

function pod(state: PodState, name = 'm-1'): V1Pod {
  return { metadata: { name }, status: podStatus(state, containers) as V1Pod['status'] };
}

function deployment(replicas: number, ready: number, opts: { generation?: number; observed?: number; updated?: number; available?: number } = {}): V1Deployment {
  return {
    metadata: { name: 'm', generation: opts.generation ?? 1 },
    status: { observedGeneration: opts.observed ?? opts.generation ?? 1, replicas, readyReplicas: ready, availableReplicas: opts.available ?? ready, updatedReplicas: opts.updated ?? replicas },
  };
}

const base: Observation = { generation: 2, desiredReplicas: 2, pods: [], selector: 'a=b', url: 'http://m.ns.svc:8080/v2/models/m', now: T0 };
const ready = (o: Partial<Observation>) => computeStatus({ ...base, ...o }).conditions!.find((c) => c.type === 'Ready')!;

describe('computeStatus', () => {
  it.each<[string, Partial<Observation>, string, string, string | RegExp]>([
    ['no Deployment yet', {}, 'False', 'Creating', /Deployment/],
    ['rollout not observed yet', { deployment: deployment(2, 2, { generation: 3, observed: 2 }) }, 'False', 'RollingOut', '2/2 replicas ready'],
    ['pods not ready', { deployment: deployment(2, 1) }, 'False', 'ReplicasNotReady', '1/2 replicas ready'],
    ['all ready', { deployment: deployment(2, 2) }, 'True', 'Ready', '2/2 replicas ready'],
    ['new pods ready, an old one still serving the previous spec', { deployment: deployment(3, 3, { updated: 2 }) }, 'False', 'RollingOut', '3/2 replicas ready'],
    ['scaled to zero', { desiredReplicas: 0, deployment: deployment(0, 0) }, 'True', 'ScaledToZero', 'scaled to zero: the gateway starts a replica on the next request'],
    ['invalid spec', { invalid: 'spec.model.uri: bad (FieldValueInvalid)' }, 'False', 'InvalidSpec', 'spec.model.uri: bad (FieldValueInvalid)'],
    ['unschedulable', { deployment: deployment(2, 0), pods: [pod({ phase: 'Unschedulable', message: '0/3 nodes are available: waiting for capacity: 0/3 nodes have nvidia.com/gpu' })] }, 'False', 'Unschedulable', /waiting for capacity: 0\/3 nodes have nvidia.com\/gpu/],
    ['image pull', { deployment: deployment(2, 0), pods: [pod({ phase: 'ImagePullBackOff', message: 'Back-off pulling image "x"' })] }, 'False', 'ImagePullFailed', /Back-off pulling image "x"/],
    ['init image pull', { deployment: deployment(2, 0), pods: [pod({ phase: 'ImagePullBackOff', container: 'fetch' })] }, 'False', 'ImagePullFailed', /init container fetch/],
    ['crash loop without message', { deployment: deployment(2, 0), pods: [pod({ phase: 'CrashLoopBackOff', exitCode: 137 })] }, 'False', 'CrashLoop', /code 137/],
    ['model load failure', { deployment: deployment(2, 0), pods: [pod({ phase: 'CrashLoopBackOff', message: 'load failed: bad graph' })] }, 'False', 'ModelLoadFailed', 'load failed: bad graph'],
    ['a GPU the runtime cannot use', { deployment: deployment(2, 0), pods: [pod({ phase: 'CrashLoopBackOff', message: 'ModelLoadFailed: GPU requested but the CUDA execution provider is unavailable: cuda: Failed to load shared library' })] }, 'False', 'ModelLoadFailed', /GPU requested but the CUDA execution provider is unavailable: cuda: Failed to load shared library/],
    ['model fetch failure', { deployment: deployment(2, 0), pods: [pod({ phase: 'InitFailed', message: 'sha256 mismatch' })] }, 'False', 'ModelFetchFailed', 'sha256 mismatch'],
    ['fetch exits without a message', { deployment: deployment(2, 0), pods: [pod({ phase: 'InitFailed', exitCode: 3 })] }, 'False', 'ModelFetchFailed', /exited with code 3/],
    ['worst failure wins', { deployment: deployment(2, 0), pods: [pod({ phase: 'Unschedulable', message: 'x' }, 'a'), pod({ phase: 'CrashLoopBackOff', message: 'load failed' }, 'b')] }, 'False', 'ModelLoadFailed', 'load failed'],
    ['a child name taken by another object', { conflict: 'Service ns/m already exists and has no controller', deployment: deployment(2, 2) }, 'False', 'ChildConflict', 'Service ns/m already exists and has no controller'],
    ['pods refused by the API server', { deployment: { ...deployment(2, 0), status: { ...deployment(2, 0).status, replicas: 0, conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'pods "m-7d9c-" is forbidden: pod rejected: RuntimeClass "nvidia" not found' }] } } }, 'False', 'PodsRejected', 'pods "m-7d9c-" is forbidden: pod rejected: RuntimeClass "nvidia" not found'],
    ['failures ignored once ready', { deployment: deployment(2, 2), pods: [pod({ phase: 'CrashLoopBackOff', message: 'old pod' })] }, 'True', 'Ready', '2/2 replicas ready'],
  ])('%s', (_name, o, status, reason, message) => {
    const c = ready(o);
    expect(c).toMatchObject({ status, reason, observedGeneration: 2 });
    if (typeof message === 'string') expect(c.message).toBe(message);
    else expect(c.message).toMatch(message);
    expect(c.reason).toMatch(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
  });

  it('reports selector, url, counts and observedGeneration on every condition', () => {
    const s = computeStatus({ ...base, deployment: deployment(2, 1) });
    expect(s).toMatchObject({ observedGeneration: 2, replicas: 2, readyReplicas: 1, availableReplicas: 1, selector: 'a=b', url: base.url });
    // Available (what `kubectl get mdp` prints) is the Deployment's available count, not its ready count.
    expect(computeStatus({ ...base, deployment: deployment(3, 3, { available: 1 }) })).toMatchObject({ readyReplicas: 3, availableReplicas: 1 });
    const conflicted = computeStatus({ ...base, conflict: 'Deployment ns/m already exists and has no controller' });
    expect(conflicted.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([['Ready', 'False', 'ChildConflict'], ['Available', 'False', 'ChildConflict'], ['Progressing', 'False', 'ChildConflict'], ['ModelLoaded', 'Unknown', 'Pending']]);
    expect(s.conditions!.map((c) => [c.type, c.status, c.observedGeneration])).toEqual([['Ready', 'False', 2], ['Available', 'True', 2], ['Progressing', 'True', 2], ['ModelLoaded', 'True', 2]]);
    const loading = computeStatus({ ...base, deployment: deployment(2, 0) });
    expect(loading.conditions![3]).toMatchObject({ type: 'ModelLoaded', status: 'Unknown', reason: 'Pending' });
    const broken = computeStatus({ ...base, deployment: deployment(2, 0), pods: [pod({ phase: 'CrashLoopBackOff', message: 'bad graph' })] });
    expect(broken.conditions![3]).toMatchObject({ type: 'ModelLoaded', status: 'False', reason: 'ModelLoadFailed', message: 'bad graph' });
    const stalled = computeStatus({ ...base, deployment: { ...deployment(2, 0), status: { ...deployment(2, 0).status, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' }] } } });
    expect(stalled.conditions![2]).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' });
  });

  it('changes lastTransitionTime only when a condition status changes, and keeps the latest failure', () => {
    const first = computeStatus({ ...base, deployment: deployment(2, 0), pods: [pod({ phase: 'Unschedulable', message: 'no gpu' })] });
    expect(first.lastFailure).toEqual({ reason: 'Unschedulable', message: 'no gpu', time: '2026-01-01T00:00:00Z' });
    const same = computeStatus({ ...base, deployment: deployment(2, 0), pods: [pod({ phase: 'Unschedulable', message: 'no gpu' })], previous: first, now: T1 });
    expect(sameStatus(first, same)).toBe(true);
    const crash = computeStatus({ ...base, deployment: deployment(2, 0), pods: [pod({ phase: 'CrashLoopBackOff', message: 'oom' })], previous: same, now: T1 });
    expect(crash.conditions![0]).toMatchObject({ reason: 'ModelLoadFailed', lastTransitionTime: '2026-01-01T00:00:00Z' });
    expect(crash.lastFailure).toEqual({ reason: 'ModelLoadFailed', message: 'oom', time: '2026-01-01T00:05:00Z' });
    const healed = computeStatus({ ...base, deployment: deployment(2, 2), previous: crash, now: new Date('2026-01-01T00:10:00Z') });
    expect(healed.conditions![0]).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:10:00Z' });
    expect(healed.lastFailure).toEqual(crash.lastFailure);
  });

  it('builds conditions keyed by type with a stable transition time', () => {
    const prev = [condition('Ready', 'False', 'A', 'x', 1, undefined, T0)];
    expect(condition('Ready', 'False', 'B', 'y', 2, prev, T1).lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(condition('Ready', 'True', 'B', 'y', 2, prev, T1).lastTransitionTime).toBe('2026-01-01T00:05:00Z');
    expect(podFailure(pod({ phase: 'Running', ready: true }))).toBeUndefined();
  });
});
