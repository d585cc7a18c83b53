// The optimisation report: what `modelplane optimize` writes beside the model (optimization-report.json), the
// one-line summary it leaves as its container's termination message, and how the runtime and the operator read
// them back. No onnxruntime here: the runtime and the operator import this module alone.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_FILE } from './download-names.js';

export interface OutputAccuracy {
  name: string;
  /** The largest over the samples. */
  maxAbsError: number;
  /** Over every element of every sample. */
  meanAbsError: number;
  /** The lowest over the samples. */
  cosine: number;
  /** Share of rows whose arg-max agrees, for outputs shaped [batch, classes]. */
  top1Agreement?: number;
  /** Values finite in the original but not in the optimised output (or the other way round). */
  nonFinite: number;
}

export interface Accuracy {
  samples: number;
  /** The largest absolute difference in any output of any sample. */
  maxAbsError: number;
  meanAbsError: number;
  /** The lowest cosine similarity of any output on any sample: each sample is judged on its own. */
  cosine: number;
  top1Agreement?: number;
  nonFinite: number;
  /** Which sample (0-based) gave the lowest cosine and which the largest absolute error: the samples that decided. */
  worstSample: { cosine: number; maxAbsError: number };
  outputs: OutputAccuracy[];
}

export interface Latency {
  batch1Ms: number;
  batch32Ms?: number;
}

/** The gate's smallest cosine similarity when none is given (the CLI's default and the report's). */
export const DEFAULT_MIN_COSINE = 0.99;
/** The gate's smallest batch-1 speed-up when none is given: an optimised model may not be slower than the original. */
export const DEFAULT_MIN_SPEEDUP = 1;

export const REPORT_FILE = 'optimization-report.json';
/** The optimised model's file: what `serve` loads from a directory. */
export const OPTIMIZED_MODEL_FILE = MODEL_FILE;
export const QUANTIZE_MODES = ['int8', 'fp16'] as const;
export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

export interface OptimizationReport {
  /** True when the optimised model passed the gate and was written. */
  applied: boolean;
  /** Applied, AccuracyGateFailed, SpeedGateFailed, NothingToOptimize, or the error reason that stopped it. */
  reason: string;
  message: string;
  quantize?: QuantizeMode;
  graphOptimization: GraphOptimizationLevel;
  /** The execution provider the gate ran on (and offline graph optimisation was made for). */
  executionProvider?: string;
  originalModel: string;
  /** Files written into the output directory, data files first; empty when not applied. */
  files: string[];
  originalBytes?: number;
  optimizedBytes?: number;
  sizeRatio?: number;
  thresholds: { maxAbsError?: number; minCosine: number; minSpeedup?: number };
  accuracy?: Accuracy;
  latency?: { original: Latency; optimized: Latency };
  speedup?: { batch1: number; batch32?: number };
  quantized?: { node: string; op: string; weight: string; shape: number[] }[];
  skipped?: { node: string; op: string; reason: string }[];
  keptFp32?: { node: string; op: string; reason: string }[];
  /** The default-domain opset raised for int8 (from below 11; only the opset import changes). */
  opset?: { from: number; to: number };
  /** Variants tried and dropped because they did not load or run (e.g. int8 with ConvInteger). */
  droppedCandidates?: string[];
  seconds?: number;
}

/** What the operator puts in status.optimization: the report's figures without its lists. */
export interface OptimizationSummary {
  applied: boolean;
  reason: string;
  message?: string;
  quantize?: QuantizeMode;
  originalBytes?: number;
  optimizedBytes?: number;
  speedup?: number;
  maxAbsError?: number;
  cosine?: number;
}

const round = (x: number, digits = 6) => Number(x.toPrecision(digits));

export function summarize(r: OptimizationReport): OptimizationSummary {
  return {
    applied: r.applied,
    reason: r.reason,
    message: r.message.slice(0, 1024),
    ...(r.quantize ? { quantize: r.quantize } : {}),
    ...(r.originalBytes !== undefined ? { originalBytes: r.originalBytes } : {}),
    ...(r.optimizedBytes !== undefined ? { optimizedBytes: r.optimizedBytes } : {}),
    ...(r.speedup ? { speedup: round(r.speedup.batch1, 3) } : {}),
    ...(r.accuracy ? { maxAbsError: round(r.accuracy.maxAbsError), cosine: round(r.accuracy.cosine) } : {}),
  };
}

/** The termination message line: a marker, then the summary as JSON (well under Kubernetes' 4096 bytes). */
export const SUMMARY_PREFIX = 'modelplane-optimization ';

export function summaryLine(r: OptimizationReport): string {
  return SUMMARY_PREFIX + JSON.stringify(summarize(r));
}

/** Reads a summary back from a termination message; undefined when the message is not one. */
export function parseSummaryLine(message: string | undefined): OptimizationSummary | undefined {
  if (!message) return undefined;
  const at = message.indexOf(SUMMARY_PREFIX);
  if (at < 0) return undefined;
  try {
    const v = JSON.parse(message.slice(at + SUMMARY_PREFIX.length).trim()) as Record<string, unknown>;
    if (typeof v.applied !== 'boolean' || typeof v.reason !== 'string') return undefined;
    const out: OptimizationSummary = { applied: v.applied, reason: v.reason.slice(0, 128) };
    if (typeof v.message === 'string') out.message = v.message.slice(0, 1024);
    if (QUANTIZE_MODES.includes(v.quantize as QuantizeMode)) out.quantize = v.quantize as QuantizeMode;
    for (const k of ['originalBytes', 'optimizedBytes', 'speedup', 'maxAbsError', 'cosine'] as const) {
      const x = v[k];
      if (typeof x === 'number' && Number.isFinite(x) && x >= 0) out[k] = x;
    }
    return out;
  } catch {
    return undefined;
  }
}

/**
 * The optimised model in an output directory, when its report says the gate passed and the model is there;
 * otherwise undefined with the reason (the runtime then serves the original).
 */
export function optimizedModelIn(dir: string): { path?: string; report?: OptimizationReport; reason: string } {
  const reportPath = join(dir, REPORT_FILE);
  if (!existsSync(reportPath)) return { reason: 'NoReport' };
  let report: OptimizationReport;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8')) as OptimizationReport;
  } catch {
    return { reason: 'UnreadableReport' };
  }
  if (!report.applied) return { report, reason: report.reason };
  const model = join(dir, OPTIMIZED_MODEL_FILE);
  if (!existsSync(model)) return { report, reason: 'ModelMissing' };
  return { path: model, report, reason: 'Applied' };
}

export type MetadataParameters = Record<string, string | number | boolean>;

/**
 * Which file the runtime serves: the optimised model when `dir` holds one that passed the gate, else the original;
 * with the model metadata `parameters` that say which. No `dir` means no optimisation step and no parameters.
 */
export function chooseServedModel(original: string, dir: string | undefined): { file: string; parameters?: MetadataParameters } {
  if (!dir) return { file: original };
  const found = optimizedModelIn(dir);
  const r = found.report;
  const what = r ? [r.quantize, r.graphOptimization !== 'disabled' ? `graph-${r.graphOptimization}` : undefined].filter(Boolean).join('+') : '';
  if (found.path) {
    return {
      file: found.path,
      parameters: {
        optimized: true,
        optimization: what,
        optimization_reason: found.reason,
        ...(r?.speedup ? { optimization_speedup: r.speedup.batch1 } : {}),
        ...(r?.accuracy ? { optimization_max_abs_error: r.accuracy.maxAbsError, optimization_cosine: r.accuracy.cosine } : {}),
      },
    };
  }
  return { file: original, parameters: { optimized: false, ...(what ? { optimization: what } : {}), optimization_reason: found.reason } };
}
