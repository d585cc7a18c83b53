// A generative model whose weights are ONNX external data (model.onnx with its initializers in model.onnx_data, as
// Optimum and transformers export models past protobuf's 2 GiB) is served as the same model: its greedy tokens are the
// inline model's, as a plain onnxruntime loop over the inline file gives them. So is the model `modelplane optimize`
// writes from it (model.onnx with model.onnx.data, in its own directory) when serve is pointed at it.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { DECODER_DATA_FILE } from '../../../examples/decoder-model.js';
import { runCli, startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir, postJson, ReferenceDecoder, tokenPrompts } from './support.js';

const { onnx } = onnxProto;
const tmp = tempDir('modelplane-gen-external-');
const started: RuntimeProcess[] = [];

afterAll(async () => {
  await Promise.all(started.map((rt) => rt.stop()));
  tmp.remove();
});

/** The greedy tokens a server gives for each prompt (token ids in, token ids out, end-of-sequence tokens ignored). */
async function greedyTokens(rt: RuntimeProcess, prompts: number[][], maxTokens: number): Promise<number[][]> {
  return Promise.all(prompts.map(async (prompt) => {
    const res = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, return_token_ids: true });
    expect(res.status).toBe(200);
    return (await res.json()).choices[0].token_ids as number[];
  }));
}

test('the weights in model.onnx_data: greedy tokens equal the inline model\'s, served as it is and optimised', async () => {
  const inline = decoderDir(tmp.path, 'inline');
  const external = decoderDir(tmp.path, 'external', { externalData: true });
  // The external model holds its weights by reference: location, offset and length into model.onnx_data.
  const proto = onnx.ModelProto.decode(readFileSync(join(external.dir, 'model.onnx')));
  const stored = proto.graph!.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
  expect(stored.length).toBeGreaterThan(10);
  for (const t of stored) expect(t.externalData!.map((e) => e.key)).toEqual(['location', 'offset', 'length']);
  expect(new Set(stored.map((t) => t.externalData![0].value))).toEqual(new Set([DECODER_DATA_FILE]));
  expect(statSync(join(external.dir, 'model.onnx')).size * 20).toBeLessThan(statSync(join(inline.dir, 'model.onnx')).size);

  const prompts = tokenPrompts([3, 9, 17], inline.spec.vocabSize - 3, 11);
  const reference = await ReferenceDecoder.load(inline);
  const expected = [];
  for (const p of prompts) expected.push(await reference.greedy(p, 12));

  // Served from the directory, and from the file named directly (external data resolves beside it either way).
  for (const model of [external.dir, join(external.dir, 'model.onnx')]) {
    const rt = await startRuntime(['--model', model, '--name', 'tiny', '--log-level', 'warn']);
    started.push(rt);
    expect(await greedyTokens(rt, prompts, 12)).toEqual(expected);
    expect((await (await fetch(`${rt.url}/v2/models/tiny`)).json()).generative).toBe(true);
    await rt.stop();
  }

  // `modelplane optimize` reads the external data and writes its own (model.onnx.data); serve loads that file from the
  // optimised directory, and the tokenizer and config.json from the original's.
  const samples = join(tmp.path, 'samples.json');
  writeFileSync(samples, JSON.stringify({
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: [1, 4], data: [5, 6, 7, 8] },
      { name: 'attention_mask', datatype: 'INT64', shape: [1, 4], data: [1, 1, 1, 1] },
      { name: 'position_ids', datatype: 'INT64', shape: [1, 4], data: [0, 1, 2, 3] },
      ...[0, 1].flatMap((l) => ['key', 'value'].map((kv) => ({ name: `past_key_values.${l}.${kv}`, datatype: 'FP32', shape: [1, 2, 0, 16], data: [] }))),
    ],
  }));
  const optimized = join(tmp.path, 'optimized');
  const run = await runCli(['optimize', '--model', external.dir, '--out', optimized, '--graph-optimization', 'extended', '--min-speedup', '0', '--samples', samples, '--latency-budget-ms', '200'], { timeoutMs: 120_000 });
  expect(run.code).toBe(0);
  expect(statSync(join(optimized, 'model.onnx.data')).size).toBeGreaterThan(statSync(join(optimized, 'model.onnx')).size);
  const rt = await startRuntime(['--model', external.dir, '--optimized-model-dir', optimized, '--name', 'tiny', '--log-level', 'warn']);
  started.push(rt);
  expect((await (await fetch(`${rt.url}/v2/models/tiny`)).json()).parameters).toMatchObject({ optimized: true, generative: true });
  expect(await greedyTokens(rt, prompts, 12)).toEqual(expected);
}, 240_000);
