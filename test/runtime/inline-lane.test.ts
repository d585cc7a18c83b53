// The lane on the event loop for short runs: which runs may take it, when it pauses, and when a model gets one at
// all, with real onnxruntime sessions on real ONNX files.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { externalData, mlpModel, simpleModel } from '../../examples/onnx-models.js';
import {
  INLINE_MAX_MODEL_BYTES, INLINE_OVERRUN_WINDOW, INLINE_PAUSE_RUNS, InlineLane, inlineEligible, modelFacts, OverrunGuard, planFromWorkerRun, requestElements, valueDependentOp,
  type InlinePlan,
} from '../../runtime/inline-lane.js';
import type { GraphProto } from '../../common/onnx-model.js';
import type { InferRequest } from '../../runtime/request.js';
import type { WireTensor } from '../../runtime/worker-protocol.js';
import { modelFile, tempDir } from '../support/runtime-process.js';

const dir = tempDir();
afterAll(() => dir.remove());

describe('inlineEligible', () => {
  const plan = { maxUs: 200, warmupUs: 50, warmupElements: 100, from: 'warm-up' as const };
  test.each([
    ['the warm-up size', 100, true],
    ['smaller than the warm-up: the warm-up time is the floor', 10, true],
    ['four warm-ups, predicted 200 us', 400, true],
    ['more than four warm-ups', 401, false],
  ])('%s', (_name, elements, expected) => {
    expect(inlineEligible(elements, plan)).toBe(expected);
  });
  test('a slower warm-up scales the prediction: three warm-ups predicted 300 us is over 200', () => {
    expect(inlineEligible(300, { ...plan, warmupUs: 100 })).toBe(false);
    expect(inlineEligible(200, { ...plan, warmupUs: 100 })).toBe(true);
  });
  test('a limit of 0 turns the lane off', () => {
    expect(inlineEligible(1, { ...plan, maxUs: 0 })).toBe(false);
  });
});

test('requestElements counts every input element', () => {
  const req = {
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [2, 16], payload: { bytes: new Uint8Array(128) } },
      { name: 'b', datatype: 'BYTES', shape: [3], payload: { strings: ['x', 'y', 'z'] } },
    ],
    outputs: [],
  } as unknown as InferRequest;
  expect(requestElements(req)).toBe(35);
});

describe('OverrunGuard', () => {
  test('one overrun is noise; three within a window pause the lane for a while, then it takes runs again', () => {
    const g = new OverrunGuard(100);
    g.record(1000);
    expect(g.allows()).toBe(true);
    g.record(50);
    g.record(1000);
    expect(g.allows()).toBe(true);
    g.record(1000);
    expect(g.overruns).toBe(3);
    let refused = 0;
    while (!g.allows()) refused++;
    expect(refused).toBe(INLINE_PAUSE_RUNS);
  });
  test('overruns spread over windows do not pause it', () => {
    const g = new OverrunGuard(100);
    for (let i = 0; i < 3 * INLINE_OVERRUN_WINDOW; i++) g.record(i % INLINE_OVERRUN_WINDOW === 1 || i % INLINE_OVERRUN_WINDOW === 2 ? 1000 : 10);
    expect(g.overruns).toBe(6);
    expect(g.allows()).toBe(true);
  });
  test('a run up to four times the limit is not an overrun', () => {
    const g = new OverrunGuard(100);
    for (let i = 0; i < 10; i++) g.record(400);
    expect([g.overruns, g.allows()]).toEqual([0, true]);
  });
});

describe('InlineLane.create on real models', () => {
  const zeros = (rows: number): WireTensor[] => ['INPUT0', 'INPUT1'].map((name) => ({ name, ortType: 'float32', dims: [rows, 16], buffer: new ArrayBuffer(rows * 16 * 4) }));
  const graphOptimizationLevel = 'all' as const;

  test('a small model gets a lane that computes the right answer on this thread', async () => {
    const decision = await InlineLane.create({ modelPath: modelFile(dir.path, 'simple', simpleModel()), maxUs: 1_000_000, graphOptimizationLevel, workerThreads: 1, warmup: () => zeros(1) });
    expect(decision.lane).toBeDefined();
    const lane = decision.lane!;
    try {
      expect(lane.plan).toMatchObject({ maxUs: 1_000_000, warmupElements: 32, from: 'warm-up' });
      expect(lane.plan!.warmupUs).toBeGreaterThan(0);
      const a = Float32Array.from({ length: 32 }, (_, i) => i);
      const b = Float32Array.from({ length: 32 }, (_, i) => 100 * i);
      const result = await lane.run([
        { name: 'INPUT0', ortType: 'float32', dims: [2, 16], buffer: a.buffer },
        { name: 'INPUT1', ortType: 'float32', dims: [2, 16], buffer: b.buffer },
      ]);
      const sum = result.outputs.find((o) => o.name === 'OUTPUT0')!;
      expect(sum.dims).toEqual([2, 16]);
      expect([...new Float32Array(sum.buffer!, sum.byteOffset, sum.byteLength! / 4)]).toEqual(Array.from({ length: 32 }, (_, i) => 101 * i));
      const request = (rows: number) => ({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, shape: [rows, 16] })) }) as unknown as InferRequest;
      expect(lane.accepts(request(4))).toBe(true);
      expect(lane.accepts(request(5))).toBe(false);
      lane.busy = true;
      expect(lane.accepts(request(1))).toBe(false);
    } finally {
      await lane.release();
    }
  });

  test('without a warm-up (it failed on generated inputs) the lane takes nothing until a worker run of a real request bounds it within the limit', async () => {
    const plans: InlinePlan[] = [];
    const decision = await InlineLane.create({ modelPath: modelFile(dir.path, 'simple-3', simpleModel()), maxUs: 200, graphOptimizationLevel, workerThreads: 4, onPlan: (p) => plans.push(p) });
    const lane = decision.lane!;
    try {
      expect(decision.plan).toBeUndefined();
      expect(lane.plan).toBeUndefined();
      const request = (rows: number) => ({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, shape: [rows, 16] })) }) as unknown as InferRequest;
      expect(lane.accepts(request(1))).toBe(false);
      // 4 threads for 100 us: one thread could take 400 us, over the limit; still no plan.
      lane.observe(request(1), 100e-6);
      expect([lane.plan, lane.accepts(request(1))]).toEqual([undefined, false]);
      // 4 threads for 40 us: at most 160 us on the lane's one thread.
      lane.observe(request(1), 40e-6);
      expect(lane.plan).toEqual({ maxUs: 200, warmupUs: 160, warmupElements: 32, from: 'requests' });
      expect(plans).toEqual([lane.plan]);
      expect(lane.accepts(request(1))).toBe(true);
      expect(lane.accepts(request(2))).toBe(false); // predicted 320 us
      // The first plan stays; later runs do not move it.
      lane.observe(request(1), 1e-6);
      expect(lane.plan!.warmupUs).toBe(160);
    } finally {
      await lane.release();
    }
  });

  test('planFromWorkerRun: a run on n threads bounds one thread at n times as long', () => {
    expect(planFromWorkerRun(200, 10, 20e-6, 3)).toEqual({ maxUs: 200, warmupUs: 60, warmupElements: 10, from: 'requests' });
    expect(planFromWorkerRun(200, 0, 20e-6, 0)).toEqual({ maxUs: 200, warmupUs: 20, warmupElements: 1, from: 'requests' });
  });

  test('no lane when its limit is 0, when a warm-up run takes longer than the limit, for a large model file, or when a model input sizes the work', async () => {
    const simple = modelFile(dir.path, 'simple-2', simpleModel());
    expect(await InlineLane.create({ modelPath: simple, maxUs: 0, graphOptimizationLevel, workerThreads: 1, warmup: () => zeros(1) })).toEqual({ reason: '--inline-run-max-us is 0' });
    const slow = await InlineLane.create({ modelPath: simple, maxUs: 0.001, graphOptimizationLevel, workerThreads: 1, warmup: () => zeros(1) });
    expect(slow.lane).toBeUndefined();
    expect(slow).toMatchObject({ reason: expect.stringMatching(/^a warm-up run took \d+ us, more than --inline-run-max-us 0.001$/) });
    // A file larger than the lane loads a second time is refused by its size, before it is read.
    const large = join(dir.path, 'large.onnx');
    writeFileSync(large, Buffer.alloc(INLINE_MAX_MODEL_BYTES + 1));
    const big = await InlineLane.create({ modelPath: large, maxUs: 1_000_000, graphOptimizationLevel, workerThreads: 1, warmup: () => [] });
    // Repeats from a model input: a request of a few elements could ask for any amount of work.
    const tile = modelFile(dir.path, 'tile', {
      name: 'tile',
      inputs: [{ name: 'x', type: 'FLOAT', shape: ['n'] }, { name: 'repeats', type: 'INT64', shape: [1] }],
      outputs: [{ name: 'y', type: 'FLOAT', shape: ['m'] }],
      nodes: [{ op: 'Tile', inputs: ['x', 'repeats'], outputs: ['y'] }],
    });
    expect(await InlineLane.create({ modelPath: tile, maxUs: 1_000_000, graphOptimizationLevel, workerThreads: 1, warmup: () => [] }))
      .toEqual({ reason: 'its run time may not follow its input sizes: Tile (tile_0): its output size comes from a model input' });
    expect(big).toMatchObject({ reason: expect.stringMatching(new RegExp(`^the model file has \\d+ bytes, more than ${INLINE_MAX_MODEL_BYTES}$`)) });
  });
});

describe('valueDependentOp: graphs whose run time may not follow their input sizes get no lane', () => {
  const graph = (nodes: GraphProto['node'], initializer: string[] = []): GraphProto => ({ node: nodes, initializer: initializer.map((name) => ({ name })) });
  test.each([
    ['element-wise ops', graph([{ opType: 'Add', input: ['a', 'b'], output: ['c'] }]), undefined],
    ['an ML-domain tree ensemble', graph([{ opType: 'TreeEnsembleClassifier', domain: 'ai.onnx.ml', input: ['x'], output: ['y', 'p'] }]), undefined],
    ['Tile with constant repeats', graph([{ opType: 'Tile', input: ['x', 'r'], output: ['y'] }], ['r']), undefined],
    ['Tile with repeats from a Constant node', graph([{ opType: 'Constant', output: ['r'] }, { opType: 'Tile', input: ['x', 'r'], output: ['y'] }]), undefined],
    ['Tile with repeats from a model input', graph([{ opType: 'Tile', name: 't', input: ['x', 'repeats'], output: ['y'] }]), 'Tile (t): its output size comes from a model input'],
    ['Range', graph([{ opType: 'Range', input: ['start', 'limit', 'delta'], output: ['y'] }], ['start', 'delta']), 'Range: its output size comes from a model input'],
    ['a Loop', graph([{ opType: 'Loop', input: ['n', 'c'], output: ['y'] }]), 'Loop: control flow'],
    ['any op with a subgraph', graph([{ opType: 'Custom', input: ['x'], output: ['y'], attribute: [{ name: 'body', g: {} }] }]), 'Custom: control flow'],
    ['NonMaxSuppression', graph([{ opType: 'NonMaxSuppression', input: ['b', 's'], output: ['i'] }]), 'NonMaxSuppression: its output size depends on input values'],
    ['an op of a custom domain', graph([{ opType: 'Mystery', domain: 'example.ops', input: ['x'], output: ['y'] }]), 'example.ops.Mystery: an op of a custom domain'],
  ])('%s', (_name, g, expected) => {
    expect(valueDependentOp(g)).toBe(expected);
  });
});

test('modelFacts counts external data with the model file, without reading it', () => {
  const g = mlpModel(32, 1, { externalFile: 'weights.bin' });
  const path = join(modelFile(dir.path, 'external', g), 'model.onnx');
  const facts = modelFacts(path);
  expect(facts.bytes).toBe(statSync(path).size + externalData(g).byteLength);
  expect(facts.graph.node!.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu']);
});
