// spec.optimization in local mode: the pod's optimise step, run on the cached model with the operator's arguments,
// reused from the cache, its summary in status.optimization and its output handed to the replicas.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mlpModel, writeModel } from '../../examples/onnx-models.js';
import { optimizeForLocal, optimizedDirFor } from '../../local/model-optimizer.js';
import { replicaArgs } from '../../local/replica-args.js';
import { localStatus } from '../../local/status.js';
import { md } from '../operator/resources/fixtures.js';

const CLI = { command: process.execPath, cliPath: new URL('../../bin/modelplane.js', import.meta.url).pathname };
let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'modelplane-local-opt-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('int8: the step runs once, its output and summary are reused, and replicas serve from its directory', async () => {
  const model = writeModel(join(dir, 'mlp.onnx'), mlpModel(256, 2));
  // Speed is not what this test judges: any speed-up is accepted.
  const m = md({ model: { uri: `file://${model}` }, optimization: { quantize: 'int8', maxAbsError: 0.5, minCosine: 0.9, minSpeedup: 0 } });
  const cache = join(dir, 'cache');
  const first = await optimizeForLocal(m, model, cache, CLI);
  expect(first.dir).toBe(optimizedDirFor(m, model, cache));
  expect(first.summary).toMatchObject({ applied: true });
  const written = statSync(join(first.dir, 'model.onnx')).mtimeMs;
  const again = await optimizeForLocal(m, model, cache, CLI);
  expect(again).toEqual(first);
  expect(statSync(join(first.dir, 'model.onnx')).mtimeMs).toBe(written);
  // Another spec is another directory.
  expect(optimizedDirFor(md({ ...m.spec, optimization: { quantize: 'int8', minCosine: 0.95, minSpeedup: 0 } }), model, cache)).not.toBe(first.dir);

  const argv = replicaArgs(m, model, undefined, first.dir);
  expect(argv[argv.indexOf('--optimized-model-dir') + 1]).toBe(first.dir);
  expect(replicaArgs(md({ model: { uri: `file://${model}` } }), model, undefined, first.dir)).not.toContain('--optimized-model-dir');

  const status = localStatus({ name: 'm', selector: 's', generation: 1, desiredReplicas: 1, replicas: [], optimizationMessage: first.message, optimizationRequested: true, now: new Date() });
  expect(status.optimization).toMatchObject({ applied: true });
  expect(localStatus({ name: 'm', selector: 's', generation: 1, desiredReplicas: 1, replicas: [], optimizationRequested: false, previous: status, now: new Date() }).optimization).toBeUndefined();
}, 120_000);
