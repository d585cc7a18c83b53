// `optimizeModel`: quantise and/or graph-optimise an ONNX model, check it against the original with the accuracy
// gate, and write it atomically: everything is made in a temporary directory inside the output directory and
// moved into place only when the gate passes (data files first, model.onnx last). Nothing half-written is left.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import { asOptimizeError, isOptimizeError, OptimizeError } from './errors.js';
import { convertFp16 } from './fp16.js';
import {
  batchable, compareModels, generateInputs, latencyInputs, loadSamples, measureLatency, openSession, type Accuracy, type Feeds, type LatencyMeasurement, type MeasureLatency, type OpenedSession,
} from './gate.js';
import { readModel, writeModel, type LoadedModel, type ModelProto } from '../common/onnx-model.js';
import type { ModelSignature } from '../runtime/signature.js';
import { quantizeInt8, type SkippedOp } from './quantize-int8.js';
import { INT8_OPSET, toInt8Opset } from './opset.js';
import { readManifest } from '../fetch/integrity.js';
import { modelFileIn } from '../common/download-names.js';
import {
  DEFAULT_MIN_COSINE, DEFAULT_MIN_SPEEDUP, GRAPH_OPTIMIZATION_LEVELS, OPTIMIZED_MODEL_FILE, QUANTIZE_MODES, REPORT_FILE, type GraphOptimizationLevel, type OptimizationReport, type QuantizeMode,
} from '../common/optimization-report.js';

export { OptimizeError, optimizeExitCode, OPTIMIZE_REASONS } from './errors.js';
export { DEFAULT_MIN_COSINE, DEFAULT_MIN_SPEEDUP, optimizedModelIn, parseSummaryLine, summarize, summaryLine, REPORT_FILE, type OptimizationReport, type OptimizationSummary } from '../common/optimization-report.js';

const TEMP_PREFIX = '.optimize-';

export interface OptimizeOptions {
  /** The model file, or a directory holding model.onnx (external-data files beside it). */
  model: string;
  /** Output directory: model.onnx (+ model.onnx.data) and optimization-report.json. */
  out: string;
  quantize?: QuantizeMode;
  graphOptimization?: GraphOptimizationLevel;
  /** onnxruntime execution providers in order of preference (default cpu). */
  executionProviders?: string[];
  /** Request bodies to compare on; generated from the input metadata when absent. */
  samples?: string;
  /** Largest absolute difference allowed in any output element (no limit when absent). */
  maxAbsError?: number;
  /** Smallest cosine similarity allowed between original and optimised outputs, on every sample (default 0.99). */
  minCosine?: number;
  /** Smallest batch-1 speed-up over the original the optimised model must reach (default 1: not slower). */
  minSpeedup?: number;
  /** How the two models' speed is measured (default measureLatency; tests give their own). */
  measureLatency?: MeasureLatency;
  /** A second place to write the report. */
  report?: string;
  /** Time given to the latency measurement (default 3000 ms). */
  latencyBudgetMs?: number;
  logger?: Logger;
}

function checkOptions(o: OptimizeOptions): void {
  if (!o.model) throw new OptimizeError('InvalidArgument', '--model: is required');
  if (!o.out) throw new OptimizeError('InvalidArgument', '--out: is required');
  if (o.quantize !== undefined && !QUANTIZE_MODES.includes(o.quantize)) {
    throw new OptimizeError('InvalidArgument', `--quantize: must be one of ${QUANTIZE_MODES.join(', ')}, got ${JSON.stringify(o.quantize)}`);
  }
  if (o.graphOptimization !== undefined && !GRAPH_OPTIMIZATION_LEVELS.includes(o.graphOptimization)) {
    throw new OptimizeError('InvalidArgument', `--graph-optimization: must be one of ${GRAPH_OPTIMIZATION_LEVELS.join(', ')}, got ${JSON.stringify(o.graphOptimization)}`);
  }
  if (o.maxAbsError !== undefined && !(Number.isFinite(o.maxAbsError) && o.maxAbsError >= 0)) {
    throw new OptimizeError('InvalidArgument', `--max-abs-error: must be a non-negative number, got ${o.maxAbsError}`);
  }
  if (o.minCosine !== undefined && !(Number.isFinite(o.minCosine) && o.minCosine >= -1 && o.minCosine <= 1)) {
    throw new OptimizeError('InvalidArgument', `--min-cosine: must be a number from -1 to 1, got ${o.minCosine}`);
  }
  if (o.minSpeedup !== undefined && !(Number.isFinite(o.minSpeedup) && o.minSpeedup >= 0)) {
    throw new OptimizeError('InvalidArgument', `--min-speedup: must be a non-negative number, got ${o.minSpeedup}`);
  }
  if (o.executionProviders !== undefined && o.executionProviders.length === 0) {
    throw new OptimizeError('InvalidArgument', '--execution-providers: needs at least one provider');
  }
}

/** Removes what an earlier run left in the output directory, so that a stale model can never be served. */
function clearOutputs(out: string): void {
  for (const name of readdirSync(out)) {
    if (name === OPTIMIZED_MODEL_FILE || name === `${OPTIMIZED_MODEL_FILE}.data` || name === REPORT_FILE || name.startsWith(TEMP_PREFIX)) {
      rmSync(join(out, name), { recursive: true, force: true });
    }
  }
}

function ioError(what: string, err: unknown): OptimizeError {
  return isOptimizeError(err) ? err : new OptimizeError('IoError', `${what}: ${(err as Error).message}`, { cause: err });
}

function filesBytes(dir: string, files: string[]): number {
  return files.reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

/** Writes the report into the output directory (and to opts.report), atomically. */
export function writeReport(out: string, report: OptimizationReport, extra?: string): void {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const tmp = join(out, `${TEMP_PREFIX}report.json`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(out, REPORT_FILE));
  if (extra) writeFileSync(extra, text);
}

/**
 * The model file behind --model: a file, a directory's model.onnx (at its top or under onnx/), or what `modelplane fetch` recorded in the
 * directory's manifest (an object whose name says nothing of its kind), exactly as the runtime resolves it.
 */
async function resolveModelPath(path: string): Promise<string> {
  let dir: string;
  try {
    if (!statSync(path).isDirectory() || modelFileIn(path) !== undefined) return path;
    dir = resolve(path);
  } catch {
    return path;
  }
  const manifest = await readManifest(dir);
  if (!manifest) return path;
  const target = resolve(dir, manifest.modelPath);
  if (target !== dir && !target.startsWith(`${dir}/`)) return path;
  return target;
}

/** Why the accuracy gate refuses, sample by sample (the worst sample decides); empty when it passes. */
function accuracyFailures(accuracy: Accuracy, minCosine: number, maxAbsError: number | undefined): string[] {
  const failures: string[] = [];
  const sample = (i: number) => (accuracy.samples > 1 ? ` (sample ${i})` : '');
  if (accuracy.nonFinite > 0) failures.push(`${accuracy.nonFinite} output values are NaN or infinite in one model but not the other`);
  if (accuracy.cosine < minCosine) failures.push(`cosine similarity ${accuracy.cosine.toPrecision(6)}${sample(accuracy.worstSample.cosine)} is below --min-cosine ${minCosine}`);
  if (maxAbsError !== undefined && accuracy.maxAbsError > maxAbsError) {
    failures.push(`max absolute error ${accuracy.maxAbsError.toPrecision(6)}${sample(accuracy.worstSample.maxAbsError)} exceeds --max-abs-error ${maxAbsError}`);
  }
  return failures;
}

/** Why the speed gate refuses (the optimised model is slower at batch 1 than --min-speedup allows); empty when it passes. */
function speedFailures(latency: LatencyMeasurement, minSpeedup: number): string[] {
  if (latency.speedup.batch1 >= minSpeedup) return [];
  return [`batch-1 speed-up ${latency.speedup.batch1}x (${latency.original.batch1Ms} ms -> ${latency.optimized.batch1Ms} ms) is below --min-speedup ${minSpeedup}`];
}

/**
 * Writes a transformed model into `dir` as model.onnx (external data beside it when the original had some), through
 * onnxruntime's offline graph optimisation at `level` for `provider` unless disabled. Returns the files, model last.
 */
async function materialize(model: ModelProto, dir: string, level: GraphOptimizationLevel, externalData: boolean, provider: string): Promise<string[]> {
  let files: string[];
  try {
    files = writeModel(model, dir, { externalData, fileName: level === 'disabled' ? OPTIMIZED_MODEL_FILE : 'stage.onnx' }).files;
  } catch (err) {
    throw ioError(`cannot write the optimised model into ${dir}`, err);
  }
  if (level === 'disabled') return files;
  // onnxruntime writes weights outside the protobuf when the model came with them, or had to be written that way.
  const extra = externalData || files.length > 1
    ? { session: { optimized_model_external_initializers_file_name: `${OPTIMIZED_MODEL_FILE}.data`, optimized_model_external_initializers_min_size_in_bytes: '1024' } }
    : undefined;
  try {
    const s = await openSession(join(dir, files.at(-1)!), [provider], {
      graphOptimizationLevel: level,
      optimizedModelFilePath: join(dir, OPTIMIZED_MODEL_FILE),
      ...(extra ? { extra } : {}),
    });
    await s.session.release();
  } catch (err) {
    throw new OptimizeError('OptimizationFailed', `offline graph optimisation (${level}) failed: ${(err as Error).message}`);
  }
  for (const f of files) rmSync(join(dir, f), { force: true });
  return [...readdirSync(dir).filter((f) => f !== OPTIMIZED_MODEL_FILE), OPTIMIZED_MODEL_FILE];
}

/** The gate's thresholds as the report states them. */
export function thresholdsOf(opts: Pick<OptimizeOptions, 'maxAbsError' | 'minCosine' | 'minSpeedup'>): OptimizationReport['thresholds'] {
  return { ...(opts.maxAbsError !== undefined ? { maxAbsError: opts.maxAbsError } : {}), minCosine: opts.minCosine ?? DEFAULT_MIN_COSINE, minSpeedup: opts.minSpeedup ?? DEFAULT_MIN_SPEEDUP };
}

/** One transformed model to put through the gate. */
interface Candidate {
  label: string;
  model: ModelProto;
  /** The default-domain opset it was raised from (int8 on a model below opset 11). */
  opsetFrom?: number;
  quantized?: OptimizationReport['quantized'];
  skipped?: SkippedOp[];
  keptFp32?: OptimizationReport['keptFp32'];
}

/** A candidate after the gate: where it was written, its report, and why the gate refused it (empty: it passed). */
interface Evaluated {
  candidate: Candidate;
  dir: string;
  files: string[];
  report: OptimizationReport;
  accuracyFailures: string[];
  speedFailures: string[];
}

/**
 * 1. Transformations on the ModelProto. int8 with Convs makes two candidates, Convs in float and in ConvInteger:
 * onnxruntime has no fused dynamic int8 convolution, so the gate measures which one pays. Returns the candidates, or
 * the message of a report when there is nothing to try.
 */
function makeCandidates(model: ModelProto, opts: OptimizeOptions, level: GraphOptimizationLevel): { candidates: Candidate[] } | { nothing: Partial<OptimizationReport> & { message: string } } {
  const log = opts.logger;
  if (opts.quantize === 'int8') {
    const candidates: Candidate[] = [];
    const upgraded = toInt8Opset(model);
    if (upgraded.from !== undefined) log?.info('opset raised for int8', { from: upgraded.from, to: INT8_OPSET });
    model = upgraded.model;
    const q = quantizeInt8(model);
    log?.info('quantised to int8', { quantized: q.quantized.length, skipped: q.skipped.length });
    const opsetFrom = upgraded.from !== undefined ? { opsetFrom: upgraded.from } : {};
    if (q.quantized.length || level !== 'disabled') candidates.push({ label: 'int8', model: q.model, quantized: q.quantized, skipped: q.skipped, ...opsetFrom });
    if (q.skipped.some((x) => x.op === 'Conv' && x.why === 'NotAsked')) {
      const c = quantizeInt8(model, { conv: true });
      // A Conv that cannot take the ConvInteger form gets that reason in the report.
      const refused = new Map(c.skipped.filter((x) => x.op === 'Conv').map((x) => [x.node, x]));
      for (const x of q.skipped) {
        const r = x.op === 'Conv' ? refused.get(x.node) : undefined;
        if (r) {
          x.reason = r.reason;
          x.why = r.why;
        }
      }
      if (c.quantized.some((x) => x.op === 'Conv')) candidates.push({ label: 'int8 with ConvInteger', model: c.model, quantized: c.quantized, skipped: c.skipped, ...opsetFrom });
    }
    if (!candidates.length) return { nothing: { quantized: q.quantized, skipped: q.skipped.map(reportedSkip), message: `no MatMul, Gemm or Conv weight could be quantised (${q.skipped.length} skipped)` } };
    return { candidates };
  }
  if (opts.quantize === 'fp16') {
    try {
      const h = convertFp16(model);
      log?.info('converted to fp16', { converted: h.converted, keptFp32: h.keptFp32.length });
      return { candidates: [{ label: 'fp16', model: h.model, keptFp32: h.keptFp32 }] };
    } catch (err) {
      if ((err as { unsupported?: boolean }).unsupported) throw new OptimizeError('UnsupportedModel', (err as Error).message);
      throw err;
    }
  }
  return { candidates: [{ label: 'graph', model }] };
}

/** A node left in float as the report lists it: the reason in words (the optimiser decides on its code). */
function reportedSkip({ node, op, reason }: SkippedOp): NonNullable<OptimizationReport['skipped']>[number] {
  return { node, op, reason };
}

/** The gate's inputs: the samples file's requests, else generated ones (batches of 32 and 1 when the model batches). */
function gateSamples(opts: OptimizeOptions, sig: ModelSignature): Feeds[] {
  if (opts.samples) return loadSamples(opts.samples, sig);
  return batchable(sig)
    ? [generateInputs(sig, 32, 1), generateInputs(sig, 1, 2), generateInputs(sig, 32, 3)]
    : [1, 2, 3, 4].map((seed) => generateInputs(sig, 1, seed));
}

interface GateContext {
  opts: OptimizeOptions;
  base: OptimizationReport;
  loaded: LoadedModel;
  level: GraphOptimizationLevel;
  original: OpenedSession;
  samples: Feeds[];
}

/** 2a. A candidate written into `dir` and loaded on the original's provider. */
async function build(candidate: Candidate, dir: string, g: GateContext): Promise<{ files: string[]; optimized: OpenedSession }> {
  const files = await materialize(candidate.model, dir, g.level, g.loaded.externalData, g.original.provider);
  try {
    return { files, optimized: await openSession(join(dir, OPTIMIZED_MODEL_FILE), [g.original.provider]) };
  } catch (err) {
    throw new OptimizeError('OptimizationFailed', `the optimised model (${candidate.label}) does not load on ${g.original.provider}: ${(err as Error).message}`);
  }
}

/** Both models timed (on the first sample when there are samples); a model that fails there is said to. */
async function timeBoth(g: GateContext, optimized: OpenedSession): Promise<LatencyMeasurement> {
  const inputs = latencyInputs(g.original.signature, g.opts.samples ? g.samples : undefined);
  try {
    return await (g.opts.measureLatency ?? measureLatency)(g.original.session, optimized.session, inputs, g.opts.latencyBudgetMs ?? 3000);
  } catch (err) {
    if (isOptimizeError(err)) throw err;
    const line = (err as Error).message.split('\n')[0];
    // Both models ran the samples already: a failure on the first of them is the optimised model's.
    if (g.opts.samples) throw new OptimizeError('OptimizationFailed', `timing the models on the first sample failed: ${line}`);
    throw new OptimizeError('InvalidArgument', `timing the models on generated inputs failed: ${line}; give --samples with inputs the model accepts`);
  }
}

/** 2b. The gate for one built candidate: compared with the original on the samples, and timed against it. */
async function judge(candidate: Candidate, dir: string, files: string[], optimized: OpenedSession, g: GateContext): Promise<Evaluated> {
  let accuracy: Accuracy;
  let latency: LatencyMeasurement;
  try {
    accuracy = await compareModels(g.original.session, optimized.session, g.samples);
    latency = await timeBoth(g, optimized);
  } finally {
    await optimized.session.release();
  }
  const optimizedBytes = filesBytes(dir, files);
  const report: OptimizationReport = {
    ...g.base,
    ...(candidate.quantized ? { quantized: candidate.quantized } : {}),
    ...(candidate.skipped ? { skipped: candidate.skipped.map(reportedSkip) } : {}),
    ...(candidate.keptFp32 ? { keptFp32: candidate.keptFp32 } : {}),
    ...(candidate.opsetFrom !== undefined ? { opset: { from: candidate.opsetFrom, to: INT8_OPSET } } : {}),
    originalBytes: g.loaded.bytes,
    optimizedBytes,
    sizeRatio: Math.round((g.loaded.bytes / optimizedBytes) * 1000) / 1000,
    accuracy,
    latency: { original: latency.original, optimized: latency.optimized },
    speedup: latency.speedup,
  };
  return {
    candidate, dir, files, report,
    accuracyFailures: accuracyFailures(accuracy, g.opts.minCosine ?? DEFAULT_MIN_COSINE, g.opts.maxAbsError),
    speedFailures: speedFailures(latency, g.opts.minSpeedup ?? DEFAULT_MIN_SPEEDUP),
  };
}

/**
 * 3. The fastest candidate at batch 1 among those that pass; else the first that passes on accuracy (refused for speed);
 * else the first. The float-Conv candidate's report says why the ConvInteger one was not taken.
 */
function choose(evaluated: Evaluated[], dropped: string[]): Evaluated {
  const passes = (e: Evaluated) => !e.accuracyFailures.length && !e.speedFailures.length;
  const passing = evaluated.filter(passes).sort((a, b) => b.report.speedup!.batch1 - a.report.speedup!.batch1);
  const chosen = passing[0] ?? evaluated.find((e) => !e.accuracyFailures.length) ?? evaluated[0];
  const other = evaluated.find((e) => e !== chosen);
  if (other && chosen.candidate.label === 'int8' && other.candidate.label === 'int8 with ConvInteger') {
    const why = other.accuracyFailures.length
      ? `ConvInteger failed the accuracy gate (${other.accuracyFailures.join('; ')}); kept in float`
      : `ConvInteger measured slower here (${other.report.latency!.optimized.batch1Ms} ms vs ${chosen.report.latency!.optimized.batch1Ms} ms at batch 1); kept in float`;
    chosen.report.skipped = chosen.candidate.skipped!.map((x) => reportedSkip(x.op === 'Conv' && x.why === 'NotAsked' ? { ...x, reason: why } : x));
  }
  if (dropped.length) chosen.report.droppedCandidates = dropped;
  return chosen;
}

/** 2 for every candidate: one that cannot be written or does not load is dropped while another one is left. */
async function evaluateAll(candidates: Candidate[], tmp: string, g: GateContext): Promise<{ evaluated: Evaluated[]; dropped: string[] }> {
  const dropped: string[] = [];
  const evaluated: Evaluated[] = [];
  for (const [i, candidate] of candidates.entries()) {
    const dir = join(tmp, String(i));
    mkdirSync(dir);
    let built: { files: string[]; optimized: OpenedSession };
    try {
      built = await build(candidate, dir, g);
    } catch (err) {
      if (i === candidates.length - 1 && !evaluated.length) throw err;
      g.opts.logger?.warn('candidate dropped', { candidate: candidate.label, error: (err as Error).message });
      dropped.push(`${candidate.label}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    evaluated.push(await judge(candidate, dir, built.files, built.optimized, g));
  }
  return { evaluated, dropped };
}

/** 4. Into place: data files first, model.onnx last, so a model.onnx present is always complete. */
function install(chosen: Evaluated, out: string): void {
  try {
    for (const f of chosen.files) renameSync(join(chosen.dir, f), join(out, f));
  } catch (err) {
    for (const f of chosen.files) rmSync(join(out, f), { force: true });
    throw ioError(`cannot move the optimised model into ${out}`, err);
  }
}

/** The report of a chosen candidate: applied, or which gate refused it and why. */
function outcome(chosen: Evaluated, level: GraphOptimizationLevel): OptimizationReport {
  const { report } = chosen;
  if (chosen.accuracyFailures.length) {
    const all = [...chosen.accuracyFailures, ...chosen.speedFailures];
    return { ...report, reason: 'AccuracyGateFailed', message: `accuracy gate failed: ${all.join('; ')}; no optimised model written` };
  }
  if (chosen.speedFailures.length) {
    return { ...report, reason: 'SpeedGateFailed', message: `speed gate failed: ${chosen.speedFailures.join('; ')}; no optimised model written` };
  }
  const accuracy = report.accuracy!;
  return {
    ...report,
    applied: true,
    reason: 'Applied',
    files: chosen.files,
    message:
      `${[chosen.candidate.label === 'graph' ? '' : chosen.candidate.label, level !== 'disabled' ? `graph optimisation ${level}` : ''].filter(Boolean).join(' + ')}: ` +
      `${report.sizeRatio}x smaller, ${report.speedup!.batch1}x faster at batch 1, max abs error ${accuracy.maxAbsError.toPrecision(3)}, cosine ${accuracy.cosine.toPrecision(6)}`,
  };
}

/**
 * Optimises a model and gates it. Resolves with the report both when the gate passed (report.applied) and when it
 * did not (reason AccuracyGateFailed or SpeedGateFailed, no model written); rejects with an OptimizeError when the
 * model or the options are refused or the transformation fails.
 */
export async function optimizeModel(opts: OptimizeOptions): Promise<OptimizationReport> {
  try {
    return await optimize(opts);
  } catch (err) {
    throw asOptimizeError(err);
  }
}

/** 0. The output directory, resolved, created and cleared of earlier outputs; never the model's own directory. */
async function prepareOutput(opts: OptimizeOptions): Promise<{ out: string; modelPath: string }> {
  const out = resolve(opts.out);
  const modelPath = await resolveModelPath(opts.model);
  const modelDir = existsSync(modelPath) && statSync(modelPath).isDirectory() ? resolve(modelPath) : dirname(resolve(modelPath));
  if (modelDir === out) {
    throw new OptimizeError('InvalidArgument', `--out: ${out} holds the model itself; write the optimised model into another directory`);
  }
  try {
    mkdirSync(out, { recursive: true });
    clearOutputs(out);
  } catch (err) {
    throw ioError(`--out: cannot prepare ${out}`, err);
  }
  return { out, modelPath };
}

/** What every report says: what was asked for, of which model, under which thresholds. */
function baseReport(opts: OptimizeOptions, level: GraphOptimizationLevel): OptimizationReport {
  return {
    applied: false,
    reason: 'NothingToOptimize',
    message: '',
    ...(opts.quantize ? { quantize: opts.quantize } : {}),
    graphOptimization: level,
    originalModel: opts.model,
    files: [],
    thresholds: thresholdsOf(opts),
  };
}

/** 5. The report, with the seconds taken since `started`, written into `out`. */
function finishReport(r: OptimizationReport, out: string, opts: OptimizeOptions, started: number): OptimizationReport {
  r.seconds = Math.round((performance.now() - started) / 10) / 100;
  try {
    writeReport(out, r, opts.report);
  } catch (err) {
    throw ioError(`cannot write the report into ${out}`, err);
  }
  return r;
}

/**
 * 2-4 in a temporary directory under `out`: open the original model, evaluate every candidate against it, choose
 * one, install it when it passed the gates, and `finish` the report. The session and the directory are released
 * whatever happens.
 */
async function gateCandidates(
  candidates: Candidate[],
  out: string,
  g: Omit<GateContext, 'original' | 'samples'>,
  finish: (r: OptimizationReport) => OptimizationReport,
): Promise<OptimizationReport> {
  const { opts, base, loaded, level } = g;
  let tmp: string;
  try {
    tmp = mkdtempSync(join(out, TEMP_PREFIX));
  } catch (err) {
    throw ioError(`--out: cannot write into ${out}`, err);
  }
  let original: OpenedSession | undefined;
  try {
    try {
      original = await openSession(loaded.path, opts.executionProviders ?? ['cpu']);
    } catch (err) {
      throw new OptimizeError('InvalidModel', `${loaded.path} does not load in onnxruntime: ${(err as Error).message}`);
    }
    base.executionProvider = original.provider;
    const context: GateContext = { opts, base, loaded, level, original, samples: gateSamples(opts, original.signature) };
    const { evaluated, dropped } = await evaluateAll(candidates, tmp, context);
    const chosen = choose(evaluated, dropped);
    const report = outcome(chosen, level);
    if (report.applied) install(chosen, out);
    return finish(report);
  } finally {
    await original?.session.release().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Steps: check the options, prepare the output, read the model, make the candidates, gate them, write the report. */
async function optimize(opts: OptimizeOptions): Promise<OptimizationReport> {
  checkOptions(opts);
  const started = performance.now();
  const level = opts.graphOptimization ?? 'disabled';
  const { out, modelPath } = await prepareOutput(opts);
  const base = baseReport(opts, level);
  const finish = (r: OptimizationReport) => finishReport(r, out, opts, started);

  const loaded = readModel(modelPath);
  base.originalBytes = loaded.bytes;
  if (!opts.quantize && level === 'disabled') {
    return finish({ ...base, message: 'neither --quantize nor --graph-optimization was asked for' });
  }
  const made = makeCandidates(loaded.model, opts, level);
  if ('nothing' in made) return finish({ ...base, ...made.nothing });
  return gateCandidates(made.candidates, out, { opts, base, loaded, level }, finish);
}
