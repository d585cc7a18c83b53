// How a model URI reaches the runtime container: downloaded and verified by the `modelplane fetch` init
// container into an emptyDir, read in place from a read-only PersistentVolumeClaim, or already in the image
// (file://). A sha256 on an in-place model is still checked by the init container before the runtime starts. An
// archive (.tar.gz, .tgz, .tar, .zip) is always unpacked by the init container into the emptyDir, wherever it lies.

import { archiveOfUri, downloadLanding, MODEL_FILE, type DownloadLanding } from '../../common/download-names.js';

export const MODELS_DIR = '/models';
export const CREDENTIALS_DIR = '/var/run/secrets/modelplane/credentials';

export interface ModelSourcePlan {
  /** 'download': `modelplane fetch` writes the model into the emptyDir at MODELS_DIR (a download, or an unpacked archive). */
  kind: 'download' | 'pvc' | 'image';
  /** Whether the pod runs the `modelplane fetch` init container (downloads, or verifies sha256 in place). */
  fetch: boolean;
  /** The PVC to mount read-only, and where. */
  claim?: { name: string; mountPath: string };
  /** What `modelplane serve --model` gets: a file, or a directory holding model.onnx. */
  modelPath: string;
}

/**
 * Where `modelplane fetch --dest /models` leaves the model (common/download-names.ts): a file under its name, the
 * directory itself, holding model.onnx, or an archive's folder under /models. A URL whose last segment is not valid percent-encoding keeps it as written
 * (the fetch then fails, saying why).
 */
export function downloadedModelPath(uri: string): string {
  let landing: DownloadLanding;
  try {
    landing = downloadLanding(uri);
  } catch {
    landing = { file: new URL(uri).pathname.split('/').pop() || MODEL_FILE };
  }
  if ('file' in landing) return `${MODELS_DIR}/${landing.file}`;
  return 'archive' in landing ? `${MODELS_DIR}/${landing.dir}` : MODELS_DIR;
}

export function planModelSource(uri: string, pvcRoot: string, sha256?: string): ModelSourcePlan {
  const archive = archiveOfUri(uri);
  if (uri.startsWith('pvc://')) {
    const rest = uri.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    const mountPath = `${pvcRoot}/${name}`;
    // The archive is read from the claim and unpacked into the emptyDir.
    if (archive) return { kind: 'download', fetch: true, claim: { name, mountPath }, modelPath: `${MODELS_DIR}/${archive.dir}` };
    return { kind: 'pvc', fetch: Boolean(sha256), claim: { name, mountPath }, modelPath: path ? `${mountPath}/${path}` : mountPath };
  }
  if (uri.startsWith('file://') && archive) return { kind: 'download', fetch: true, modelPath: `${MODELS_DIR}/${archive.dir}` };
  if (uri.startsWith('file://')) return { kind: 'image', fetch: Boolean(sha256), modelPath: uri.slice('file://'.length).replace(/(.)\/+$/, '$1') };
  return { kind: 'download', fetch: true, modelPath: downloadedModelPath(uri) };
}
