// How sample requests (spec.runtime.warmup, spec.optimization.samples) reach a runtime pod as the file that
// `serve --warmup` and `optimize --samples` read: a remote file is fetched by an init container next to the model
// into an emptyDir; a file:// path is read in place (it is in the image); inline inputs are written into an
// annotation of the pod template and mounted as a file through a downward API volume. Pure.
import type { ModelDeploymentSpec } from '../api/schema.js';

export type SampleSource = NonNullable<ModelDeploymentSpec['runtime']['warmup']>;
export type SampleRole = 'warmup' | 'samples';

/** Where fetched sample files go (an emptyDir, read-only to the runtime and the optimise step). */
export const SAMPLES_DIR = '/samples';
/** Where the downward API volume puts inline samples. */
export const INLINE_SAMPLES_DIR = '/etc/modelplane/samples';
export const SAMPLES_VOLUME = 'samples';
export const INLINE_SAMPLES_VOLUME = 'inline-samples';
/** The pod template annotation holding each role's inline samples, as the request body JSON. */
export const SAMPLE_ANNOTATIONS: Record<SampleRole, string> = {
  warmup: 'serving.modelplane.io/warmup-request',
  samples: 'serving.modelplane.io/optimization-samples-request',
};
/** The init container that fetches each role's remote sample file. */
export const SAMPLE_FETCH_CONTAINERS: Record<SampleRole, string> = { warmup: 'fetch-warmup', samples: 'fetch-samples' };

export interface SamplePlan {
  role: SampleRole;
  /** What `serve --warmup` / `optimize --samples` get. */
  path: string;
  /** A remote file: the fetch init container downloads `uri` into `dest`. */
  fetch?: { uri: string; dest: string };
  /** Inline inputs: the annotation that carries them and the file the downward API volume makes of it. */
  inline?: { annotation: string; body: string; file: string };
}

function lastSegment(path: string): string {
  const last = path.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * The name `modelplane fetch` gives a downloaded file: the URL's last path segment, percent-decoded, or the S3 key's
 * last segment as it is (an S3 key is not percent-encoded).
 */
export function fetchedFileName(uri: string): string {
  if (/^https?:\/\//.test(uri)) return lastSegment(new URL(uri).pathname);
  return uri.replace(/^s3:\/\/[^/]+\/?/, '').split('/').pop() ?? '';
}

/** The request body inline inputs stand for: one request, in the Open Inference Protocol JSON form. */
export function inlineRequestBody(inputs: NonNullable<SampleSource['inputs']>): string {
  return JSON.stringify({ inputs: inputs.map(({ name, datatype, shape, data }) => ({ name, datatype, shape, data })) });
}

export function planSamples(role: SampleRole, source: SampleSource): SamplePlan {
  if (source.inputs) {
    const file = `${role}.json`;
    return { role, path: `${INLINE_SAMPLES_DIR}/${file}`, inline: { annotation: SAMPLE_ANNOTATIONS[role], body: inlineRequestBody(source.inputs), file } };
  }
  const uri = source.uri!;
  if (uri.startsWith('file://')) return { role, path: decodeURIComponent(new URL(uri).pathname) };
  const dest = `${SAMPLES_DIR}/${role}`;
  return { role, path: `${dest}/${fetchedFileName(uri)}`, fetch: { uri, dest } };
}

/** The samples the optimise step compares on: spec.optimization.samples, else the warm-up samples. */
export function optimizationSamples(spec: ModelDeploymentSpec): SampleSource | undefined {
  return spec.optimization?.samples ?? spec.runtime.warmup;
}

/**
 * The sample plans a pod needs: the warm-up's, and the optimise step's when it has samples of its own (when it
 * takes the warm-up samples it reads the same file).
 */
export function podSamplePlans(spec: ModelDeploymentSpec): { warmup?: SamplePlan; samples?: SamplePlan; all: SamplePlan[] } {
  const warmup = spec.runtime.warmup ? planSamples('warmup', spec.runtime.warmup) : undefined;
  const own = spec.optimization?.samples;
  const samples = spec.optimization ? (own ? planSamples('samples', own) : warmup) : undefined;
  const all = [warmup, own ? samples : undefined].filter((p): p is SamplePlan => p !== undefined);
  return { warmup, samples, all };
}
