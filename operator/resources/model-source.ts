// How a model URI reaches the runtime container: downloaded and verified by the `modelplane fetch` init
// container into an emptyDir, read in place from a read-only PersistentVolumeClaim, or already in the image
// (file://). A sha256 on an in-place model is still checked by the init container before the runtime starts.

export const MODELS_DIR = '/models';
export const CREDENTIALS_DIR = '/var/run/secrets/modelplane/credentials';
const MODEL_FILE = 'model.onnx';

export interface ModelSourcePlan {
  kind: 'download' | 'pvc' | 'image';
  /** Whether the pod runs the `modelplane fetch` init container (downloads, or verifies sha256 in place). */
  fetch: boolean;
  /** The PVC to mount read-only, and where. */
  claim?: { name: string; mountPath: string };
  /** What `modelplane serve --model` gets: a file, or a directory holding model.onnx. */
  modelPath: string;
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
 * Where `modelplane fetch --dest /models` leaves the model: a URL under its last path segment (model.onnx
 * when there is none); an S3 key ending in `/`, or without an .onnx name, is a folder holding model.onnx.
 */
export function downloadedModelPath(uri: string): string {
  if (/^https?:\/\//.test(uri)) {
    const name = lastSegment(new URL(uri).pathname);
    return `${MODELS_DIR}/${name || MODEL_FILE}`;
  }
  const key = uri.replace(/^s3:\/\/[^/]+\/?/, '');
  if (key === '' || key.endsWith('/')) return MODELS_DIR;
  const name = lastSegment(key);
  return name.endsWith('.onnx') ? `${MODELS_DIR}/${name}` : MODELS_DIR;
}

export function planModelSource(uri: string, pvcRoot: string, sha256?: string): ModelSourcePlan {
  if (uri.startsWith('pvc://')) {
    const rest = uri.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    const mountPath = `${pvcRoot}/${name}`;
    return { kind: 'pvc', fetch: Boolean(sha256), claim: { name, mountPath }, modelPath: path ? `${mountPath}/${path}` : mountPath };
  }
  if (uri.startsWith('file://')) return { kind: 'image', fetch: Boolean(sha256), modelPath: uri.slice('file://'.length).replace(/(.)\/+$/, '$1') };
  return { kind: 'download', fetch: true, modelPath: downloadedModelPath(uri) };
}
