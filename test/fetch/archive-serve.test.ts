// `serve --model <archive URI>`: the runtime fetches with the same code, unpacks the archive into its cache and loads
// the folder: here a zip (made by the system's zip) of a model whose weights live in model.onnx_data beside it.
import { mkdirSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { mlpModel, writeModel } from '../../examples/onnx-models.js';
import { infer, startRuntime, tempDir } from '../support/runtime-process.js';
import { serveBody, startHttpServer, type TestServer } from './support/servers.js';
import { sha256 } from './support/helpers.js';
import { systemZip } from './support/archives.js';

const tmp = tempDir('modelplane-archive-serve-');
let http: TestServer;

afterAll(async () => {
  await http?.close();
  tmp.remove();
});

test('serve fetches a zip of model.onnx and model.onnx_data over HTTP, unpacks it into its cache and serves it', async () => {
  const src = join(tmp.path, 'src');
  mkdirSync(src);
  writeModel(join(src, 'mlp'), mlpModel(8, 2, { externalFile: 'model.onnx_data' }));
  systemZip(join(src, 'mlp'), ['-qr', join(tmp.path, 'mlp.zip'), '.']);
  const archive = await readFile(join(tmp.path, 'mlp.zip'));
  http = await startHttpServer((req, res) => serveBody(req, res, archive, { ranges: true }));
  const cache = join(tmp.path, 'cache');
  const rt = await startRuntime(['--model', `${http.url}/models/mlp.zip`, '--sha256', sha256(archive), '--cache-dir', cache, '--name', 'mlp']);
  try {
    const r = await infer(rt.url, 'mlp', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: [1, 2, 3, 4, 5, 6, 7, 8] }] });
    expect(r.status).toBe(200);
    expect(r.json.outputs[0]).toMatchObject({ name: 'output', shape: [1, 8] });
    expect(r.json.outputs[0].data).toEqual(await reference(join(src, 'mlp', 'model.onnx'), [1, 2, 3, 4, 5, 6, 7, 8]));
    expect(rt.logLines().some((l) => l.message === 'unpacking archive' && l.format === 'zip')).toBe(true);
  } finally {
    await rt.stop();
  }
}, 120_000);

test('a file:// archive unpacks into a cache directory of its own, not into the cache itself', async () => {
  const src = join(tmp.path, 'src-local');
  writeModel(join(src, 'mlp'), mlpModel(8, 2, { externalFile: 'model.onnx_data' }));
  systemZip(join(src, 'mlp'), ['-qr', join(tmp.path, 'local.zip'), '.']);
  const cache = join(tmp.path, 'cache-local');
  const rt = await startRuntime(['--model', `file://${join(tmp.path, 'local.zip')}`, '--cache-dir', cache, '--name', 'mlp']);
  try {
    const r = await infer(rt.url, 'mlp', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: [8, 7, 6, 5, 4, 3, 2, 1] }] });
    expect(r.status).toBe(200);
    expect(r.json.outputs[0].data).toEqual(await reference(join(src, 'mlp', 'model.onnx'), [8, 7, 6, 5, 4, 3, 2, 1]));
    const dirs = readdirSync(cache);
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).toMatch(/^[0-9a-f]{32}$/);
  } finally {
    await rt.stop();
  }
}, 120_000);

/** The model's output for one row, from onnxruntime directly. */
async function reference(model: string, row: number[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(row), [1, row.length]) });
  await session.release();
  return Array.from(out.output.data as Float32Array);
}
