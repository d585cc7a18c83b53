// pvc:// and file:// sources are used where they lie, never copied: a PersistentVolumeClaim is mounted
// into the pod at <MODELPLANE_PVC_ROOT>/<claim> (default /mnt/pvc/<claim>), a file:// path is local.
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FetchError } from './errors.js';
import { isInside } from '../common/paths.js';
import { MODEL_FILE, modelFileIn } from '../common/download-names.js';

export { MODEL_FILE };
import type { ModelSource } from './uri.js';

export const DEFAULT_PVC_ROOT = '/mnt/pvc';

export function pvcRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.MODELPLANE_PVC_ROOT || DEFAULT_PVC_ROOT;
}

/** Where a claim is mounted in the pod; the operator mounts it there (read-only) for pvc:// models. */
export function pvcMountPath(claim: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(pvcRoot(env), claim);
}


/** A few of a directory's entries, folders marked with '/', for a message saying what is there instead. */
async function listing(dir: string): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const shown = entries.sort((a, b) => (a.name < b.name ? -1 : 1)).slice(0, 8).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
  return shown.length === 0 ? 'nothing' : `${shown.join(', ')}${entries.length > 8 ? ', ...' : ''}`;
}

export interface InPlaceModel {
  /** What to load: the file, or the directory holding model.onnx (at its top or under onnx/). */
  modelPath: string;
  /** The file a sha256 applies to. */
  modelFile: string;
}

function statError(err: unknown, path: string): FetchError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FetchError('NotFound', `${path} does not exist`);
  if (code === 'EACCES' || code === 'EPERM') return new FetchError('AccessDenied', `${path} is not readable (${code})`);
  return new FetchError('IoError', `${path}: ${code ?? String(err)}`);
}

/** Checks an in-place source exists, stays inside its root (symlinks included) and holds a model. */
export async function resolveInPlace(source: Extract<ModelSource, { kind: 'pvc' | 'file' }>, env: NodeJS.ProcessEnv = process.env): Promise<InPlaceModel> {
  const root = source.kind === 'pvc' ? pvcMountPath(source.claim, env) : undefined;
  const path = source.kind === 'pvc' ? join(root as string, ...source.path.split('/').filter(Boolean)) : source.path;
  if (root !== undefined) {
    let realRoot: string;
    try {
      realRoot = await realpath(root);
    } catch (err) {
      const e = statError(err, root);
      throw e.reason === 'NotFound' ? new FetchError('NotFound', `claim ${source.kind === 'pvc' ? source.claim : ''} is not mounted at ${root}`) : e;
    }
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      throw statError(err, path);
    }
    if (!isInside(realRoot, real)) throw new FetchError('PathEscape', `${path} resolves to ${real}, outside the claim's mount ${realRoot}`);
  }
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw statError(err, path);
  }
  if (info.isFile()) return { modelPath: path, modelFile: path };
  if (!info.isDirectory()) throw new FetchError('NotFound', `${path} is neither a file nor a directory`);
  // At its top, else under onnx/ (a transformers.js repository).
  const modelFile = modelFileIn(path) ?? join(path, MODEL_FILE);
  try {
    if (!(await stat(modelFile)).isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
  } catch (err) {
    const e = statError(err, modelFile);
    throw e.reason === 'NotFound' ? new FetchError('NotFound', `directory ${path} holds no ${MODEL_FILE} at its top or under onnx/ (found: ${await listing(path)})`) : e;
  }
  if (root !== undefined) {
    const real = await realpath(modelFile).catch((err: unknown) => { throw statError(err, modelFile); });
    if (!isInside(await realpath(root), real)) throw new FetchError('PathEscape', `${modelFile} resolves outside the claim's mount`);
  }
  return { modelPath: path, modelFile };
}
