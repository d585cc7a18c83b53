// The accuracy gate: run the original and the optimised model on the same inputs and measure how far their
// outputs drift apart and how fast each runs. Inputs come from a samples file of inference request bodies
// (JSON, or JSON followed by binary tensor data) or are generated from the model's input metadata.
import ort from 'onnxruntime-node';
import { fromHalf, typeInfo } from '../runtime/datatypes.js';
import type { InferRequest } from '../runtime/request.js';
import type { Accuracy, Latency, OutputAccuracy } from '../common/optimization-report.js';
export type { Accuracy, Latency, OutputAccuracy };
import { readSampleRequests, SampleFileError } from '../runtime/samples.js';
import { tensorSpec, type ModelSignature, type OrtValueMetadata, type TensorSpec } from '../runtime/signature.js';
import { randomFloats } from '../common/seeded-random.js';
import { OptimizeError } from './errors.js';

export type Feeds = Record<string, ort.Tensor>;

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: string;
  signature: ModelSignature;
}

/** Opens a session on the first execution provider that loads the model. */
export async function openSession(path: string, providers: string[], extra: ort.InferenceSession.SessionOptions = {}): Promise<OpenedSession> {
  const errors: string[] = [];
  for (const provider of providers) {
    try {
      const session = await ort.InferenceSession.create(path, { executionProviders: [provider], logSeverityLevel: 3, ...extra });
      const meta = session as unknown as { inputMetadata: OrtValueMetadata[]; outputMetadata: OrtValueMetadata[] };
      return { session, provider, signature: { inputs: meta.inputMetadata.map(tensorSpec), outputs: meta.outputMetadata.map(tensorSpec) } };
    } catch (err) {
      errors.push(`${provider}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(errors.join('; '));
}

/** Whether every input takes a variable first (batch) dimension. */
export function batchable(sig: ModelSignature): boolean {
  return sig.inputs.length > 0 && sig.inputs.every((t) => t.shape.length > 0 && t.shape[0] === -1);
}

/** Size given to variable dimensions other than the batch dimension when inputs are generated. */
export const GENERATED_DIM = 64;

/** Deterministic inputs for a signature: floats in [-1, 1), integers in {0, 1}, booleans; `batch` rows when batchable. */
export function generateInputs(sig: ModelSignature, batch: number, seed: number): Feeds {
  const feeds: Feeds = {};
  sig.inputs.forEach((t, i) => {
    const dims = t.shape.map((d, j) => (d === -1 ? (j === 0 ? batch : GENERATED_DIM) : d));
    const n = dims.reduce((a, b) => a * b, 1);
    const r = randomFloats(n, seed * 7919 + i);
    feeds[t.name] = tensorOf(t, dims, r);
  });
  return feeds;
}

function tensorOf(t: TensorSpec, dims: number[], r: Float32Array): ort.Tensor {
  switch (t.datatype) {
    case 'FP32':
      return new ort.Tensor('float32', r, dims);
    case 'FP64':
      return new ort.Tensor('float64', Float64Array.from(r), dims);
    case 'FP16':
      return new ort.Tensor('float16', Uint16Array.from(r, (v) => (v < 0 ? 0xb800 : 0x3800)), dims);
    case 'BOOL':
      return new ort.Tensor('bool', Uint8Array.from(r, (v) => (v > 0 ? 1 : 0)), dims);
    case 'INT64':
      return new ort.Tensor('int64', BigInt64Array.from(r, (v) => (v > 0 ? 1n : 0n)), dims);
    case 'UINT64':
      return new ort.Tensor('uint64', BigUint64Array.from(r, (v) => (v > 0 ? 1n : 0n)), dims);
    case 'BYTES':
      throw new OptimizeError('InvalidArgument', `input ${t.name} takes strings: give --samples, values cannot be generated for it`);
    default: {
      const info = typeInfo(t.datatype);
      const arr = new info.array!(r.length) as Int32Array;
      for (let i = 0; i < r.length; i++) arr[i] = r[i] > 0 ? 1 : 0;
      return new ort.Tensor(info.ort as 'int32', arr, dims);
    }
  }
}

/** onnxruntime tensors for a validated request's inputs (copies: a request's bytes may be views on its body). */
export function feedsOf(req: InferRequest): Feeds {
  const feeds: Feeds = {};
  for (const input of req.inputs) {
    const info = typeInfo(input.datatype);
    if ('strings' in input.payload) feeds[input.name] = new ort.Tensor('string', input.payload.strings, input.shape);
    else {
      const bytes = input.payload.bytes.slice();
      feeds[input.name] = new ort.Tensor(info.ort as 'float32', new info.array!(bytes.buffer, 0, bytes.byteLength / info.size) as Float32Array, input.shape);
    }
  }
  return feeds;
}

/**
 * Reads a samples file (the format `serve --warmup` takes: a JSON inference request, a JSON array of them, or one
 * request body of JSON followed by binary tensor data) into feeds, one per request.
 */
export function loadSamples(file: string, sig: ModelSignature): Feeds[] {
  try {
    return readSampleRequests(file, sig).map((s) => feedsOf(s.request));
  } catch (err) {
    if (err instanceof SampleFileError) throw new OptimizeError('InvalidArgument', `--samples: ${err.message}`);
    throw err;
  }
}



/** One output on one sample. */
class Acc {
  max = 0;
  sumAbs = 0;
  n = 0;
  dot = 0;
  na = 0;
  nb = 0;
  rows = 0;
  agree = 0;
  nonFinite = 0;
  classifier = true;

  get cosine(): number {
    return this.na === 0 && this.nb === 0 ? 1 : this.na === 0 || this.nb === 0 ? 0 : this.dot / Math.sqrt(this.na * this.nb);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

function numbers(t: ort.Tensor): ArrayLike<number> {
  const d = t.data as unknown;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, Number);
  if (t.type === 'float16') return Array.from(d as Uint16Array, fromHalf);
  if (t.type === 'string') return [];
  return d as ArrayLike<number>;
}

/** Element by element: differences, the terms of the cosine, values finite in one output only, arg-max agreement. */
function compareOutput(ta: ort.Tensor, tb: ort.Tensor): Acc {
  const x = numbers(ta);
  const y = numbers(tb);
  const s = new Acc();
  for (let i = 0; i < x.length; i++) {
    const u = x[i];
    const v = y[i];
    if (!Number.isFinite(u) || !Number.isFinite(v)) {
      if (!(Object.is(u, v) || (Number.isNaN(u) && Number.isNaN(v)))) s.nonFinite++;
      continue;
    }
    const d = Math.abs(u - v);
    if (d > s.max) s.max = d;
    s.sumAbs += d;
    s.n++;
    s.dot += u * v;
    s.na += u * u;
    s.nb += v * v;
  }
  const isFloat = ta.type === 'float32' || ta.type === 'float16' || ta.type === 'float64';
  if (isFloat && ta.dims.length === 2 && ta.dims[1] >= 2) {
    const [rows, cols] = ta.dims;
    for (let r = 0; r < rows; r++) {
      let ia = 0;
      let ib = 0;
      for (let c = 1; c < cols; c++) {
        if (x[r * cols + c] > x[r * cols + ia]) ia = c;
        if (y[r * cols + c] > y[r * cols + ib]) ib = c;
      }
      s.rows++;
      if (ia === ib) s.agree++;
    }
  } else s.classifier = false;
  return s;
}

/** Both models' outputs on one sample; a failure of the original is the samples' fault, of the optimised model its own. */
async function runBoth(original: ort.InferenceSession, optimized: ort.InferenceSession, feeds: Feeds): Promise<[ort.InferenceSession.OnnxValueMapType, ort.InferenceSession.OnnxValueMapType]> {
  let a: ort.InferenceSession.OnnxValueMapType;
  try {
    a = await original.run(feeds);
  } catch (err) {
    const shapes = Object.entries(feeds).map(([k, t]) => `${k}[${t.dims.join(',')}]`).join(', ');
    throw new OptimizeError('InvalidArgument', `the original model fails on the comparison inputs (${shapes}): ${firstLine(err)}; give --samples with inputs it accepts`);
  }
  try {
    return [a, await optimized.run(feeds)];
  } catch (err) {
    throw new OptimizeError('OptimizationFailed', `the optimised model fails where the original runs: ${firstLine(err)}`);
  }
}

/**
 * Runs both sessions on every sample and compares each output element by element, sample by sample: the cosine and
 * the largest difference are those of the worst sample, so a sample the optimised model gets wrong is not hidden by
 * others with larger values.
 */
export async function compareModels(original: ort.InferenceSession, optimized: ort.InferenceSession, samples: Feeds[]): Promise<Accuracy> {
  const perOutput = new Map<string, Acc[]>();
  for (const feeds of samples) {
    const [a, b] = await runBoth(original, optimized, feeds);
    for (const name of original.outputNames) {
      const ta = a[name];
      const tb = b[name];
      if (!tb) throw new OptimizeError('OptimizationFailed', `the optimised model does not produce output ${name}`);
      if (ta.dims.join(',') !== tb.dims.join(',')) {
        throw new OptimizeError('OptimizationFailed', `output ${name}: shape [${tb.dims}] differs from the original's [${ta.dims}]`);
      }
      perOutput.set(name, [...(perOutput.get(name) ?? []), compareOutput(ta, tb)]);
    }
  }
  return summarizeAccuracy(samples.length, perOutput);
}

/** The accuracy report from each output's comparison on each sample (index = sample). */
function summarizeAccuracy(samples: number, perOutput: Map<string, Acc[]>): Accuracy {
  const sum = (accs: Acc[], f: (a: Acc) => number) => accs.reduce((t, a) => t + f(a), 0);
  const outputs: OutputAccuracy[] = [...perOutput].map(([name, accs]) => {
    const n = sum(accs, (a) => a.n);
    const rows = sum(accs, (a) => a.rows);
    return {
      name,
      maxAbsError: Math.max(0, ...accs.map((a) => a.max)),
      meanAbsError: n ? sum(accs, (a) => a.sumAbs) / n : 0,
      cosine: Math.min(1, ...accs.map((a) => a.cosine)),
      ...(accs.every((a) => a.classifier) && rows ? { top1Agreement: sum(accs, (a) => a.agree) / rows } : {}),
      nonFinite: sum(accs, (a) => a.nonFinite),
    };
  });
  const all = [...perOutput.values()];
  const n = all.reduce((t, accs) => t + sum(accs, (a) => a.n), 0);
  const classifiers = outputs.filter((o) => o.top1Agreement !== undefined);
  const worst = (score: (a: Acc) => number) => {
    let at = 0;
    let value = -Infinity;
    for (let i = 0; i < samples; i++) {
      const v = Math.max(...all.map((accs) => score(accs[i])));
      if (v > value) [at, value] = [i, v];
    }
    return at;
  };
  return {
    samples,
    maxAbsError: Math.max(0, ...outputs.map((o) => o.maxAbsError)),
    meanAbsError: n ? all.reduce((t, accs) => t + sum(accs, (a) => a.sumAbs), 0) / n : 0,
    cosine: Math.min(1, ...outputs.map((o) => o.cosine)),
    ...(classifiers.length ? { top1Agreement: Math.min(...classifiers.map((o) => o.top1Agreement!)) } : {}),
    nonFinite: outputs.reduce((t, o) => t + o.nonFinite, 0),
    worstSample: { cosine: worst((a) => -a.cosine), maxAbsError: worst((a) => a.max) },
    outputs,
  };
}

/** Median milliseconds per run over at least `minRuns` runs (and up to about `budgetMs`), after warm-up. */
export async function medianLatencyMs(session: ort.InferenceSession, feeds: Feeds, opts: { minRuns?: number; maxRuns?: number; budgetMs?: number } = {}): Promise<number> {
  const minRuns = opts.minRuns ?? 5;
  const maxRuns = opts.maxRuns ?? 50;
  const budget = opts.budgetMs ?? 1000;
  for (let i = 0; i < 2; i++) await session.run(feeds);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || (times.length < maxRuns && performance.now() - start < budget)) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  return median(times);
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}


export interface LatencyMeasurement {
  original: Latency;
  optimized: Latency;
  /** The original's time over the optimised model's: the median of the per-round ratios. */
  speedup: { batch1: number; batch32?: number };
}

/** What both models are timed on: a batch of 1 (and of 32 when the model batches), or the first of the samples. */
export interface LatencyInputs {
  batch1: Feeds;
  batch32?: Feeds;
}

/**
 * The timing inputs: the first sample when there are samples (a model may refuse generated inputs, which is why
 * samples are given), else generated inputs of batch 1, and of batch 32 for models with a variable first dimension.
 */
export function latencyInputs(sig: ModelSignature, samples?: Feeds[]): LatencyInputs {
  if (samples?.length) return { batch1: samples[0] };
  return { batch1: generateInputs(sig, 1, 101), ...(batchable(sig) ? { batch32: generateInputs(sig, 32, 102) } : {}) };
}

/** How the two models' speed is measured (tests stand in a measurement of their own). */
export type MeasureLatency = (original: ort.InferenceSession, optimized: ort.InferenceSession, inputs: LatencyInputs, budgetMs: number) => Promise<LatencyMeasurement>;

/** Rounds of the latency measurement: each times the original, then the optimised model, back to back. */
export const LATENCY_ROUNDS = 5;

/**
 * Batch-1 and batch-32 latency of both models. On a busy machine a run is slowed by whatever else runs, so the two
 * models are timed in alternation, round after round (each time the median of several runs), and the speed-up is the
 * median of the rounds' ratios: a neighbour that slows one round slows both of its models alike, and a round it
 * spoils is outvoted. Batch 32 is measured only when its inputs are given.
 */
export const measureLatency: MeasureLatency = async (original, optimized, inputs, budgetMs) => {
  const one = inputs.batch1;
  const big = inputs.batch32;
  const per = budgetMs / (LATENCY_ROUNDS * (big ? 4 : 2));
  const o1: number[] = [];
  const p1: number[] = [];
  const o32: number[] = [];
  const p32: number[] = [];
  for (let r = 0; r < LATENCY_ROUNDS; r++) {
    o1.push(await medianLatencyMs(original, one, { budgetMs: per }));
    p1.push(await medianLatencyMs(optimized, one, { budgetMs: per }));
    if (big) {
      o32.push(await medianLatencyMs(original, big, { budgetMs: per, minRuns: 3 }));
      p32.push(await medianLatencyMs(optimized, big, { budgetMs: per, minRuns: 3 }));
    }
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    original: { batch1Ms: round(median(o1)), ...(big ? { batch32Ms: round(median(o32)) } : {}) },
    optimized: { batch1Ms: round(median(p1)), ...(big ? { batch32Ms: round(median(p32)) } : {}) },
    speedup: { batch1: speedupOf(o1, p1), ...(big ? { batch32: speedupOf(o32, p32) } : {}) },
  };
};

/** The median over rounds of the original's time over the optimised model's (the rounds' times in order), to 3 decimals. */
export function speedupOf(originalMs: readonly number[], optimizedMs: readonly number[]): number {
  return Math.round(median(originalMs.map((x, i) => x / optimizedMs[i])) * 1000) / 1000;
}
