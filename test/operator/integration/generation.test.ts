// A generative ModelDeployment through the operator's own objects: the operator (against the fake API server)
// writes the Deployment, and its runtime container's command line, run as a real process as the kubelet would run
// it, serves the decoder model built in code; the official openai client streams from it.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import OpenAI from 'openai';
import type { V1Container } from '@kubernetes/client-node';
import { writeDecoderModelDir } from '../../../examples/decoder-model.js';
import { startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { Harness, eventually, modelDeployment } from './harness.js';

const NS = 'gen';
const tmp = tempDir('modelplane-gen-operator-');
let h: Harness;
let rt: RuntimeProcess | undefined;

beforeAll(async () => {
  h = await Harness.start();
  await h.operator({ namespaces: [NS] }).start();
  await h.operators[0].waitUntilSynced();
});
afterAll(async () => {
  await rt?.stop();
  await h.stop();
  tmp.remove();
});

/** The container's arguments after `serve`, less its ports: the test listens on a free loopback port instead. */
function serveArgs(c: V1Container): string[] {
  const args = c.args!;
  expect(c.command).toEqual(['modelplane']);
  expect(args[0]).toBe('serve');
  const out: string[] = [];
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '--http-port' || args[i] === '--grpc-port') i++;
    else out.push(args[i]);
  }
  return out;
}

it('a decoder in a model directory: the rendered runtime container serves it, and the openai client streams from it', async () => {
  const dir = writeDecoderModelDir(`${tmp.path}/chat`);
  await h.create(NS, modelDeployment('chat', { model: { uri: `file://${dir.dir}/model.onnx` } }));
  const d = await eventually(() => h.apps.readNamespacedDeployment({ name: 'chat', namespace: NS }));
  const pod = d.spec!.template.spec!;
  // An in-place model without a sha256: nothing to fetch, the runtime reads the directory beside the model file.
  expect(pod.initContainers ?? []).toEqual([]);
  const runtime = pod.containers.find((c) => c.name === 'runtime')!;
  const env = Object.fromEntries((runtime.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  rt = await startRuntime([...serveArgs(runtime), '--grpc-port', '0'], { env });

  const meta = await (await fetch(`${rt.url}/v2/models/chat`)).json() as { parameters?: Record<string, unknown> };
  expect(meta.parameters).toMatchObject({ generative: true });
  const client = new OpenAI({ baseURL: `${rt.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  expect((await client.models.list()).data.map((m) => m.id)).toEqual(['chat']);
  const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish: string | null | undefined;
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  expect(usage?.completion_tokens).toBeGreaterThan(0);
  expect(usage!.completion_tokens).toBeLessThanOrEqual(8);
  expect(['stop', 'length']).toContain(finish);
  // The same prompt, greedy and not streamed, gives the same text.
  const whole = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 8, temperature: 0 });
  expect(whole.choices[0].message.content).toBe(text);
});
