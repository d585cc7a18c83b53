// Runs on the event-loop thread, for runs shorter than their hand-off: passing a run to a session worker and its
// answer back costs about 0.15 ms of CPU and of latency (two thread wake-ups and two messages), which is more
// than a small model takes to compute. The lane is a second onnxruntime session on this thread, with one
// intra-op thread. A run takes it only when predicted, from the warm-up, to stay within --inline-run-max-us, and
// runs that keep overrunning their prediction pause the lane, so probes, metrics and other requests are never held
// long. A model whose warm-up failed (generated inputs it refuses) gets its prediction from real requests instead:
// until a session worker's run of one shows a bound within the limit, every run goes to a worker.
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import ort from 'onnxruntime-node';
import { allTensors, externalFile, onnx, type GraphProto } from '../common/onnx-model.js';
import type { RunResult } from './worker-handle.js';
import type { InferRequest } from './request.js';
import type { InlineRunner } from './scheduler.js';
import { fromOrtTensor, toOrtTensor } from './ort-tensors.js';
import { elementCount } from './tensors.js';
import type { WireTensor } from './worker-protocol.js';

/** Model files larger than this are not loaded a second time (the lane's session holds its own weights). */
export const INLINE_MAX_MODEL_BYTES = 32 * 1024 * 1024;
/** Nor kept when the second session took more resident memory than this. */
export const INLINE_MAX_SESSION_BYTES = 64 * 1024 * 1024;
/** Runs with more input elements than this many times the warm-up's go to a session worker. */
export const INLINE_MAX_SIZE_FACTOR = 4;
/** A run that took this many times --inline-run-max-us overran its prediction; ... */
export const INLINE_OVERRUN_FACTOR = 4;
/** ... this many overruns within a window of runs (one alone is a thread descheduled, not the model) ... */
export const INLINE_OVERRUNS_TO_PAUSE = 3;
export const INLINE_OVERRUN_WINDOW = 100;
/** ... pause the lane for this many of the requests that follow. */
export const INLINE_PAUSE_RUNS = 1000;

/** Watches the lane's run times: runs that keep overrunning the limit pause the lane for a while. */
export class OverrunGuard {
  runs = 0;
  overruns = 0;
  private inWindow = 0;
  private paused = 0;

  constructor(private readonly maxUs: number) {}

  record(us: number): void {
    this.runs++;
    if (this.runs % INLINE_OVERRUN_WINDOW === 0) this.inWindow = 0;
    if (us <= this.maxUs * INLINE_OVERRUN_FACTOR) return;
    this.overruns++;
    if (++this.inWindow >= INLINE_OVERRUNS_TO_PAUSE) {
      this.inWindow = 0;
      this.paused = INLINE_PAUSE_RUNS;
    }
  }

  /** Whether the lane takes the next request; a paused lane counts the requests it lets go by. */
  allows(): boolean {
    if (this.paused === 0) return true;
    this.paused--;
    return false;
  }
}
/**
 * Warm-up runs on the lane's session: the first runs of a new session are slower and do not count, and of the rest
 * the quickest is the estimate (a busy machine only ever adds time to a run: a thread descheduled in the middle);
 * a model far over the limit stops after its first runs.
 */
const WARMUP_RUNS = 20;
const WARMUP_COUNTED = 10;
const WARMUP_GIVE_UP_FACTOR = 20;

/** Ops whose work depends on input values, not only on input sizes: a short warm-up says nothing of them. */
const CONTROL_FLOW_OPS = new Set(['Loop', 'Scan', 'If', 'SequenceMap']);
const VALUE_SIZED_OPS = new Set(['NonZero', 'Compress', 'Unique', 'NonMaxSuppression']);
/** Ops whose output size comes from their later inputs: fine when those are constants of the model. */
const SHAPE_INPUT_OPS = new Set(['Range', 'ConstantOfShape', 'Tile', 'Expand', 'Resize', 'Upsample', 'Pad', 'TopK', 'OneHot']);
/** Operator domains whose ops do work in proportion to their inputs (standard, ML and onnxruntime's own). */
const KNOWN_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft']);

/**
 * Why a graph's run time may not follow its input sizes (the first op that makes it so), or undefined when it
 * does: control flow, ops whose output size depends on values, shape inputs that are not constants of the
 * model, and ops of unknown domains.
 */
export function valueDependentOp(g: GraphProto): string | undefined {
  const constants = new Set<string>((g.initializer ?? []).map((t) => t.name ?? ''));
  for (const n of g.node ?? []) if (n.opType === 'Constant') for (const o of n.output ?? []) constants.add(o);
  for (const n of g.node ?? []) {
    const op = n.opType ?? '';
    const what = `${n.domain ? `${n.domain}.` : ''}${op}${n.name ? ` (${n.name})` : ''}`;
    if (!KNOWN_DOMAINS.has(n.domain ?? '')) return `${what}: an op of a custom domain`;
    if (CONTROL_FLOW_OPS.has(op) || (n.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length > 0)) return `${what}: control flow`;
    if (VALUE_SIZED_OPS.has(op)) return `${what}: its output size depends on input values`;
    if (SHAPE_INPUT_OPS.has(op)) {
      const shapeInputs = (op === 'Range' || op === 'ConstantOfShape' ? n.input ?? [] : (n.input ?? []).slice(1)).filter((i) => i !== '');
      if (shapeInputs.some((i) => !constants.has(i))) return `${what}: its output size comes from a model input`;
    }
  }
  return undefined;
}

/** The model file and the external data files it names, in bytes, and its graph (external data left unread). */
export function modelFacts(path: string): { bytes: number; graph: GraphProto } {
  const model = onnx.ModelProto.decode(readFileSync(path));
  if (!model.graph) throw new Error('the model has no graph');
  let bytes = statSync(path).size;
  const files = new Set<string>();
  for (const t of allTensors(model.graph)) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const file = externalFile(t, dirname(path));
    if (!files.has(file)) {
      files.add(file);
      bytes += statSync(file).size;
    }
  }
  return { bytes, graph: model.graph };
}

/**
 * What the lane's decisions rest on: the limit, and a measured run's time and size: the lane's own warm-up, or a
 * bound from a session worker's run of a real request (`from: 'requests'`).
 */
export interface InlinePlan {
  maxUs: number;
  warmupUs: number;
  warmupElements: number;
  from: 'warm-up' | 'requests';
}

/**
 * The plan a session worker's run of a request gives: `threads` intra-op threads can make a run at most that many
 * times quicker than one thread does, so one thread (the lane's) takes at most `threads` times as long.
 */
export function planFromWorkerRun(maxUs: number, elements: number, computeSeconds: number, threads: number): InlinePlan {
  return { maxUs, warmupUs: computeSeconds * 1e6 * Math.max(1, threads), warmupElements: Math.max(1, elements), from: 'requests' };
}

/**
 * Whether a run with this many input elements may run on the event loop: no larger than a few warm-ups, and
 * predicted (the warm-up's time, scaled up with the size) within the limit.
 */
export function inlineEligible(elements: number, plan: InlinePlan): boolean {
  if (plan.maxUs <= 0 || elements > plan.warmupElements * INLINE_MAX_SIZE_FACTOR) return false;
  return plan.warmupUs * Math.max(1, elements / Math.max(1, plan.warmupElements)) <= plan.maxUs;
}

/** Input elements of a request (BYTES elements count one each). */
export function requestElements(req: InferRequest): number {
  let n = 0;
  for (const input of req.inputs) n += elementCount(input.shape);
  return n;
}

function wireElements(inputs: readonly WireTensor[]): number {
  let n = 0;
  for (const t of inputs) n += elementCount(t.dims);
  return n;
}

/** One run on this thread, timed. */
async function runSession(session: ort.InferenceSession, inputs: WireTensor[]): Promise<RunResult> {
  const started = performance.now();
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) feeds[t.name] = toOrtTensor(t);
  const results = await session.run(feeds);
  const computeSeconds = (performance.now() - started) / 1000;
  return { outputs: Object.entries(results).map(([name, t]) => fromOrtTensor(name, t)), computeSeconds };
}

/** A lane with its plan, or with none yet (`plan` undefined: to be measured on real requests); or why there is no lane. */
/** Warm-up runs on the lane's own session (see WARMUP_RUNS): the quickest of the counted runs is the estimate. */
async function timeWarmup(session: ort.InferenceSession, maxUs: number, warmup: () => WireTensor[]): Promise<InlinePlan> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP_RUNS; i++) {
    times.push((await runSession(session, warmup())).computeSeconds * 1e6);
    if (i >= 2 && times[i] > maxUs * WARMUP_GIVE_UP_FACTOR) break;
  }
  return { maxUs, warmupUs: Math.min(...times.slice(-WARMUP_COUNTED)), warmupElements: wireElements(warmup()), from: 'warm-up' };
}

export type InlineLaneDecision =
  | { lane: InlineLane; plan?: InlinePlan }
  | { lane?: undefined; reason: string };

export interface InlineLaneOptions {
  modelPath: string;
  maxUs: number;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  /** The warm-up input the session workers ran; none when their warm-up failed. */
  warmup?: () => WireTensor[];
  /** Intra-op threads of a session worker, for the bound its runs give (planFromWorkerRun). */
  workerThreads: number;
  /** Told when a plan is made from real requests. */
  onPlan?: (plan: InlinePlan) => void;
}

export class InlineLane implements InlineRunner {
  /** Set while a run is on the event loop. */
  busy = false;
  readonly guard: OverrunGuard;

  private constructor(private readonly session: ort.InferenceSession, private current: InlinePlan | undefined, private readonly opts: Pick<InlineLaneOptions, 'maxUs' | 'workerThreads' | 'onPlan'>) {
    this.guard = new OverrunGuard(opts.maxUs);
  }

  /** What the lane decides on; undefined until a run was measured. */
  get plan(): InlinePlan | undefined {
    return this.current;
  }

  /**
   * The lane for this model, or why there is none. `warmup` is the input the session workers have already run, so
   * the model is known to load and run on it; without one (their warm-up failed) the lane waits for real requests.
   */
  static async create(opts: InlineLaneOptions): Promise<InlineLaneDecision> {
    if (opts.maxUs <= 0) return { reason: '--inline-run-max-us is 0' };
    const fileBytes = statSync(opts.modelPath).size;
    if (fileBytes > INLINE_MAX_MODEL_BYTES) return { reason: `the model file has ${fileBytes} bytes, more than ${INLINE_MAX_MODEL_BYTES}` };
    const facts = modelFacts(opts.modelPath);
    if (facts.bytes > INLINE_MAX_MODEL_BYTES) return { reason: `the model and its external data have ${facts.bytes} bytes, more than ${INLINE_MAX_MODEL_BYTES}` };
    const dependent = valueDependentOp(facts.graph);
    if (dependent) return { reason: `its run time may not follow its input sizes: ${dependent}` };
    const rssBefore = process.memoryUsage.rss();
    const session = await ort.InferenceSession.create(opts.modelPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: opts.graphOptimizationLevel,
      intraOpNumThreads: 1,
      logSeverityLevel: 3,
    });
    let plan: InlinePlan | undefined;
    try {
      plan = opts.warmup ? await timeWarmup(session, opts.maxUs, opts.warmup) : undefined;
    } catch (err) {
      await session.release();
      throw err;
    }
    const sessionBytes = process.memoryUsage.rss() - rssBefore;
    if (sessionBytes > INLINE_MAX_SESSION_BYTES) {
      await session.release();
      return { reason: `a second session took ${sessionBytes} bytes of memory, more than ${INLINE_MAX_SESSION_BYTES}` };
    }
    if (plan && !inlineEligible(plan.warmupElements, plan)) {
      await session.release();
      return { reason: `a warm-up run took ${plan.warmupUs.toFixed(0)} us, more than --inline-run-max-us ${plan.maxUs}` };
    }
    return { lane: new InlineLane(session, plan, opts), plan };
  }

  /** Whether this request runs here now (the lane is free, has a plan, is not paused, and the run is predicted short). */
  accepts(req: InferRequest): boolean {
    return !this.busy && this.current !== undefined && inlineEligible(requestElements(req), this.current) && this.guard.allows();
  }

  /**
   * A session worker ran this request alone in `computeSeconds`. While the lane has no plan, the first such run whose
   * bound (planFromWorkerRun) is within the limit becomes it.
   */
  observe(req: InferRequest, computeSeconds: number): void {
    if (this.current) return;
    const elements = requestElements(req);
    const plan = planFromWorkerRun(this.opts.maxUs, elements, computeSeconds, this.opts.workerThreads);
    if (!inlineEligible(elements, plan)) return;
    this.current = plan;
    this.opts.onPlan?.(plan);
  }

  /** Runs on this thread; the outputs are views on onnxruntime's buffers. */
  async run(inputs: WireTensor[]): Promise<RunResult> {
    const result = await runSession(this.session, inputs);
    this.guard.record(result.computeSeconds * 1e6);
    return result;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
