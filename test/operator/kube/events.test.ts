// Events are folded like client-go's recorder does: the same object, type, reason and message within ten
// minutes bump the count and lastTimestamp of the Event already written; anything else is a new Event.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { KubeConfig, type CoreV1Event } from '@kubernetes/client-node';
import { createLogger } from '../../../common/logger.js';
import { EVENT_DEDUP_WINDOW_MS, eventRecorder } from '../../../operator/kube/events.js';
import { findResource, startFakeApiServer, type FakeApiServer } from '../../support/fake-apiserver/index.js';

const EVENTS = findResource('', 'v1', 'events')!;
let server: FakeApiServer;
beforeAll(async () => {
  server = await startFakeApiServer();
});
afterAll(async () => server.stop());

const md = (name: string, uid: string) => ({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name, namespace: 'ev', uid } });

it('bumps the count of a repeated event within ten minutes and starts a new one after, or when anything differs', async () => {
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  const log = createLogger('operator', 'error');
  log.silent = true;
  let now = Date.parse('2026-01-01T00:00:00Z');
  const rec = eventRecorder(kc, log, { host: 'op-0', now: () => now });
  const a = md('a', 'uid-a');

  rec.warning(a, 'ChildConflict', 'Deployment ev/a already exists');
  now += 1000;
  rec.warning(a, 'ChildConflict', 'Deployment ev/a already exists');
  now += 60_000;
  rec.warning(a, 'ChildConflict', 'Deployment ev/a already exists');
  await rec.flush();
  let events = server.store.list(EVENTS, 'ev').items as unknown as CoreV1Event[];
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ reason: 'ChildConflict', type: 'Warning', count: 3, firstTimestamp: '2026-01-01T00:00:00.000Z', lastTimestamp: '2026-01-01T00:01:01.000Z' });

  // A different message, type or object is an Event of its own.
  rec.warning(a, 'ChildConflict', 'Service ev/a already exists');
  rec.normal(a, 'ChildConflict', 'Deployment ev/a already exists');
  rec.warning(md('b', 'uid-b'), 'ChildConflict', 'Deployment ev/a already exists');
  await rec.flush();
  expect(server.store.list(EVENTS, 'ev').items).toHaveLength(4);

  // More than ten minutes after the last one: a new Event.
  now += EVENT_DEDUP_WINDOW_MS + 1;
  rec.warning(a, 'ChildConflict', 'Deployment ev/a already exists');
  await rec.flush();
  events = server.store.list(EVENTS, 'ev').items as unknown as CoreV1Event[];
  expect(events.filter((e) => e.message === 'Deployment ev/a already exists' && e.type === 'Warning' && e.involvedObject.uid === 'uid-a').map((e) => e.count)).toEqual([3, 1]);

  // An Event deleted meanwhile (expired by the API server) is written afresh.
  const latest = events[events.length - 1];
  server.store.delete(EVENTS, 'ev', latest.metadata!.name!);
  now += 1000;
  rec.warning(a, 'ChildConflict', 'Deployment ev/a already exists');
  await rec.flush();
  expect(server.store.list(EVENTS, 'ev').items.filter((e) => e.message === 'Deployment ev/a already exists' && (e as { type?: string }).type === 'Warning' && (e as { involvedObject: { uid: string } }).involvedObject.uid === 'uid-a').map((e) => e.count)).toEqual([3, 1]);
});
