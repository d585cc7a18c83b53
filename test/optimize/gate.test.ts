// The gate's arithmetic, with stand-ins for onnxruntime sessions: accuracy is judged sample by sample, and the
// speed-up is the median of alternating rounds, so neither a large sample nor a spoiled round decides for the rest.
import ort from 'onnxruntime-node';
import { compareModels, latencyInputs, measureLatency, median, speedupOf, type Feeds } from '../../optimize/gate.js';
import type { ModelSignature } from '../../runtime/signature.js';

/** A session that answers each sample (by its `i` input's first value) with the values given. */
function session(answers: number[][]) {
  let calls = 0;
  return {
    outputNames: ['y'],
    calls: () => calls,
    async run(feeds: Feeds) {
      calls++;
      const at = Number((feeds.i.data as Float32Array)[0]);
      const values = answers[at] ?? answers[0];
      return { y: new ort.Tensor('float32', Float32Array.from(values), [values.length]) };
    },
  } as unknown as ort.InferenceSession & { calls(): number };
}

const sample = (i: number): Feeds => ({ i: new ort.Tensor('float32', Float32Array.from([i]), [1]) });

test('accuracy is the worst sample\'s: a sample with small values gotten wrong is not outvoted by one with large values', async () => {
  // Sample 0: large outputs, reproduced exactly. Sample 1: small outputs, the optimised model's opposite in sign.
  const original = session([[1000, 1000, 1000, 1000], [1, -1, 1, -1]]);
  const optimized = session([[1000, 1000, 1000, 1000], [-1, 1, -1, 1]]);
  const a = await compareModels(original, optimized, [sample(0), sample(1)]);
  // Pooled over both samples the cosine would be 0.999999; sample 1 alone is -1.
  expect(a.cosine).toBeCloseTo(-1, 9);
  expect(a.maxAbsError).toBe(2);
  expect(a.worstSample).toEqual({ cosine: 1, maxAbsError: 1 });
  expect(a.outputs).toEqual([{ name: 'y', maxAbsError: 2, meanAbsError: 1, cosine: expect.closeTo(-1, 9), nonFinite: 0 }]);
  expect(a.samples).toBe(2);
});

test('the largest error on any sample decides max-abs-error, and which sample it was is reported', async () => {
  const original = session([[1, 2], [10, 20], [3, 4]]);
  const optimized = session([[1, 2.5], [10, 20.25], [3, 4]]);
  const a = await compareModels(original, optimized, [sample(0), sample(1), sample(2)]);
  expect(a.maxAbsError).toBe(0.5);
  expect(a.worstSample.maxAbsError).toBe(0);
});

test('the speed-up is the median of the rounds\' ratios: one round a neighbour spoiled (either way) does not decide', () => {
  // Round 3 slowed the original, round 4 the optimised model; the other rounds say 2x.
  expect(speedupOf([10, 10, 50, 10, 10], [5, 5, 5, 40, 5])).toBe(2);
  // A machine getting busier round by round slows both models of a round alike.
  expect(speedupOf([1, 2, 4, 8, 16], [2, 4, 8, 16, 32])).toBe(0.5);
  expect(speedupOf([9, 9, 9], [10, 10, 10])).toBe(0.9);
  expect(median([5, 1, 4, 2, 3])).toBe(3);
});

test('measureLatency times both models in every round, and reports the speed-up it measured', async () => {
  const sig: ModelSignature = { inputs: [{ name: 'i', datatype: 'FP32', ortType: 'float32', shape: [1] }], outputs: [{ name: 'y', datatype: 'FP32', ortType: 'float32', shape: [4] }] };
  const original = session([[0]]);
  const optimized = session([[0]]);
  const m = await measureLatency(original, optimized, latencyInputs(sig), 50);
  // 5 rounds, each of 2 warm-up runs and at least 5 timed runs, of each model.
  expect(original.calls()).toBeGreaterThanOrEqual(5 * 7);
  expect(optimized.calls()).toBeGreaterThanOrEqual(5 * 7);
  expect(m.speedup.batch1).toBeGreaterThan(0);
  expect(m.original.batch32Ms).toBeUndefined();
});

test('with samples the models are timed on the first sample (a model may refuse generated inputs); else on generated batches of 1 and 32', () => {
  const sig: ModelSignature = { inputs: [{ name: 'i', datatype: 'FP32', ortType: 'float32', shape: [-1, 2] }], outputs: [] };
  expect(latencyInputs(sig, [sample(7), sample(8)])).toEqual({ batch1: sample(7) });
  const generated = latencyInputs(sig);
  expect(generated.batch1.i.dims).toEqual([1, 2]);
  expect(generated.batch32!.i.dims).toEqual([32, 2]);
  expect(latencyInputs({ ...sig, inputs: [{ ...sig.inputs[0], shape: [1, 2] }] }).batch32).toBeUndefined();
});
