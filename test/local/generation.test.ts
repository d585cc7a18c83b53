// `modelplane local` serving a generative ModelDeployment beside a plain one, as a user runs it: the real CLI, real
// `modelplane serve` replicas (a decoder directory built in code, and Triton's simple model), the official `openai`
// client through the router, server-sent events passed on as the replica writes them, a client that goes away
// mid-stream freeing the replica's sequence, and the generation figures on /api/local and the dashboard (headless Chromium).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';
import { writeDecoderModelDir } from '../../examples/decoder-model.js';
import { simpleModel } from '../../examples/onnx-models.js';
import { CLI, metricValue, modelFile, tempDir } from '../support/runtime-process.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { terminate } from '../support/processes.js';

interface ReplicaInfo { id: string; phase: string; pid: number; port: number; inflight: number }
interface Generation { tokensPerSecond: number; timeToFirstTokenSeconds: number | null; runningSequences: number; waitingSequences: number; windowSeconds: number }
interface DeploymentInfo { name: string; readyReplicas: number; inflight: number; replicas: ReplicaInfo[]; textGeneration: Generation | null }

async function deployments(url: string): Promise<DeploymentInfo[]> {
  return (await (await fetch(`${url}/api/local`, { signal: AbortSignal.timeout(5000) })).json()).deployments;
}

async function deployment(url: string, name: string): Promise<DeploymentInfo> {
  return (await deployments(url)).find((d) => d.name === name)!;
}

/** A replica's own metric, read from the replica (not through the router). */
async function replicaMetric(replica: ReplicaInfo, name: string, labels = ''): Promise<number> {
  return metricValue(await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text(), name, labels);
}

/** Reads server-sent events until `until` says stop (then the reader is left open) or the stream ends. */
async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, until: (data: string) => boolean): Promise<string[]> {
  const events: string[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const data = buffered.slice(0, end).replace(/^data: /, '');
      buffered = buffered.slice(end + 2);
      events.push(data);
      if (until(data)) return events;
    }
  }
}

const hasContent = (data: string) => data !== '[DONE]' && !!JSON.parse(data).choices?.[0]?.delta?.content;

const LONG = { model: 'chat', messages: [{ role: 'user', content: 'Tell me a long story.' }], stream: true, max_tokens: 3000, ignore_eos: true };

describe('modelplane local: a generative ModelDeployment beside a plain one', () => {
  const tmp = tempDir('modelplane-local-gen-');
  let proc: ChildProcess;
  let out = '';
  let url = '';
  let client: OpenAI;

  beforeAll(async () => {
    const models = join(tmp.path, 'models');
    const manifests = join(tmp.path, 'manifests');
    mkdirSync(manifests, { recursive: true });
    mkdirSync(models, { recursive: true });
    modelFile(models, 'simple', simpleModel());
    // A context long enough for streams that run for seconds.
    writeDecoderModelDir(join(models, 'chat'), { maxPositions: 4096 });
    writeFileSync(join(manifests, 'models.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: chat }
spec:
  model: { uri: "file://${models}/chat" }
---
apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${models}/simple.onnx" }
`);
    proc = spawn(process.execPath, [CLI, 'local', '-f', manifests, '--port', '0', '--cache-dir', join(tmp.path, 'cache'), '--log-level', 'warn', '--no-table'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (c) => (out += c));
    proc.stderr!.on('data', (c) => (out += c));
    url = await waitFor('the router URL', async () => {
      if (proc.exitCode !== null) throw new Error(`modelplane local exited: ${out}`);
      return /router on (http:\/\/\S+)/.exec(out)?.[1];
    });
    await waitFor('chat and simple ready', async () => (await deployments(url)).every((d) => d.readyReplicas === 1), 60_000);
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  }, 90_000);

  afterAll(async () => {
    if (proc) await terminate(proc, 15_000);
    tmp.remove();
  });

  test('the openai client through the router: the model list, chat and completions whole and streamed; the plain model answers infer', async () => {
    const list = await client.models.list();
    // Only the generative model: simple answers /v2/models/simple/infer, not completions.
    expect(list.data).toEqual([{ id: 'chat', object: 'model', created: expect.any(Number), owned_by: 'modelplane', max_model_len: 4096 }]);
    expect((await client.models.retrieve('chat')).id).toBe('chat');
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'hi' }];
    const whole = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 12, temperature: 0 });
    expect(whole).toMatchObject({ object: 'chat.completion', model: 'chat', choices: [{ message: { role: 'assistant' } }] });
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 12, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(whole.choices[0].message.content);
    const completion = await client.completions.create({ model: 'chat', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    expect(completion).toMatchObject({ object: 'text_completion', model: 'chat', usage: { completion_tokens: 8 } });
    const streamed = await client.completions.create({ model: 'chat', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, stream: true });
    let streamedText = '';
    for await (const chunk of streamed) streamedText += chunk.choices[0]?.text ?? '';
    expect(streamedText).toBe(completion.choices[0].text);
    // The plain model beside it, on the same router, by its path.
    const infer = await fetch(`${url}/v2/models/simple/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(2) }, { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(3) }] }) });
    expect((await infer.json()).outputs[0].data).toEqual(Array(16).fill(5));
    // Triton's generate extension routes by its path.
    const generated = await fetch(`${url}/v2/models/chat/generate`, { method: 'POST', body: JSON.stringify({ text_input: 'Once upon a time', max_tokens: 8, temperature: 0 }) });
    const triton = await generated.json();
    expect(triton).toMatchObject({ model_name: 'chat', finish_reason: 'length' });
    expect(triton.text_output.endsWith(completion.choices[0].text)).toBe(true);
  });

  test('errors in OpenAI\'s shape: an unknown model is 404, a body without a model 400, a plain model asked for a completion 400', async () => {
    const unknown = client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] });
    await expect(unknown).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(unknown).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model', message: expect.stringContaining("The model 'nope' does not exist") });
    const post = (body: string) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const noModel = await post(JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(noModel.status).toBe(400);
    expect(await noModel.json()).toEqual({ error: { message: expect.stringMatching(/^model: is required/), type: 'invalid_request_error', param: 'model', code: 'missing_model' } });
    const notJson = await post('{"model": ');
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    // simple is served, but does not generate: its replica says so.
    const plain = await post(JSON.stringify({ model: 'simple', messages: [{ role: 'user', content: 'hi' }] }));
    expect(plain.status).toBe(400);
    expect((await plain.json()).error).toMatchObject({ code: 'model_not_generative' });
    const retrieve = client.models.retrieve('simple');
    await expect(retrieve).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('a stream passes through as it is generated: the first event arrives while the replica still generates, and it counts as in flight until it ends', async () => {
    const before = await deployment(url, 'chat');
    const started = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(LONG) });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const first = await readEvents(reader, hasContent);
    const firstAt = performance.now() - started;
    // The replica has not finished: its sequence runs, and the router counts the stream on the deployment and the replica.
    expect(await replicaMetric(before.replicas[0], 'modelplane_generation_running_sequences')).toBe(1);
    const during = await deployment(url, 'chat');
    expect(during.inflight).toBe(1);
    expect(during.replicas[0].inflight).toBe(1);
    const rest = await readEvents(reader, () => false);
    const endAt = performance.now() - started;
    const events = [...first, ...rest];
    expect(events[events.length - 1]).toBe('[DONE]');
    expect(events.filter(hasContent).length).toBeGreaterThan(100);
    // Well before the end: the router does not hold the answer back.
    expect(firstAt).toBeLessThan(endAt / 2);
    await waitFor('the stream no longer in flight', async () => (await deployment(url, 'chat')).inflight === 0);
  });

  test('a client that goes away mid-stream: the router drops the upstream connection and the replica frees the sequence', async () => {
    const chat = await deployment(url, 'chat');
    const replica = chat.replicas[0];
    const cancelledBefore = await replicaMetric(replica, 'modelplane_generation_sequences_total', 'reason="cancelled"');
    const abort = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(LONG), signal: abort.signal });
    const reader = res.body!.getReader();
    await readEvents(reader, hasContent);
    expect(await replicaMetric(replica, 'modelplane_generation_running_sequences')).toBe(1);
    abort.abort();
    await reader.closed.catch(() => undefined);
    await waitFor('the sequence freed', async () => (await replicaMetric(replica, 'modelplane_generation_running_sequences')) === 0, 10_000);
    expect(await replicaMetric(replica, 'modelplane_generation_sequences_total', 'reason="cancelled"')).toBe(cancelledBefore + 1);
    await waitFor('the router\'s counts back to zero', async () => {
      const d = await deployment(url, 'chat');
      return d.inflight === 0 && d.replicas[0].inflight === 0;
    });
  });

  test('/api/local carries tokens per second, time to first token and running sequences for the generative deployment only; /metrics sums the generation metrics', async () => {
    await deployments(url);
    await client.completions.create({ model: 'chat', prompt: 'Once upon a time', max_tokens: 64, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    await sleep(600);
    const [chat, simple] = await Promise.all([deployment(url, 'chat'), deployment(url, 'simple')]);
    expect(simple.textGeneration).toBeNull();
    expect(chat.textGeneration).toMatchObject({ runningSequences: 0, waitingSequences: 0, windowSeconds: 10 });
    expect(chat.textGeneration!.tokensPerSecond).toBeGreaterThan(0);
    expect(chat.textGeneration!.timeToFirstTokenSeconds).toBeGreaterThan(0);
    // The router's /metrics sums the replicas' generation counters and histograms, as for inference.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metricValue(metrics, 'modelplane_generation_tokens_total', 'model="chat"')).toBeGreaterThan(64);
    expect(metricValue(metrics, 'modelplane_generation_time_to_first_token_seconds_count', 'model="chat"')).toBeGreaterThan(0);
    // A stream under way is a running sequence.
    const abort = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(LONG), signal: abort.signal });
    const reader = res.body!.getReader();
    try {
      await readEvents(reader, hasContent);
      await waitFor('a running sequence on /api/local', async () => (await deployment(url, 'chat')).textGeneration?.runningSequences === 1, 5000);
    } finally {
      abort.abort();
      await reader.closed.catch(() => undefined);
    }
  });

  test('the dashboard shows the generative deployment\'s tokens/s, time to first token and running sequences (headless Chromium)', async () => {
    await client.completions.create({ model: 'chat', prompt: 'Once upon a time', max_tokens: 64, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${url}/`);
      // Drawn once the page has polled /api/local; the streams of earlier tests are over by now.
      await page.waitForFunction(() => document.querySelector('section.deployment[data-name="chat"] .generation b.running')?.textContent === '0');
      const figures = await page.$eval('section.deployment[data-name="chat"] .generation', (e) => ({
        tokens: e.querySelector('b.tokens')?.textContent,
        ttft: e.querySelector('b.ttft')?.textContent,
        running: e.querySelector('b.running')?.textContent,
        text: e.textContent,
      }));
      expect(figures.tokens).toMatch(/^\d+\.\d$/);
      expect(figures.ttft).toMatch(/^(\d+(\.\d+)? ms|–)$/);
      expect(figures.running).toBe('0');
      expect(figures.text).toMatch(/tokens\/s.*time to first token.*running sequences/);
      expect(await page.$('section.deployment[data-name="simple"] .generation')).toBeNull();
    } finally {
      await browser.close();
    }
  });
});
