// How a model URI reaches the runtime container: downloaded by an init container into an emptyDir,
// mounted read-only from a PersistentVolumeClaim, or already in the image (file://).

export const MODELS_DIR = '/models';
export const CREDENTIALS_DIR = '/var/run/secrets/modelplane/credentials';

export type ModelSourcePlan =
  | { kind: 'fetch'; uri: string; modelPath: string }
  | { kind: 'pvc'; claim: string; mountPath: string; modelPath: string }
  | { kind: 'image'; modelPath: string };

export function planModelSource(uri: string, pvcRoot: string): ModelSourcePlan {
  if (uri.startsWith('pvc://')) {
    const rest = uri.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const claim = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+/, '');
    const mountPath = `${pvcRoot}/${claim}`;
    return { kind: 'pvc', claim, mountPath, modelPath: path ? `${mountPath}/${path}` : mountPath };
  }
  if (uri.startsWith('file://')) return { kind: 'image', modelPath: uri.slice('file://'.length) };
  // `modelplane fetch` writes the model into the directory as model.onnx beside its external-data files,
  // and `modelplane serve` accepts that directory.
  return { kind: 'fetch', uri, modelPath: MODELS_DIR };
}
