// The operator never adopts: a Deployment or Service of the same name that its ModelDeployment does not
// control is left untouched, the ModelDeployment reports Ready=False ChildConflict naming the object, an
// Event says so, and reconciling proceeds once the user removes their object.
import { afterEach, expect, it } from '@jest/globals';
import { findResource } from '../../support/fake-apiserver/index.js';
import { Harness, MERGE, condition, eventually, modelDeployment, sleep } from './harness.js';

const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const SERVICES = findResource('', 'v1', 'services')!;
const EVENTS = findResource('', 'v1', 'events')!;
const NS = 'ml';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const userDeployment = (name: string) => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name, labels: { app: 'mine' } },
  spec: { replicas: 1, selector: { matchLabels: { app: 'mine' } }, template: { metadata: { labels: { app: 'mine' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
});

it('leaves a user\'s same-named Deployment alone, reports ChildConflict with an Event, and proceeds once it is removed', async () => {
  h = await Harness.start();
  const op = h.operator({ conflictRetryMs: 200 });
  await op.start();
  await op.waitUntilSynced();
  const mine = await h.apps.createNamespacedDeployment({ namespace: NS, body: userDeployment('clash') });
  await h.create(NS, modelDeployment('clash'));

  const md = await h.until(NS, 'clash', (m) => expect(condition(m, 'Ready')).toMatchObject({ status: 'False', reason: 'ChildConflict' }));
  expect(condition(md, 'Ready')!.message).toMatch(/^Deployment ml\/clash already exists and has no controller/);
  await eventually(() => {
    const events = h!.server.store.list(EVENTS, NS).items.filter((e) => e.reason === 'ChildConflict');
    expect(events).toHaveLength(1);
    expect(String(events[0].message)).toContain('Deployment ml/clash');
    expect(events[0].type).toBe('Warning');
  });
  await sleep(600);
  // Untouched: no ownerReference, not one field changed, and nothing else applied meanwhile.
  const live = h.server.store.get(DEPLOYMENTS, NS, 'clash')!;
  expect(live.metadata.resourceVersion).toBe(mine.metadata!.resourceVersion);
  expect(live.metadata.ownerReferences).toBeUndefined();
  // Children are created before the Deployment, so no pod starts beside a conflict; the Service stays, owned by the ModelDeployment.
  expect((h.server.store.get(SERVICES, NS, 'clash')!.metadata.ownerReferences as Array<{ uid: string }>)[0].uid).toBe(md.metadata!.uid);
  // Retried, not forgotten: the one Event's count went up instead of new Events.
  const event = h.server.store.list(EVENTS, NS).items.find((e) => e.reason === 'ChildConflict')!;
  expect(Number(event.count)).toBeGreaterThan(1);

  await h.apps.deleteNamespacedDeployment({ name: 'clash', namespace: NS });
  await h.until(NS, 'clash', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'));
  const ours = h.server.store.get(DEPLOYMENTS, NS, 'clash')!;
  expect((ours.metadata.ownerReferences as Array<{ uid: string; controller: boolean }>)[0]).toMatchObject({ uid: md.metadata!.uid, controller: true });
  expect(h.server.store.get(SERVICES, NS, 'clash')).toBeDefined();
});

it('never adopts a Service that carries the operator\'s labels, and leaves it behind when the ModelDeployment is deleted', async () => {
  h = await Harness.start();
  const op = h.operator({ conflictRetryMs: 200 });
  await op.start();
  await op.waitUntilSynced();
  // Copied from a rendered manifest: our labels, no ownerReference.
  await h.core.createNamespacedService({
    namespace: NS,
    body: { metadata: { name: 'copied', labels: { 'app.kubernetes.io/managed-by': 'modelplane' } }, spec: { ports: [{ name: 'http', port: 8080 }] } },
  });
  await h.create(NS, modelDeployment('copied'));
  const md = await h.until(NS, 'copied', (m) => expect(condition(m, 'Ready')?.reason).toBe('ChildConflict'));
  expect(condition(md, 'Ready')!.message).toMatch(/^Service ml\/copied already exists/);
  expect(h.server.store.get(DEPLOYMENTS, NS, 'copied')).toBeUndefined();
  await h.custom.deleteNamespacedCustomObject({ group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments', namespace: NS, name: 'copied' });
  await sleep(300);
  const svc = h.server.store.get(SERVICES, NS, 'copied');
  expect(svc).toBeDefined();
  expect(svc!.metadata.ownerReferences).toBeUndefined();
});

it('looks again the moment the object in the way is deleted, not at its next periodic retry', async () => {
  h = await Harness.start();
  const op = h.operator({ conflictRetryMs: 10 * 60_000 });
  await op.start();
  await op.waitUntilSynced();
  await h.apps.createNamespacedDeployment({ namespace: NS, body: userDeployment('later') });
  await h.create(NS, modelDeployment('later'));
  await h.until(NS, 'later', (m) => expect(condition(m, 'Ready')?.reason).toBe('ChildConflict'));
  // Something else changing meanwhile must not end the watch on the object in the way.
  await h.apps.patchNamespacedDeployment({ name: 'later', namespace: NS, body: { metadata: { labels: { touched: 'yes' } } } }, MERGE);
  await sleep(200);
  await h.apps.deleteNamespacedDeployment({ name: 'later', namespace: NS });
  const md = await h.until(NS, 'later', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'), 3000);
  const ours = h.server.store.get(DEPLOYMENTS, NS, 'later')!;
  expect((ours.metadata.ownerReferences as Array<{ uid: string }>)[0].uid).toBe(md.metadata!.uid);
});
