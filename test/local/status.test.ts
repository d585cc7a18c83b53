// Local mode's status is the operator's computation over replica processes read as pods.
import { localStatus, type LocalObservation, type ReplicaObservation } from '../../local/status.js';

const now = new Date('2026-01-01T00:00:10Z');
const rep = (id: string, phase: ReplicaObservation['phase'], extra: Partial<ReplicaObservation> = {}): ReplicaObservation => ({ id, phase, current: true, restarts: 0, createdAt: new Date('2026-01-01T00:00:00Z'), ...extra });
const obs = (o: Partial<LocalObservation>): LocalObservation => ({ name: 'm', selector: 's', generation: 1, desiredReplicas: 2, replicas: [], now, ...o });
const cond = (s: ReturnType<typeof localStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

test.each<[string, Partial<LocalObservation>, Record<string, [string, string]>, RegExp | null]>([
  ['all replicas ready', { replicas: [rep('a', 'ready'), rep('b', 'ready')] }, { Ready: ['True', 'Ready'], Available: ['True', 'MinimumReplicasAvailable'], ModelLoaded: ['True', 'ModelLoaded'] }, null],
  ['one of two ready', { replicas: [rep('a', 'ready'), rep('b', 'starting')] }, { Ready: ['False', 'ReplicasNotReady'], Available: ['True', 'MinimumReplicasAvailable'] }, null],
  ['the model is still being fetched', { fetching: true }, { Ready: ['False', 'Creating'], ModelLoaded: ['Unknown', 'Pending'] }, null],
  ['the runtime could not load the model: its termination message', { replicas: [rep('a', 'backoff', { restarts: 2, lastTermination: { exitCode: 1, message: 'ModelLoadFailed: model /m.onnx did not load: protobuf parsing failed', finishedAt: now } })] }, { Ready: ['False', 'ModelLoadFailed'], ModelLoaded: ['False', 'ModelLoadFailed'] }, /protobuf parsing failed/],
  ['killed without a message, waiting to restart', { desiredReplicas: 1, replicas: [rep('a', 'backoff', { restarts: 1, lastTermination: { exitCode: 137, signal: 'SIGKILL', finishedAt: now } })] }, { Ready: ['False', 'CrashLoop'], Available: ['False', 'CrashLoop'] }, null],
  ['the model could not be fetched', { fetchFailure: 'fetch file:///m.onnx failed: sha256 mismatch' }, { Ready: ['False', 'ModelFetchFailed'], ModelLoaded: ['False', 'ModelFetchFailed'] }, /sha256 mismatch/],
  ['scaled to zero: the gateway wakes it', { desiredReplicas: 0 }, { Ready: ['True', 'ScaledToZero'], Available: ['True', 'ScaledToZero'] }, /^scaled to zero: the gateway starts a replica on the next request$/],
  ['a rollout: old replicas serve while a new one loads', { replicas: [rep('o', 'ready', { current: false }), rep('o2', 'ready', { current: false }), rep('n', 'starting')] }, { Ready: ['False', 'RollingOut'], Available: ['True', 'MinimumReplicasAvailable'] }, null],
])('%s', (_what, o, expected, message) => {
  const s = localStatus(obs(o));
  for (const [type, [status, reason]] of Object.entries(expected)) expect([type, cond(s, type).status, cond(s, type).reason]).toEqual([type, status, reason]);
  if (message) expect(cond(s, 'Ready').message).toMatch(message);
});

test('a ready replica whose warm-up on generated inputs failed: the model is loaded, and ModelLoaded says so with the runtime\'s words', () => {
  const s = localStatus(obs({ desiredReplicas: 1, replicas: [rep('a', 'ready', { warmupFailure: 'Pad reflect: pads too large' }), rep('b', 'draining', { warmupFailure: 'old' })] }));
  expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
  expect(cond(s, 'ModelLoaded')).toMatchObject({ status: 'True', reason: 'WarmUpFailed', message: expect.stringMatching(/failed on a and the model is served all the same .*: Pad reflect: pads too large$/) });
});

test('draining replicas are not counted', () => {
  const s = localStatus(obs({ desiredReplicas: 1, replicas: [rep('a', 'ready'), rep('b', 'draining')] }));
  expect(s).toMatchObject({ replicas: 1, readyReplicas: 1 });
});
