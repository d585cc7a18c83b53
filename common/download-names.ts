// Where a model download lands in the fetch destination, one rule for `modelplane fetch` (which stores it) and for
// the operator and local mode (which tell `serve` where to find it).

import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const MODEL_FILE = 'model.onnx';

/**
 * Where the ONNX graph lies in a model directory, in the order looked for: at its top (Optimum's layout), or under
 * onnx/ (a transformers.js repository, with config.json and tokenizer.json at its top).
 */
export const MODEL_FILE_PLACES: readonly string[] = [MODEL_FILE, `onnx/${MODEL_FILE}`];

/** The first of MODEL_FILE_PLACES (paths relative to a model directory) for which `holds` is true. */
export function modelFilePlace(holds: (relativePath: string) => boolean): string | undefined {
  return MODEL_FILE_PLACES.find(holds);
}

/** The model file in directory `dir` on this machine (the first of MODEL_FILE_PLACES there), or undefined. */
export function modelFileIn(dir: string): string | undefined {
  const place = modelFilePlace((p) => existsSync(join(dir, p)));
  return place === undefined ? undefined : join(dir, place);
}

/** The archive formats `modelplane fetch` unpacks, told apart by the name's ending. */
export type ArchiveFormat = 'tar.gz' | 'tar' | 'zip';

/** An archive and the folder of the destination it unpacks into. */
export interface ArchiveLanding {
  archive: ArchiveFormat;
  dir: string;
}

/** A download stored under a file name, one that fills the destination directory (holding model.onnx), or an archive. */
export type DownloadLanding = { file: string } | { folder: true } | ArchiveLanding;

const ARCHIVE_ENDINGS: ReadonlyArray<[string, ArchiveFormat]> = [['.tar.gz', 'tar.gz'], ['.tgz', 'tar.gz'], ['.tar', 'tar'], ['.zip', 'zip']];
/** A folder name that is safe on every filesystem and never hidden. */
const DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The archive a file name ends in (.tar.gz, .tgz, .tar, .zip, any case), unpacked into a folder named for the rest of
 * it (`gpt2.tar.gz` unpacks into `gpt2`), or `model` when the rest is empty or not a portable name.
 */
export function archiveOfName(name: string): ArchiveLanding | undefined {
  const lower = name.toLowerCase();
  const hit = ARCHIVE_ENDINGS.find(([ending]) => lower.endsWith(ending));
  if (!hit) return undefined;
  const stem = name.slice(0, name.length - hit[0].length);
  return { archive: hit[1], dir: DIR_NAME.test(stem) ? stem : 'model' };
}

/** The last segment of any model URI's path: percent-decoded for http(s) and file, literal for s3 and pvc. */
function lastSegment(uri: string): string {
  if (/^(https?|file):\/\//i.test(uri)) {
    const last = new URL(uri).pathname.split('/').pop() ?? '';
    try {
      return decodeURIComponent(last);
    } catch {
      throw new Error(`URL path segment '${last}' is not valid percent-encoding`);
    }
  }
  return uri.replace(/^[a-z0-9]+:\/\/[^/]*\/?/i, '').split('/').pop() ?? '';
}

/** The archive a model URI names (https, s3, pvc or file alike), or undefined. */
export function archiveOfUri(uri: string): ArchiveLanding | undefined {
  try {
    return archiveOfName(lastSegment(uri));
  } catch {
    return undefined;
  }
}

/**
 * https/http: the URL's last path segment, percent-decoded (model.onnx when there is none). s3: the key's last
 * segment, literally (S3 keys are not percent-encoded), when it names an .onnx file; a key ending in `/`, or not
 * named .onnx, fills the directory: a prefix of objects, or a single object stored as model.onnx. A name ending in
 * an archive's extension is unpacked into a folder (archiveOfName). Throws when a URL segment is not valid
 * percent-encoding.
 */
export function downloadLanding(uri: string): DownloadLanding {
  const name = lastSegment(uri);
  const archive = archiveOfName(name);
  if (archive) return archive;
  if (/^https?:\/\//.test(uri)) return { file: name === '' ? MODEL_FILE : name };
  return name.endsWith('.onnx') ? { file: name } : { folder: true };
}
