// Models built in code for the optimisation tests, and a helper that runs a model file in onnxruntime.
import ort from 'onnxruntime-node';
import { randomFloats, type GraphSpec } from '../../examples/onnx-models.js';

/** [batch,3,16,16] -> Conv 3x3 (16 ch) -> Relu -> Flatten -> Gemm (transB, bias) -> [batch,10] logits. */
export function smallCnn(): GraphSpec {
  return {
    name: 'cnn',
    inputs: [{ name: 'image', type: 'FLOAT', shape: ['batch', 3, 16, 16] }],
    outputs: [{ name: 'logits', type: 'FLOAT', shape: ['batch', 10] }],
    nodes: [
      { op: 'Conv', inputs: ['image', 'kernel', 'kbias'], outputs: ['conv'], attributes: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['conv'], outputs: ['act'] },
      { op: 'Flatten', inputs: ['act'], outputs: ['flat'], attributes: { axis: 1 } },
      { op: 'Gemm', inputs: ['flat', 'fc', 'fcbias'], outputs: ['logits'], attributes: { transB: 1 } },
    ],
    initializers: [
      { name: 'kernel', dims: [16, 3, 3, 3], data: randomFloats(16 * 27, 31, 0.3) },
      { name: 'kbias', dims: [16], data: randomFloats(16, 32, 0.01) },
      { name: 'fc', dims: [10, 16 * 16 * 16], data: randomFloats(10 * 4096, 33, 1 / 64) },
      { name: 'fcbias', dims: [10], data: randomFloats(10, 34, 0.01) },
    ],
  };
}

/**
 * Three MatMuls the quantiser must leave in float, beside one it quantises: a weight computed at run time
 * (Transpose of a constant), a weight too small to be worth it, and an Einsum (no int8 form).
 */
export function mixedModel(): GraphSpec {
  return {
    name: 'mixed',
    inputs: [{ name: 'x', type: 'FLOAT', shape: ['batch', 64] }],
    outputs: [{ name: 'y', type: 'FLOAT', shape: ['batch', 8] }],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'big'], outputs: ['h1'] },
      { op: 'Transpose', inputs: ['wt'], outputs: ['w_runtime'], attributes: { perm: [1, 0] } },
      { op: 'MatMul', inputs: ['h1', 'w_runtime'], outputs: ['h2'] },
      { op: 'Einsum', inputs: ['h2', 'e'], outputs: ['h3'], attributes: { equation: 'bi,ij->bj' } },
      { op: 'MatMul', inputs: ['h3', 'small'], outputs: ['y'] },
    ],
    initializers: [
      { name: 'big', dims: [64, 128], data: randomFloats(64 * 128, 41, 1 / 8) },
      { name: 'wt', dims: [64, 128], data: randomFloats(64 * 128, 42, 1 / 11) },
      { name: 'e', dims: [64, 32], data: randomFloats(64 * 32, 43, 1 / 8) },
      { name: 'small', dims: [32, 8], data: randomFloats(32 * 8, 44, 1 / 6) },
    ],
  };
}

export async function runModel(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

export function floatTensor(dims: number[], seed: number): ort.Tensor {
  return new ort.Tensor('float32', randomFloats(dims.reduce((a, b) => a * b, 1), seed), dims);
}

/** Max absolute difference and cosine similarity of two float tensors. */
export function difference(a: ort.Tensor, b: ort.Tensor): { maxAbs: number; cosine: number } {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  expect(y.length).toBe(x.length);
  let maxAbs = 0;
  let dot = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < x.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
    dot += x[i] * y[i];
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  return { maxAbs, cosine: dot / Math.sqrt(nx * ny) };
}

/** [batch,32,16,16] -> Conv 3x3 32->64 (bias) -> Relu -> GlobalAveragePool -> Flatten -> [batch,64]: a Conv worth quantising. */
export function convModel(): GraphSpec {
  return {
    name: 'conv',
    inputs: [{ name: 'x', type: 'FLOAT', shape: ['batch', 32, 16, 16] }],
    outputs: [{ name: 'y', type: 'FLOAT', shape: ['batch', 64] }],
    nodes: [
      { op: 'Conv', inputs: ['x', 'k', 'kb'], outputs: ['c'], attributes: { pads: [1, 1, 1, 1], strides: [1, 1] } },
      { op: 'Relu', inputs: ['c'], outputs: ['a'] },
      { op: 'GlobalAveragePool', inputs: ['a'], outputs: ['p'] },
      { op: 'Flatten', inputs: ['p'], outputs: ['y'], attributes: { axis: 1 } },
    ],
    initializers: [
      { name: 'k', dims: [64, 32, 3, 3], data: randomFloats(64 * 32 * 9, 51, Math.sqrt(2 / (32 * 9))) },
      { name: 'kb', dims: [64], data: randomFloats(64, 52, 0.05) },
    ],
  };
}
