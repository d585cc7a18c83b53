// Integrity: a model reaches its final name only complete and verified. Downloads go to a hidden
// temporary name beside it and are renamed into place (atomic within one filesystem); a manifest
// written last records what a destination holds, so a restarted pod reuses it instead of downloading.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FetchError } from './errors.js';
import { MODEL_FILE, modelFilePlace } from '../common/download-names.js';

export const SHA256_HEX = /^[0-9a-f]{64}$/;
export const MANIFEST_NAME = '.modelplane-fetch.json';

/** Normalizes a user-given digest (hex, any case, optional "sha256:" prefix) or explains why it is not one. */
export function parseSha256(value: string): string {
  const hex = value.trim().toLowerCase().replace(/^sha256:/, '');
  if (!SHA256_HEX.test(hex)) throw new FetchError('InvalidArgument', `sha256 must be 64 hexadecimal characters, got '${value}'`);
  return hex;
}

export function tempPathFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.partial`);
}

/** Feeds the first `length` bytes of a file into a hash (to continue hashing a resumed download). */
export async function hashFilePrefix(path: string, length: number, hash: Hash = createHash('sha256')): Promise<Hash> {
  if (length > 0) {
    await pipeline(createReadStream(path, { start: 0, end: length - 1 }), async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) hash.update(chunk);
    });
  }
  return hash;
}

export async function sha256File(path: string): Promise<string> {
  const { size } = await stat(path);
  return (await hashFilePrefix(path, size)).digest('hex');
}

export function checksumMismatch(what: string, expected: string, actual: string): FetchError {
  return new FetchError('ChecksumMismatch', `sha256 mismatch for ${what}: expected ${expected}, got ${actual}`);
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => undefined);
}

export async function commitFile(tempPath: string, finalPath: string): Promise<void> {
  try {
    await rename(tempPath, finalPath);
  } catch (err) {
    throw new FetchError('IoError', `cannot move the verified download into place at ${finalPath}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

export interface ManifestFile {
  /** Relative to the destination directory, '/'-separated. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  /** The URI with secrets redacted: presigned URLs for the same object still match. */
  source: string;
  /** Relative path of what to load: a file, '.' for the destination directory, or an archive's folder. */
  modelPath: string;
  /** For an unpacked archive: the archive's digest and size (what a sha256 applies to). */
  archive?: { sha256: string; bytes: number };
  files: ManifestFile[];
}

export async function readManifest(dest: string): Promise<Manifest | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(dest, MANIFEST_NAME), 'utf8')) as Manifest;
    if (typeof parsed.source !== 'string' || typeof parsed.modelPath !== 'string' || !Array.isArray(parsed.files)) return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

export async function writeManifest(dest: string, manifest: Manifest): Promise<void> {
  const path = join(dest, MANIFEST_NAME);
  await writeFile(`${path}.partial`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${path}.partial`, path);
}

/**
 * True when every file the manifest lists is still there with its recorded size and digest, and the
 * model file (or the archive it was unpacked from) matches `expectedSha256` when one is asked for. Every byte is re-hashed: cheaper than a
 * download, and a truncated or tampered file must never be served.
 */
export async function manifestStillHolds(dest: string, manifest: Manifest, expectedSha256?: string): Promise<boolean> {
  const modelFile = manifest.modelPath === '.' ? modelFilePlace((p) => manifest.files.some((f) => f.path === p)) ?? MODEL_FILE : manifest.modelPath;
  if (manifest.files.length === 0) return false;
  if (expectedSha256 !== undefined) {
    const digest = manifest.archive !== undefined ? manifest.archive.sha256 : manifest.files.find((f) => f.path === modelFile)?.sha256;
    if (digest !== expectedSha256) return false;
  }
  for (const file of manifest.files) {
    const path = join(dest, ...file.path.split('/'));
    try {
      if ((await stat(path)).size !== file.bytes) return false;
      if ((await sha256File(path)) !== file.sha256) return false;
    } catch {
      return false;
    }
  }
  return true;
}
