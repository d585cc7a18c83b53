// Which models are generative: a decoder in the exported layout with config.json and tokenizer.json beside it. A model
// directory with a tokenizer whose model is not such a decoder is served as an ordinary model; the generation flags
// are serve flags with environment variables, refused naming the flag; a --max-model-len past the model's context
// stops the start with the reason; a stream running at SIGTERM is finished before the server exits.
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { simpleModel, writeModel } from '../../../examples/onnx-models.js';
import { infer, runCli, startRuntime, tempDir } from '../../support/runtime-process.js';
import { decoderDir, postJson, readEvents } from './support.js';

const tmp = tempDir('modelplane-gen-detect-');
afterAll(() => tmp.remove());

test('a model with a tokenizer beside it that is not a decoder is served as an ordinary model', async () => {
  const decoder = decoderDir(tmp.path, 'decoder');
  const dir = join(tmp.path, 'encoder');
  mkdirSync(dir);
  writeModel(join(dir, 'model.onnx'), simpleModel());
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(decoder.dir, f), join(dir, f));
  const rt = await startRuntime(['--model', dir]);
  try {
    const meta = await (await fetch(`${rt.url}/v2/models/encoder`)).json();
    expect(meta.generative).toBeUndefined();
    const row = Array.from({ length: 16 }, (_, i) => i);
    const r = await infer(rt.url, 'encoder', { inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'FP32', shape: [1, 16], data: row })) });
    expect(r.status).toBe(200);
    expect(await (await fetch(`${rt.url}/v1/models`)).json()).toEqual({ object: 'list', data: [] });
    const completion = await postJson(`${rt.url}/v1/completions`, { model: 'encoder', prompt: 'x' });
    expect(completion.status).toBe(400);
    expect((await completion.json()).error).toMatchObject({ code: 'model_not_generative', param: 'model' });
    const generate = await postJson(`${rt.url}/v2/models/encoder/generate`, { text_input: 'x' });
    expect(generate.status).toBe(400);
    expect((await generate.json()).error).toMatch(/not a generative model/);
    const why = rt.logLines().find((l) => l.message === 'served as an ordinary model, not a generative one');
    expect(why?.reason).toMatch(/it has no input input_ids/);
  } finally {
    await rt.stop();
  }
});

test('a transformers.js repository (the graph under onnx/, config and tokenizer at the top) is served as it is, answering as the same model in the Optimum layout', async () => {
  const optimum = decoderDir(tmp.path, 'optimum-layout');
  const repo = decoderDir(tmp.path, 'tiny-gpt');
  mkdirSync(join(repo.dir, 'onnx'));
  renameSync(join(repo.dir, 'model.onnx'), join(repo.dir, 'onnx', 'model.onnx'));
  const prompts = ['the cluster', 'hello world', '\u00e9t\u00e9 \u4e2d\u6587'];
  const answers = async (dirOrFile: string, name?: string) => {
    const rt = await startRuntime(['--model', dirOrFile, ...(name ? ['--name', name] : [])]);
    try {
      const served = (await (await fetch(`${rt.url}/v1/models`)).json()).data.map((m: { id: string }) => m.id);
      const texts = await Promise.all(prompts.map(async (prompt) => {
        const r = await postJson(`${rt.url}/v1/completions`, { model: served[0], prompt, max_tokens: 8, temperature: 0 });
        expect(r.status).toBe(200);
        return (await r.json()).choices[0].text as string;
      }));
      return { served, texts };
    } finally {
      await rt.stop();
    }
  };
  const reference = await answers(optimum.dir, 'tiny-gpt');
  expect(reference.texts.every((t) => t.length > 0)).toBe(true);
  expect(await answers(repo.dir)).toEqual({ served: ['tiny-gpt'], texts: reference.texts });
  // The graph named directly: its tokenizer and config are read from the directory above onnx/.
  expect(await answers(join(repo.dir, 'onnx', 'model.onnx'))).toEqual({ served: ['tiny-gpt'], texts: reference.texts });
});

test('the generation flags: in --help with their environment variables, refused naming the flag, checked against the model', async () => {
  const help = await runCli(['serve', '--help']);
  const text = help.stdout.replace(/\s+/g, ' ');
  for (const [flag, env] of [['--max-num-seqs <n>', 'MODELPLANE_MAX_NUM_SEQS'], ['--max-model-len <n>', 'MODELPLANE_MAX_MODEL_LEN'], ['--max-kv-cache-bytes <n>', 'MODELPLANE_MAX_KV_CACHE_BYTES']]) {
    expect(text).toContain(flag);
    expect(text).toContain(`(env: ${env})`);
  }
  const zero = await runCli(['serve', '--model', 'm.onnx', '--max-num-seqs', '0']);
  expect(zero.code).toBe(2);
  expect(zero.stderr).toMatch(/--max-num-seqs: must be an integer from 1 to 4096, got "0"/);
  const model = decoderDir(tmp.path, 'context');
  const past = await runCli(['serve', '--model', model.dir, '--http-port', '0', '--host', '127.0.0.1', '--max-model-len', '4096'], { env: { ...process.env, NODE_OPTIONS: '', MODELPLANE_TERMINATION_LOG: '/nonexistent/termination-log' } });
  expect(past.code).toBe(1);
  expect(past.stdout).toMatch(/--max-model-len 4096 is more than the model's context length of 2048 tokens/);
  expect(past.stdout).toMatch(/"reason":"InvalidConfig"/);
});

test('SIGTERM while a stream runs: the stream gets to its end, then the server exits 0', async () => {
  const model = decoderDir(tmp.path, 'drain');
  // A drain deadline past the test's own: a connection left open after the stream would hold the exit beyond it.
  const rt = await startRuntime(['--model', model.dir, '--name', 'tiny', '--log-level', 'info', '--drain-timeout-seconds', '600']);
  const res = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello', max_tokens: 300, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
  let signalled = false;
  const events = await readEvents(res, () => {
    if (!signalled) {
      signalled = true;
      rt.proc.kill('SIGTERM');
    }
  });
  expect(events[events.length - 1]).toBe('[DONE]');
  expect(JSON.parse(events[events.length - 2]).usage.completion_tokens).toBe(300);
  expect(await rt.exited).toBe(0);
  expect(rt.logLines().find((l) => l.message === 'listener closed')?.inflight).toBe(1);
});
