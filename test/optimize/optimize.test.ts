// `optimizeModel` on models built in code, checked with real onnxruntime: the optimised model's outputs are
// compared with the float model's on inputs the gate never saw, and the files left behind are inspected.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel, externalData, mlpModel, writeModel } from '../../examples/onnx-models.js';
import { optimizeModel, OptimizeError, REPORT_FILE } from '../../optimize/index.js';
import type { MeasureLatency } from '../../optimize/gate.js';
import { onnx, DT } from '../../common/onnx-model.js';
import { MANIFEST_NAME } from '../../fetch/integrity.js';
import { convModel, difference, floatTensor, mixedModel, runModel, smallCnn } from './support.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelplane-optimize-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Speed is not what these tests judge (the speed gate's own tests give it measurements): accept any speed-up.
const fast = { latencyBudgetMs: 200, minSpeedup: 0 };
const outDir = (name: string) => join(dir, `out-${name}`);

function decode(path: string) {
  return onnx.ModelProto.decode(readFileSync(path));
}

describe('int8', () => {
  test('MLP: MatMul weights become per-channel int8 in DynamicQuantizeMatMul; outputs stay within 1% of the float model', async () => {
    const model = writeModel(join(dir, 'mlp.onnx'), mlpModel(256, 3));
    const out = outDir('mlp');
    const report = await optimizeModel({ model, out, quantize: 'int8', ...fast });
    expect(report).toMatchObject({ applied: true, reason: 'Applied', quantize: 'int8', files: ['model.onnx'] });
    expect(report.quantized!.map((q) => q.weight)).toEqual(['w0', 'w1', 'w2']);
    expect(report.sizeRatio).toBeGreaterThan(3.3);
    expect(report.accuracy!.cosine).toBeGreaterThan(0.999);
    expect(report.latency!.original.batch32Ms).toBeGreaterThan(0);
    expect(report.speedup!.batch1).toBeGreaterThan(0);

    const q = decode(join(out, 'model.onnx'));
    const ops = q.graph!.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === 'DynamicQuantizeMatMul')).toHaveLength(3);
    expect(ops).not.toContain('MatMul');
    const w0 = q.graph!.initializer!.find((t) => t.name === 'w0_int8')!;
    expect(w0.dataType).toBe(DT.INT8);
    expect(q.graph!.initializer!.find((t) => t.name === 'w0_scale')!.dims!.map(Number)).toEqual([256]);
    // Biases stay float.
    expect(q.graph!.initializer!.find((t) => t.name === 'b0')!.dataType).toBe(DT.FLOAT);

    // Fresh inputs, batches of 1 and 7, against the float model.
    for (const batch of [1, 7]) {
      const x = floatTensor([batch, 256], 900 + batch);
      const a = await runModel(model, { input: x });
      const b = await runModel(join(out, 'model.onnx'), { input: x });
      const d = difference(a.output, b.output);
      expect(d.cosine).toBeGreaterThan(0.999);
      const scale = Math.max(...(a.output.data as Float32Array).map(Math.abs));
      expect(d.maxAbs).toBeLessThan(0.02 * scale);
    }
    const saved = JSON.parse(readFileSync(join(out, REPORT_FILE), 'utf8'));
    expect(saved.applied).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['model.onnx', REPORT_FILE]);
  });

  test('small CNN: the Gemm head (transB, bias) is quantised, the Conv is kept in float and listed; top-1 agreement is reported', async () => {
    const model = writeModel(join(dir, 'cnn.onnx'), smallCnn());
    const out = outDir('cnn');
    const report = await optimizeModel({ model, out, quantize: 'int8', ...fast });
    expect(report.applied).toBe(true);
    expect(report.quantized).toEqual([expect.objectContaining({ op: 'Gemm', weight: 'fc', shape: [4096, 10] })]);
    expect(report.skipped).toEqual([expect.objectContaining({ op: 'Conv', reason: expect.stringMatching(/float/) })]);
    expect(report.accuracy!.top1Agreement).toBeGreaterThanOrEqual(0.9);
    const x = floatTensor([4, 3, 16, 16], 77);
    const d = difference((await runModel(model, { image: x })).logits, (await runModel(join(out, 'model.onnx'), { image: x })).logits);
    expect(d.cosine).toBeGreaterThan(0.999);
  });

  test('Conv: ConvInteger is measured against float Conv, and the faster model that passes the gate is kept', async () => {
    const model = writeModel(join(dir, 'conv.onnx'), convModel());
    const out = outDir('conv');
    const report = await optimizeModel({ model, out, quantize: 'int8', ...fast });
    const convQuantized = report.quantized?.some((q) => q.op === 'Conv');
    if (convQuantized) {
      expect(report.applied).toBe(true);
      expect(decode(join(out, 'model.onnx')).graph!.node!.map((n) => n.opType)).toEqual(expect.arrayContaining(['DynamicQuantizeLinear', 'ConvInteger']));
      expect(report.sizeRatio).toBeGreaterThan(3);
    } else {
      expect(report.skipped).toEqual([expect.objectContaining({ op: 'Conv', reason: expect.stringMatching(/ConvInteger (measured slower|failed the accuracy gate)/) })]);
    }
    // Whichever won, the ConvInteger rewrite itself computes the convolution: checked on its own.
    const { quantizeInt8 } = await import('../../optimize/quantize-int8.js');
    const { writeModel: writeProto } = await import('../../common/onnx-model.js');
    const q = quantizeInt8(decode(model), { conv: true });
    expect(q.quantized).toEqual([expect.objectContaining({ op: 'Conv', weight: 'k', shape: [64, 32, 3, 3] })]);
    writeProto(q.model, dir, { fileName: 'conv-int8.onnx' });
    const x = floatTensor([2, 32, 16, 16], 61);
    const d = difference((await runModel(model, { x })).y, (await runModel(join(dir, 'conv-int8.onnx'), { x })).y);
    expect(d.cosine).toBeGreaterThan(0.999);
  });

  test('a fetch destination whose manifest names the model is read the way the runtime reads it', async () => {
    const dest = join(dir, 'fetched');
    mkdirSync(dest);
    writeModel(join(dest, 'ranker-v3'), mlpModel(64, 2));
    writeFileSync(join(dest, MANIFEST_NAME), JSON.stringify({ source: 's3://models/ranker-v3', modelPath: 'ranker-v3', files: [] }));
    const report = await optimizeModel({ model: dest, out: outDir('fetched'), quantize: 'int8', ...fast });
    expect(report.applied).toBe(true);
    expect(report.quantized!.map((q) => q.weight)).toEqual(['w0', 'w1']);
  });

  test('a transformers.js repository (model.onnx under onnx/) is read the way the runtime reads it', async () => {
    const repo = join(dir, 'tiny-repo');
    mkdirSync(join(repo, 'onnx'), { recursive: true });
    writeModel(join(repo, 'onnx', 'model.onnx'), mlpModel(64, 2));
    const report = await optimizeModel({ model: repo, out: outDir('tiny-repo'), quantize: 'int8', ...fast });
    expect(report.applied).toBe(true);
    expect(report.quantized!.map((q) => q.weight)).toEqual(['w0', 'w1']);
  });

  test('IR version 3, where every initializer is also listed as an input: weights are still constants', async () => {
    const m = onnx.ModelProto.decode(encodeModel(mlpModel(64, 2)));
    m.irVersion = 3;
    m.opsetImport = [{ domain: '', version: 8 }];
    m.graph!.input = [...m.graph!.input!, ...m.graph!.initializer!.map((t) => ({ name: t.name, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: t.dims!.map((d) => ({ dimValue: d })) } } } }))];
    const model = join(dir, 'ir3.onnx');
    writeFileSync(model, onnx.ModelProto.encode(m).finish());
    const report = await optimizeModel({ model, out: outDir('ir3'), quantize: 'int8', ...fast });
    expect(report.quantized!.map((q) => q.weight)).toEqual(['w0', 'w1']);
    expect(decode(join(outDir('ir3'), 'model.onnx')).graph!.input!.map((v) => v.name)).toEqual(['input', 'b0', 'b1']);
  });

  test('below opset 11 the model is raised to opset 11 first, as onnxruntime\'s quantiser does: Convs can take ConvInteger', async () => {
    const cnn = join(dir, 'cnn-opset9.onnx');
    writeFileSync(cnn, encodeModel({ ...smallCnn(), opset: 9 }));
    const report = await optimizeModel({ model: cnn, out: outDir('opset9'), quantize: 'int8', ...fast });
    expect(report).toMatchObject({ applied: true, opset: { from: 9, to: 11 } });
    expect(report.skipped ?? []).not.toContainEqual(expect.objectContaining({ reason: expect.stringMatching(/needs DynamicQuantizeLinear \(opset 11\)/) }));
    const q = decode(join(outDir('opset9'), 'model.onnx'));
    expect(Number(q.opsetImport!.find((o) => !o.domain)!.version)).toBe(11);
    // Fresh inputs, against the float model at its own opset.
    const x = floatTensor([2, 3, 16, 16], 77);
    const d = difference((await runModel(cnn, { image: x })).logits, (await runModel(join(outDir('opset9'), 'model.onnx'), { image: x })).logits);
    expect(d.cosine).toBeGreaterThan(0.99);
  });

  test.each([
    ['Pad with its pads attribute', { op: 'Pad', inputs: ['input'], outputs: ['output'], attributes: { pads: [0, 1, 0, 1] } }, 'output', /Pad \(pad_1\) does not mean the same at opset 11: its attributes became inputs \(opset 11\)/],
    ['Slice with its starts attribute', { op: 'Slice', inputs: ['input'], outputs: ['output'], attributes: { starts: [0], ends: [4], axes: [1] } }, 'output', /Slice \(slice_1\) does not mean the same at opset 11: its attributes became inputs \(opset 10\)/],
  ])('below opset 11, an op that means something else at 11 is refused, named: %s', async (_name, node, _out, message) => {
    const g = mlpModel(64, 1);
    const model = join(dir, `old-${node.op}.onnx`);
    writeFileSync(model, encodeModel({ ...g, opset: 9, nodes: [{ ...g.nodes[0], outputs: ['mm'] }, { ...node, inputs: ['mm'] }], outputs: [{ name: 'output', type: 'FLOAT', shape: ['batch', node.op === 'Pad' ? 66 : 4] }] }));
    const err = await optimizeModel({ model, out: outDir(`old-${node.op}`), quantize: 'int8', ...fast }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OptimizeError);
    expect((err as OptimizeError).reason).toBe('UnsupportedModel');
    expect((err as Error).message).toMatch(/^int8 needs opset 11 and the model has opset 9; /);
    expect((err as Error).message).toMatch(message);
  });

  test('weights stored as Constant nodes (as some exporters write them) are quantised too', async () => {
    const m = onnx.ModelProto.decode(encodeModel(mlpModel(128, 2)));
    const constants = m.graph!.initializer!.map((t) => ({ opType: 'Constant', input: [], output: [t.name!], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t }] }));
    m.graph!.node = [...constants, ...m.graph!.node!];
    m.graph!.initializer = [];
    const model = join(dir, 'constants.onnx');
    writeFileSync(model, onnx.ModelProto.encode(m).finish());
    const report = await optimizeModel({ model, out: outDir('constants'), quantize: 'int8', ...fast });
    expect(report.quantized!.map((q) => q.weight)).toEqual(['w0', 'w1']);
    const q = decode(join(outDir('constants'), 'model.onnx'));
    expect(q.graph!.node!.filter((n) => n.opType === 'Constant').map((n) => n.output![0])).toEqual(['b0', 'b1']);
    expect(report.sizeRatio).toBeGreaterThan(3);
    expect(report.accuracy!.cosine).toBeGreaterThan(0.999);
  });

  test('ops the quantiser cannot handle stay float and are listed with the reason; the rest is quantised', async () => {
    const model = writeModel(join(dir, 'mixed.onnx'), mixedModel());
    const out = outDir('mixed');
    const report = await optimizeModel({ model, out, quantize: 'int8', ...fast });
    expect(report.applied).toBe(true);
    expect(report.quantized!.map((q) => q.weight)).toEqual(['big']);
    const reasons = Object.fromEntries(report.skipped!.map((s) => [s.op + ':' + s.node, s.reason]));
    expect(reasons['MatMul:matmul_2']).toMatch(/not a constant/);
    expect(reasons['Einsum:einsum_3']).toMatch(/no int8 form/);
    expect(reasons['MatMul:matmul_4']).toMatch(/fewer than 4096/);
    const x = floatTensor([5, 64], 5);
    const d = difference((await runModel(model, { x })).y, (await runModel(join(out, 'model.onnx'), { x })).y);
    expect(d.cosine).toBeGreaterThan(0.999);
  });

  test('external data in and out: weights beside model.onnx are read, and the output keeps them in model.onnx.data', async () => {
    const model = writeModel(join(dir, 'ext'), mlpModel(128, 2, { externalFile: 'weights.bin' }));
    const out = outDir('ext');
    const report = await optimizeModel({ model, out, quantize: 'int8', graphOptimization: 'extended', ...fast });
    expect(report.applied).toBe(true);
    expect(report.files).toEqual(['model.onnx.data', 'model.onnx']);
    expect(readdirSync(out).sort()).toEqual(['model.onnx', 'model.onnx.data', REPORT_FILE]);
    const m = decode(join(out, 'model.onnx'));
    expect(m.graph!.initializer!.some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)).toBe(true);
    const x = floatTensor([3, 128], 12);
    const d = difference((await runModel(join(model, 'model.onnx'), { input: x })).output, (await runModel(join(out, 'model.onnx'), { input: x })).output);
    expect(d.cosine).toBeGreaterThan(0.999);
  });
});

test('an external-data file named ..weights.bin is inside the model directory; ../weights.bin is refused', async () => {
  const inside = writeModel(join(dir, 'dotdot'), mlpModel(64, 1, { externalFile: '..weights.bin' }));
  expect((await optimizeModel({ model: inside, out: outDir('dotdot'), quantize: 'int8', ...fast })).applied).toBe(true);
  const escaping = join(dir, 'escape', 'inner');
  mkdirSync(escaping, { recursive: true });
  const g = mlpModel(64, 1, { externalFile: '../weights.bin' });
  writeFileSync(join(escaping, 'model.onnx'), encodeModel(g));
  writeFileSync(join(dir, 'escape', 'weights.bin'), externalData(g));
  await expect(optimizeModel({ model: escaping, out: outDir('escape'), quantize: 'int8', ...fast })).rejects.toThrow(/external data location "\.\.\/weights\.bin" is outside the model's directory/);
});

describe('fp16 and graph optimisation', () => {
  test('fp16: FLOAT16 weights inside, FLOAT inputs and outputs outside, Casts at the edges', async () => {
    const model = writeModel(join(dir, 'mlp16.onnx'), mlpModel(64, 2));
    const out = outDir('fp16');
    const report = await optimizeModel({ model, out, quantize: 'fp16', ...fast });
    expect(report.applied).toBe(true);
    expect(report.sizeRatio).toBeGreaterThan(1.8);
    const m = decode(join(out, 'model.onnx'));
    expect(m.graph!.initializer!.every((t) => t.dataType === DT.FLOAT16)).toBe(true);
    expect(m.graph!.input![0].type!.tensorType!.elemType).toBe(DT.FLOAT);
    expect(m.graph!.output![0].type!.tensorType!.elemType).toBe(DT.FLOAT);
    expect(m.graph!.node![0].opType).toBe('Cast');
    expect(m.graph!.node!.at(-1)!.opType).toBe('Cast');
    const x = floatTensor([2, 64], 3);
    const b = (await runModel(join(out, 'model.onnx'), { input: x })).output;
    expect(b.type).toBe('float32');
    expect(difference((await runModel(model, { input: x })).output, b).cosine).toBeGreaterThan(0.9999);
  });

  test('fp16 keeps unsafe ops in FLOAT and casts around them', async () => {
    const g = mlpModel(64, 1);
    g.nodes.push({ op: 'ReduceSum', inputs: ['output'], outputs: ['sum'], attributes: { keepdims: 1 } });
    g.outputs.push({ name: 'sum', type: 'FLOAT', shape: ['batch', 1] });
    const model = writeModel(join(dir, 'reduce.onnx'), g);
    const report = await optimizeModel({ model, out: outDir('reduce'), quantize: 'fp16', ...fast });
    expect(report.applied).toBe(true);
    expect(report.keptFp32).toEqual([expect.objectContaining({ op: 'ReduceSum', reason: 'unsafe in FP16' })]);
    const m = decode(join(outDir('reduce'), 'model.onnx'));
    const reduce = m.graph!.node!.find((n) => n.opType === 'ReduceSum')!;
    expect(reduce.input![0]).toMatch(/_fp32$/);
  });

  test('graph optimisation alone writes onnxruntime\'s optimised graph, with outputs equal to the original', async () => {
    const model = writeModel(join(dir, 'go.onnx'), mlpModel(64, 2));
    const report = await optimizeModel({ model, out: outDir('go'), graphOptimization: 'all', ...fast });
    expect(report).toMatchObject({ applied: true, graphOptimization: 'all', executionProvider: 'cpu' });
    expect(report.accuracy!.maxAbsError).toBeLessThan(1e-5);
  });
});

describe('refusals and the gate', () => {
  test.each([
    { name: 'random bytes', bytes: () => Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) % 256)), reason: 'InvalidModel' },
    { name: 'text', bytes: () => Buffer.from('not a model\n'), reason: 'InvalidModel' },
    { name: 'JSON', bytes: () => Buffer.from('{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}'), reason: 'InvalidModel' },
    { name: 'a truncated model', bytes: () => Buffer.from(encodeModel(mlpModel(64, 2))).subarray(0, 5000), reason: 'InvalidModel' },
    { name: 'opset 5', bytes: () => Buffer.from(encodeModel({ ...mlpModel(16, 1), opset: 5 })), reason: 'UnsupportedModel' },
  ])('$name is refused ($reason) and nothing is left in the output directory', async ({ name, bytes, reason }) => {
    const model = join(dir, `bad-${name.replace(/\W/g, '')}.onnx`);
    writeFileSync(model, bytes());
    const out = outDir(`bad-${name.replace(/\W/g, '')}`);
    const err = await optimizeModel({ model, out, quantize: 'int8', ...fast }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OptimizeError);
    expect((err as OptimizeError).reason).toBe(reason);
    expect((err as Error).message).toContain(model);
    // Said in ONNX's terms, not protobuf's decoder's (an index out of range, a wire type).
    if (reason === 'InvalidModel') expect((err as Error).message).toMatch(/is not an ONNX model/);
    expect((err as Error).message).not.toMatch(/index out of range|wire type|offset \d/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  test('a failed gate writes the report but no model, and removes a model an earlier run left', async () => {
    const model = writeModel(join(dir, 'gate.onnx'), mlpModel(128, 2));
    const out = outDir('gate');
    expect((await optimizeModel({ model, out, quantize: 'int8', ...fast })).applied).toBe(true);
    const report = await optimizeModel({ model, out, quantize: 'int8', maxAbsError: 1e-9, ...fast });
    expect(report).toMatchObject({ applied: false, reason: 'AccuracyGateFailed', files: [] });
    expect(report.message).toMatch(/max absolute error .* exceeds --max-abs-error 1e-9/);
    expect(readdirSync(out)).toEqual([REPORT_FILE]);
    const strict = await optimizeModel({ model, out, quantize: 'int8', minCosine: 1, ...fast });
    expect(strict.message).toMatch(/cosine similarity .* below --min-cosine 1/);
  });

  test('the speed gate: an optimised model slower at batch 1 than --min-speedup allows is refused (SpeedGateFailed), nothing written', async () => {
    const model = writeModel(join(dir, 'speed.onnx'), mlpModel(128, 2));
    const out = outDir('speed');
    // The measurement is given, so that what is tested is the gate, not this machine's timing.
    const measured = (batch1: number): MeasureLatency => async () => ({ original: { batch1Ms: 1 }, optimized: { batch1Ms: 1 / batch1 }, speedup: { batch1 } });
    const slower = await optimizeModel({ model, out, quantize: 'int8', measureLatency: measured(0.8) });
    expect(slower).toMatchObject({ applied: false, reason: 'SpeedGateFailed', files: [], speedup: { batch1: 0.8 }, thresholds: { minSpeedup: 1 } });
    expect(slower.message).toBe('speed gate failed: batch-1 speed-up 0.8x (1 ms -> 1.25 ms) is below --min-speedup 1; no optimised model written');
    expect(readdirSync(out)).toEqual([REPORT_FILE]);
    // It passed the accuracy gate: that is said too.
    expect(slower.accuracy!.cosine).toBeGreaterThan(0.99);
    expect((await optimizeModel({ model, out, quantize: 'int8', measureLatency: measured(1.6) })).applied).toBe(true);
    expect((await optimizeModel({ model, out, quantize: 'int8', minSpeedup: 2, measureLatency: measured(1.6) })).reason).toBe('SpeedGateFailed');
    expect((await optimizeModel({ model, out, quantize: 'int8', minSpeedup: 0.5, measureLatency: measured(0.8) })).applied).toBe(true);
    // A model failing both gates is refused for its accuracy, and the message says both.
    const both = await optimizeModel({ model, out, quantize: 'int8', maxAbsError: 0, measureLatency: measured(0.8) });
    expect(both).toMatchObject({ applied: false, reason: 'AccuracyGateFailed' });
    expect(both.message).toMatch(/exceeds --max-abs-error 0; batch-1 speed-up 0\.8x .* is below --min-speedup 1/);
    await expect(optimizeModel({ model, out, quantize: 'int8', minSpeedup: -1 })).rejects.toThrow(/--min-speedup: must be a non-negative number, got -1/);
  });

  test('--samples: JSON requests, and a body of JSON followed by binary tensor data, are what the gate compares on', async () => {
    const model = writeModel(join(dir, 'samples.onnx'), mlpModel(16, 1));
    const row = Array.from({ length: 16 }, (_, i) => (i - 8) / 8);
    const json = join(dir, 'samples.json');
    writeFileSync(json, JSON.stringify([
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: row }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16], data: [...row, ...row] }] },
    ]));
    const r1 = await optimizeModel({ model, out: outDir('samples-json'), graphOptimization: 'basic', samples: json, ...fast });
    expect(r1.accuracy!.samples).toBe(2);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } }] }));
    const bin = join(dir, 'samples.bin');
    writeFileSync(bin, Buffer.concat([header, Buffer.from(new Float32Array(row).buffer)]));
    const r2 = await optimizeModel({ model, out: outDir('samples-bin'), graphOptimization: 'basic', samples: bin, ...fast });
    expect(r2.accuracy!.samples).toBe(1);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ inputs: [{ name: 'nope', datatype: 'FP32', shape: [1, 16], data: row }] }));
    await expect(optimizeModel({ model, out: outDir('samples-wrong'), graphOptimization: 'basic', samples: wrong, ...fast })).rejects.toThrow(/--samples: .*unknown input "nope"/);
  });

  test('bad options name the flag', async () => {
    await expect(optimizeModel({ model: 'x.onnx', out: outDir('opt'), quantize: 'int4' as 'int8' })).rejects.toThrow(/--quantize: must be one of int8, fp16/);
    await expect(optimizeModel({ model: 'x.onnx', out: outDir('opt'), minCosine: 2 })).rejects.toThrow(/--min-cosine/);
    await expect(optimizeModel({ model: join(dir, 'missing.onnx'), out: outDir('opt'), quantize: 'int8' })).rejects.toThrow(/--model: cannot read/);
    // The model's own directory is never cleared or written into.
    const own = writeModel(join(dir, 'own', 'model.onnx').replace(/model\.onnx$/, ''), mlpModel(16, 1, { externalFile: 'w.bin' }));
    await expect(optimizeModel({ model: own, out: own, quantize: 'int8' })).rejects.toThrow(/--out: .* holds the model itself/);
    expect(existsSync(join(own, 'model.onnx'))).toBe(true);
  });

  test('an unchanged model is reported as NothingToOptimize', async () => {
    const model = writeModel(join(dir, 'conv-only.onnx'), { ...smallCnn(), nodes: smallCnn().nodes.slice(0, 2), outputs: [{ name: 'act', type: 'FLOAT', shape: ['batch', 16, 16, 16] }] });
    const report = await optimizeModel({ model, out: outDir('nothing'), quantize: 'int8', ...fast });
    expect(report).toMatchObject({ applied: false, reason: 'NothingToOptimize' });
    expect(readdirSync(outDir('nothing'))).toEqual([REPORT_FILE]);
  });
});
