// A real API server validates the whole object on every status write, so a spec that a looser (older) CRD let in
// and today's rules forbid blocks each status the operator writes: it says so in an Event and does not retry in
// a loop. The test API server does the same (test/cluster/api-server.test.ts checks both agree).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { buildCrd } from '../../../operator/api/crd.js';
import { Harness, eventually, modelDeployment, sleep } from './harness.js';

const NS = 'ml';
let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => h.stop());

it('says in an Event, without retrying in a loop, that the API server refuses every status while the spec breaks today\'s CRD', async () => {
  const strict = JSON.parse(JSON.stringify(buildCrd().spec.versions[0].schema.openAPIV3Schema)) as Record<string, unknown>;
  await h.replaceCrd((schema) => delete schema.properties.spec.properties.model.properties.uri['x-kubernetes-validations']);
  await h.create(NS, modelDeployment('broken', { model: { uri: 'ftp://nowhere/model.onnx' } }));
  await h.replaceCrd((schema) => Object.assign(schema, strict));
  h.server.clearRequestLog();
  const op = h.operator();
  await op.start();
  await eventually(async () => {
    const events = await h.core.listNamespacedEvent({ namespace: NS });
    const e = events.items.find((x) => x.reason === 'StatusRejected' && x.involvedObject.name === 'broken');
    expect(e?.message).toMatch(/refused the status update.*spec\.model\.uri: Invalid value: "string": uri must be/);
  });
  await sleep(500);
  expect(h.server.requests.filter((r) => r.path.endsWith('/modeldeployments/broken/status') && r.method !== 'GET')).toHaveLength(1);
  expect((await h.read(NS, 'broken')).status).toBeUndefined();
});
