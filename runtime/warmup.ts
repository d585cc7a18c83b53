// The warm-up before a model is ready: every instance runs the user's sample requests (--warmup), as Triton's
// model_warmup does, or else one run on generated inputs. A sample that fails stops the start: the user said the
// model takes it. Generated inputs are a guess (zeros, symbolic dimensions 1) that a model may rightly refuse (a
// reflect Pad wider than the input, a sample rate that must be 16000): that failure is reported, never a refusal,
// since the session loaded.
import { concatInputs } from './batching.js';
import { typeInfo } from './datatypes.js';
import type { InferRequest } from './request.js';
import type { SampleRequest } from './samples.js';
import { warmupShape, type ModelSignature } from './signature.js';
import { elementCount } from './tensors.js';
import type { WireTensor } from './worker-protocol.js';
import type { RunResult } from './worker-handle.js';

/** What the warm-up did, as the model metadata shows it (`warmup`). */
export interface WarmupReport {
  /** ok: every instance ran every input; failed: a run on generated inputs failed (the model is served all the same). */
  status: 'ok' | 'failed';
  /** samples: the requests of --warmup; generated: zeros with every symbolic dimension 1. */
  inputs: 'samples' | 'generated';
  /** With samples: how many requests each instance ran. */
  samples?: number;
  /** Why a run failed: onnxruntime's message. */
  message?: string;
}

/** A sample that failed: the start fails with it (ModelLoadFailed). */
export class WarmupSampleFailed extends Error {}

/** Zero-filled inputs with every symbolic dimension 1 (empty strings for BYTES). */
export function generatedInputs(sig: ModelSignature): WireTensor[] {
  return sig.inputs.map((t) => {
    const dims = warmupShape(t);
    const n = elementCount(dims);
    if (t.datatype === 'BYTES') return { name: t.name, ortType: t.ortType, dims, strings: new Array(n).fill('') };
    return { name: t.name, ortType: t.ortType, dims, buffer: new ArrayBuffer(n * typeInfo(t.datatype).size) };
  });
}

/**
 * A sample request's inputs, copied into a buffer of their own each time: a run hands its buffer over to the worker,
 * and the sample is run again (by every instance, and by the event-loop lane).
 */
export function sampleInputs(req: InferRequest, sig: ModelSignature): WireTensor[] {
  const kept: InferRequest = { ...req, inputs: req.inputs.map((x) => ({ ...x, payload: 'bytes' in x.payload ? { bytes: x.payload.bytes } : x.payload })) };
  return concatInputs([kept], sig);
}

type Runner = { run(inputs: WireTensor[]): Promise<RunResult> };

/**
 * Warms every instance up. With samples, each instance runs each of them in order and a failure throws
 * WarmupSampleFailed naming the sample; without, each runs the generated inputs once and a failure is returned.
 * `failed` is told of every failed run.
 */
export async function warmUp(runners: readonly Runner[], sig: ModelSignature, samples: readonly SampleRequest[] | undefined, failed: () => void = () => {}): Promise<WarmupReport> {
  if (samples) {
    await Promise.all(runners.map(async (runner) => {
      for (const s of samples) {
        try {
          await runner.run(sampleInputs(s.request, sig));
        } catch (err) {
          failed();
          throw new WarmupSampleFailed(`warm-up sample ${s.where} failed: ${(err as Error).message}`);
        }
      }
    }));
    return { status: 'ok', inputs: 'samples', samples: samples.length };
  }
  const errors = await Promise.all(runners.map((runner) => runner.run(generatedInputs(sig)).then(() => undefined, (err: Error) => {
    failed();
    return err.message;
  })));
  const message = errors.find((e) => e !== undefined);
  return message === undefined ? { status: 'ok', inputs: 'generated' } : { status: 'failed', inputs: 'generated', message };
}

/** The inputs the event-loop lane times itself on: what the instances ran, when it ran; none after a failure. */
export function laneWarmupInputs(report: WarmupReport, sig: ModelSignature, samples: readonly SampleRequest[] | undefined): (() => WireTensor[]) | undefined {
  if (report.status !== 'ok') return undefined;
  return samples ? () => sampleInputs(samples[0].request, sig) : () => generatedInputs(sig);
}
