// Where a model download lands in the fetch destination, one rule for `modelplane fetch` (which stores it) and for
// the operator and local mode (which tell `serve` where to find it).

export const MODEL_FILE = 'model.onnx';

/** A download stored under a file name, or one that fills the destination directory (holding model.onnx). */
export type DownloadLanding = { file: string } | { folder: true };

/**
 * https/http: the URL's last path segment, percent-decoded (model.onnx when there is none). s3: the key's last
 * segment, literally (S3 keys are not percent-encoded), when it names an .onnx file; a key ending in `/`, or not
 * named .onnx, fills the directory: a prefix of objects, or a single object stored as model.onnx. Throws when a
 * URL segment is not valid percent-encoding.
 */
export function downloadLanding(uri: string): DownloadLanding {
  if (/^https?:\/\//.test(uri)) {
    const last = new URL(uri).pathname.split('/').pop() ?? '';
    let name: string;
    try {
      name = decodeURIComponent(last);
    } catch {
      throw new Error(`URL path segment '${last}' is not valid percent-encoding`);
    }
    return { file: name === '' ? MODEL_FILE : name };
  }
  const key = uri.replace(/^s3:\/\/[^/]+\/?/, '');
  const name = key.split('/').pop() ?? '';
  return name.endsWith('.onnx') ? { file: name } : { folder: true };
}
