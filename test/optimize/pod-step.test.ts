// The pod's model step, end to end on this machine: `modelplane render` gives the optimize init container and the
// runtime container; their rendered arguments are run for real (the emptyDir swapped for a temp directory), and the
// runtime serves the optimised model when the gate passed, the original when it did not, and says which.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import ort from 'onnxruntime-node';
import { mlpModel, randomFloats, writeModel } from '../../examples/onnx-models.js';
import { parseSummaryLine } from '../../common/optimization-report.js';
import { OPTIMIZED_DIR } from '../../operator/resources/deployment.js';
import { infer, runCli, startRuntime, type CliRun, type RuntimeProcess } from '../support/runtime-process.js';

let dir: string;
let model: string;
const running: RuntimeProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelplane-pod-step-'));
  model = writeModel(join(dir, 'model.onnx'), mlpModel(256, 2));
});
afterAll(async () => {
  for (const rt of running) await rt.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { env: { PATH: process.env.PATH, ...env } });
}

interface Container { name: string; args: string[] }

async function rendered(): Promise<{ optimize: Container; runtime: Container }> {
  const manifest = join(dir, 'md.yaml');
  writeFileSync(manifest, yaml.dump({
    apiVersion: 'serving.modelplane.io/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: 'mlp' },
    spec: { model: { uri: `file://${model}` }, optimization: { quantize: 'int8', minCosine: 0.999, minSpeedup: 0 } },
  }));
  const r = await cli(['render', '-f', manifest]);
  expect(r.code).toBe(0);
  const docs = yaml.loadAll(r.stdout) as { kind: string; spec: { template: { spec: { initContainers: Container[]; containers: Container[] } } } }[];
  const pod = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;
  expect(pod.initContainers.map((c) => c.name)).toEqual(['optimize']);
  expect(pod.initContainers[0].args.join(' ')).toContain('--min-speedup 0 ');
  return { optimize: pod.initContainers[0], runtime: pod.containers[0] };
}

async function floatOutput(x: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model);
  const out = (await s.run({ input: new ort.Tensor('float32', x, [1, 256]) })).output.data as Float32Array;
  await s.release();
  return out;
}

async function serve(runtime: Container, out: string): Promise<RuntimeProcess> {
  const args = runtime.args.slice(1).map((a) => (a === OPTIMIZED_DIR ? out : a));
  const port = args.indexOf('--http-port');
  args.splice(port, 2);
  const rt = await startRuntime(args);
  running.push(rt);
  return rt;
}

test.each([
  { name: 'gate passed: the optimised model is served', extra: [] as string[], applied: true, reason: 'Applied' },
  { name: 'accuracy gate failed: the original is served', extra: ['--max-abs-error', '0'], applied: false, reason: 'AccuracyGateFailed' },
  // No optimisation makes a model a thousand times faster.
  { name: 'speed gate failed: the original is served', extra: ['--min-speedup', '1000'], applied: false, reason: 'SpeedGateFailed' },
])('$name', async ({ extra, applied, reason }) => {
  const { optimize, runtime } = await rendered();
  const out = join(dir, `optimized-${reason}`);
  const termination = join(dir, `termination-${reason}`);
  writeFileSync(termination, ''); // as the kubelet provides it
  const args = optimize.args.map((a) => (a === OPTIMIZED_DIR ? out : a));
  const step = await cli([...args, '--latency-budget-ms', '200', ...extra], { MODELPLANE_TERMINATION_LOG: termination });
  expect(step.code).toBe(0);
  const summary = parseSummaryLine(readFileSync(termination, 'utf8'))!;
  expect(summary).toMatchObject({ applied, reason, quantize: 'int8' });

  const rt = await serve(runtime, out);
  const meta = await (await fetch(`${rt.url}/v2/models/mlp`)).json();
  expect(meta.parameters).toMatchObject({ optimized: applied, optimization: 'int8', optimization_reason: reason });

  const x = randomFloats(256, 4242);
  const expected = await floatOutput(x);
  const r = await infer(rt.url, 'mlp', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: Array.from(x) }] });
  expect(r.status).toBe(200);
  const got = r.json.outputs[0].data as number[];
  const maxAbs = Math.max(...got.map((v, i) => Math.abs(v - expected[i])));
  if (applied) {
    expect(maxAbs).toBeGreaterThan(0);
    expect(maxAbs).toBeLessThan(0.02 * Math.max(...Array.from(expected, Math.abs)));
  } else {
    expect(maxAbs).toBe(0);
  }
  await rt.stop();
});
