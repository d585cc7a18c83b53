// A model that refuses the runtime's generated warm-up inputs is served all the same; the operator asks each ready
// pod once for its model metadata and says so in the ModelLoaded condition (reason WarmUpFailed).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { putDeploymentPod, setDeploymentStatus } from '../../support/fake-apiserver/index.js';
import { Harness, condition, eventually, modelDeployment } from './harness.js';

const NS = 'ml';
const PAD_ERROR = "Non-zero status code returned while running Pad node. Name:'pad' Status Message: Pad reflect requires axis length >= 2";
let h: Harness;
let runtime: Server;
let asked: string[];

beforeAll(async () => {
  h = await Harness.start();
  await h.operator().start();
  await h.operators[0].waitUntilSynced();
  asked = [];
  // Two runtime pods' metadata endpoints: one whose generated warm-up failed, one whose went well.
  runtime = createServer((req, res) => {
    asked.push(`${req.socket.localAddress} ${req.url}`);
    const failed = req.socket.localAddress === '127.0.0.31';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: 'vad', platform: 'onnxruntime_onnx', warmup: failed ? { status: 'failed', inputs: 'generated', message: PAD_ERROR } : { status: 'ok', inputs: 'generated' } }));
  });
  await new Promise<void>((r) => runtime.listen(0, '0.0.0.0', r));
});
afterAll(async () => {
  runtime.close();
  await h.stop();
});

it('says the model is served although its warm-up on generated inputs failed, with onnxruntime\'s message; each pod is asked once', async () => {
  await h.create(NS, modelDeployment('detector', { replicas: 2, model: { uri: 'https://models.example/vad.onnx', servedName: 'vad' } }));
  await eventually(async () => h.apps.readNamespacedDeployment({ name: 'detector', namespace: NS }));
  const port = (runtime.address() as AddressInfo).port;
  putDeploymentPod(h.server, NS, 'detector', 'detector-a', { phase: 'Running', ready: true }, { podIP: '127.0.0.31', ports: { http: port } });
  putDeploymentPod(h.server, NS, 'detector', 'detector-b', { phase: 'Running', ready: true }, { podIP: '127.0.0.32', ports: { http: port } });
  setDeploymentStatus(h.server, NS, 'detector', { replicas: 2, readyReplicas: 2 });
  const md = await h.until(NS, 'detector', (m) => expect(condition(m, 'ModelLoaded')?.reason).toBe('WarmUpFailed'));
  expect(condition(md, 'ModelLoaded')).toMatchObject({
    status: 'True',
    message: `loaded by 2 replicas; the warm-up on generated inputs failed on detector-a and the model is served all the same (spec.runtime.warmup gives it inputs it takes): ${PAD_ERROR}`,
  });
  expect(condition(md, 'Ready')?.status).toBe('True');
  h.operators[0].resync();
  await new Promise((r) => setTimeout(r, 300));
  expect(asked.sort()).toEqual(['127.0.0.31 /v2/models/vad', '127.0.0.32 /v2/models/vad']);
});
