// `fetchModel`: bring a model from its URI to a local path that the runtime can load, verified.
// http(s) and s3 are downloaded into `dest`; pvc and file are checked and used in place; an archive (.tar.gz, .tgz,
// .tar, .zip) from any of them is verified and unpacked into a folder of `dest` (archive.ts).
import { mkdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import { loadCredentials, type SourceCredentials } from './credentials.js';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './archive-entries.js';
import { installArchive } from './archive.js';
import { FetchError } from './errors.js';
import { httpSource } from './http.js';
import {
  checksumMismatch, commitFile, MANIFEST_NAME, manifestStillHolds, parseSha256, readManifest, removeQuietly, sha256File,
  tempPathFor, writeManifest, type Manifest,
} from './integrity.js';
import { MODEL_FILE, resolveInPlace } from './local.js';
import { isInside } from '../common/paths.js';
import { archiveOfUri, downloadLanding, modelFilePlace, type ArchiveLanding, type DownloadLanding } from '../common/download-names.js';
import { DEFAULT_RETRY, type RetryHooks, type RetryPolicy } from './retry.js';
import type { S3ObjectInfo } from './s3.js';
import { downloadToTemp, type RangeSource, type TransferSettings } from './transfer.js';
import { parseModelUri, redactUri, type ModelSource } from './uri.js';

export { FetchError, exitCodeFor, FETCH_REASONS, type FetchReason } from './errors.js';
export { isModelUri, isRemoteUri, parseModelUri, redactUri } from './uri.js';
export { DEFAULT_PVC_ROOT, pvcMountPath } from './local.js';

export interface FetchModelOptions {
  uri: string;
  /** Directory downloads go to (created if missing); unused for pvc:// and file://. */
  dest: string;
  /** Expected digest of the single file, of model.onnx for a prefix or directory, or of the archive's bytes. */
  sha256?: string;
  /** A mounted Secret: see credentials.ts for the file names. */
  credentialsDir?: string;
  logger: Logger;
}

export interface FetchModelResult {
  /** The file to load, or the directory holding model.onnx (and the files beside it: tokenizer, config, weights). */
  modelPath: string;
  /** False when the model was used in place or an already verified copy was reused. */
  downloaded: boolean;
}

export interface FetchTuning {
  retry: RetryPolicy;
  retryHooks?: RetryHooks;
  connectTimeoutMs: number;
  /** Wait for response headers once connected. */
  responseTimeoutMs: number;
  /** Wait for the next body bytes. */
  idleTimeoutMs: number;
  progressIntervalMs: number;
  maxRedirects: number;
  /** What an archive may unpack to (zip and gzip bombs are refused by these). */
  archiveLimits: ArchiveLimits;
  env: NodeJS.ProcessEnv;
}

export const DEFAULT_TUNING: FetchTuning = {
  retry: DEFAULT_RETRY,
  connectTimeoutMs: 10_000,
  responseTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  progressIntervalMs: 5_000,
  maxRedirects: 10,
  archiveLimits: DEFAULT_ARCHIVE_LIMITS,
  env: process.env,
};

export async function fetchModel(opts: { uri: string; dest: string; sha256?: string; credentialsDir?: string; logger: Logger }): Promise<{ modelPath: string; downloaded: boolean }> {
  return fetchModelWith(opts, {});
}

/** An object name below a prefix as a safe relative path, or PathEscape. */
export function safeRelativePath(name: string): string {
  const segments = name.split('/');
  if (
    name === '' || name.startsWith('/') || /^[a-zA-Z]:/.test(name) || name.includes('\\') || name.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new FetchError('PathEscape', `object name '${name}' would escape the destination directory`);
  }
  if (name === MANIFEST_NAME) throw new FetchError('PathEscape', `object name '${name}' is reserved`);
  return name;
}

/** The file name a URL's download is stored under (common/download-names.ts), as a safe relative path. */
export function fileNameForUrl(url: URL): string {
  let landing: DownloadLanding;
  try {
    landing = downloadLanding(url.href);
  } catch (err) {
    throw new FetchError('InvalidUri', (err as Error).message);
  }
  return safeRelativePath('file' in landing ? landing.file : MODEL_FILE);
}

export async function fetchModelWith(opts: FetchModelOptions, tuning: Partial<FetchTuning>): Promise<FetchModelResult> {
  const t: FetchTuning = { ...DEFAULT_TUNING, ...tuning };
  const source = parseModelUri(opts.uri);
  const expected = opts.sha256 === undefined || opts.sha256 === '' ? undefined : parseSha256(opts.sha256);
  const label = redactUri(opts.uri);
  const archive = archiveOfUri(opts.uri);
  const ctx: FetchContext = { opts, t, expected, label, limits: archiveLimits(t) };
  if (source.kind === 'pvc' || source.kind === 'file') {
    if (!archive) return useInPlace(ctx, source);
    const dest = await prepareDest(opts.dest);
    return oneAtATime(dest, () => fetchLocalArchive(ctx, dest, source, archive));
  }
  const dest = await prepareDest(opts.dest);
  return oneAtATime(dest, () => fetchRemote(ctx, dest, source, archive));
}

const inFlight = new Map<string, Promise<unknown>>();

/**
 * Runs fetches into one destination one after the other within this process (local mode may ask twice for the same
 * model): the second finds the first's manifest and reuses its files instead of racing it for the same names.
 */
async function oneAtATime<T>(dest: string, work: () => Promise<T>): Promise<T> {
  const run = (inFlight.get(dest) ?? Promise.resolve()).catch(() => undefined).then(work);
  inFlight.set(dest, run);
  try {
    return await run;
  } finally {
    if (inFlight.get(dest) === run) inFlight.delete(dest);
  }
}

async function fetchRemote(ctx: FetchContext, dest: string, source: Extract<ModelSource, { kind: 'http' | 's3' }>, archive: ArchiveLanding | undefined): Promise<FetchModelResult> {
  const { opts, t, label, expected } = ctx;
  const manifest = await readManifest(dest);
  if (manifest?.source === label && (await manifestStillHolds(dest, manifest, expected))) {
    const modelPath = manifest.modelPath === '.' ? dest : join(dest, ...manifest.modelPath.split('/'));
    opts.logger.info('reusing the verified model already in the destination', { source: label, modelPath });
    return { modelPath, downloaded: false };
  }
  // From here the destination changes; a manifest describing older contents must not outlive that.
  await removeQuietly(join(dest, MANIFEST_NAME));
  const creds = loadCredentials(opts.credentialsDir, t.env);
  const settings: TransferSettings = {
    retry: t.retry,
    idleTimeoutMs: t.idleTimeoutMs,
    progressIntervalMs: t.progressIntervalMs,
    ...(t.retryHooks !== undefined ? { retryHooks: t.retryHooks } : {}),
  };
  const job = new Download(dest, label, expected, opts.logger, settings, ctx.limits);
  opts.logger.info('fetching model', { source: label, dest, sha256: expected ?? null });
  if (source.kind === 'http') return fetchHttp(job, source.url, creds, t, archive);
  return fetchS3(job, source, opts.uri, creds, t, archive);
}

interface FetchContext {
  opts: FetchModelOptions;
  t: FetchTuning;
  expected: string | undefined;
  label: string;
  limits: ArchiveLimits;
}

/** The archive limits, with MODELPLANE_MAX_UNPACKED_BYTES in place of the absolute one when it is set. */
export function archiveLimits(t: Pick<FetchTuning, 'archiveLimits' | 'env'>): ArchiveLimits {
  const raw = t.env.MODELPLANE_MAX_UNPACKED_BYTES;
  if (raw === undefined || raw === '') return t.archiveLimits;
  if (!/^[1-9][0-9]*$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) {
    throw new FetchError('InvalidArgument', `MODELPLANE_MAX_UNPACKED_BYTES must be a positive whole number of bytes, got '${raw}'`);
  }
  return { ...t.archiveLimits, maxBytes: Number(raw) };
}

async function prepareDest(given: string): Promise<string> {
  if (typeof given !== 'string' || given === '') throw new FetchError('InvalidArgument', 'a destination directory is required for a remote model or an archive');
  const dest = resolve(given);
  try {
    await mkdir(dest, { recursive: true });
  } catch (err) {
    throw new FetchError('IoError', `cannot create the destination ${dest}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return dest;
}

/** pvc:// and file:// models are checked and used where they lie. */
async function useInPlace(ctx: FetchContext, source: Extract<ModelSource, { kind: 'pvc' | 'file' }>): Promise<FetchModelResult> {
  const local = await resolveInPlace(source, ctx.t.env);
  if (ctx.expected !== undefined) {
    const actual = await sha256File(local.modelFile);
    // Not ours to delete: the file stays, the fetch fails.
    if (actual !== ctx.expected) throw checksumMismatch(local.modelFile, ctx.expected, actual);
  }
  ctx.opts.logger.info('model used in place', { source: ctx.label, modelPath: local.modelPath, verified: ctx.expected !== undefined });
  return { modelPath: local.modelPath, downloaded: false };
}

/** An archive on a claim or on disk: read in place, verified, unpacked into the destination (or reused from it). */
async function fetchLocalArchive(ctx: FetchContext, dest: string, source: Extract<ModelSource, { kind: 'pvc' | 'file' }>, archive: ArchiveLanding): Promise<FetchModelResult> {
  const { label, logger } = { ...ctx, logger: ctx.opts.logger };
  const local = await resolveInPlace(source, ctx.t.env);
  if (local.modelPath !== local.modelFile) throw new FetchError('NotFound', `${local.modelPath} is a directory, not a .${archive.archive} archive`);
  const actual = await sha256File(local.modelFile);
  if (ctx.expected !== undefined && actual !== ctx.expected) throw checksumMismatch(local.modelFile, ctx.expected, actual);
  const manifest = await readManifest(dest);
  // The archive's own digest decides: the same path with new contents is unpacked again.
  if (manifest?.source === label && manifest.archive?.sha256 === actual && (await manifestStillHolds(dest, manifest))) {
    const modelPath = join(dest, ...manifest.modelPath.split('/'));
    logger.info('reusing the verified model already in the destination', { source: label, modelPath });
    return { modelPath, downloaded: false };
  }
  await removeQuietly(join(dest, MANIFEST_NAME));
  const modelPath = await installArchive({ archive: local.modelFile, format: archive.archive, dest, dir: archive.dir, label, archiveSha256: actual, limits: ctx.limits, logger });
  return { modelPath, downloaded: true };
}

async function fetchHttp(job: Download, url: URL, creds: SourceCredentials, t: FetchTuning, archive: ArchiveLanding | undefined): Promise<FetchModelResult> {
  const src = httpSource(url, {
    connectTimeoutMs: t.connectTimeoutMs,
    responseTimeoutMs: t.responseTimeoutMs,
    maxRedirects: t.maxRedirects,
    ...(creds.authorization !== undefined ? { authorization: creds.authorization } : {}),
    ...(creds.ca !== undefined ? { ca: creds.ca } : {}),
  });
  if (archive) return job.archive(src, archive);
  const name = fileNameForUrl(url);
  return (await job.reuseVerifiedFile(name)) ?? job.single(src, name);
}

async function fetchS3(
  job: Download, source: Extract<ModelSource, { kind: 's3' }>, uri: string, creds: SourceCredentials, t: FetchTuning, archive: ArchiveLanding | undefined,
): Promise<FetchModelResult> {
  // The AWS SDK is large; http(s) fetches never load it.
  const { createS3Client, headObject, listObjects, s3ObjectSource } = await import('./s3.js');
  const client = createS3Client({
    settings: creds.s3,
    connectTimeoutMs: t.connectTimeoutMs,
    responseTimeoutMs: t.responseTimeoutMs,
    ...(creds.ca !== undefined ? { ca: creds.ca } : {}),
  });
  try {
    const { bucket, key } = source;
    let prefix = key;
    if (key !== '' && !key.endsWith('/')) {
      if (archive) {
        if (!(await headObject(client, bucket, key))) throw new FetchError('NotFound', `no object '${key}' in bucket ${bucket}`);
        return await job.archive(s3ObjectSource(client, bucket, key), archive);
      }
      // A key named .onnx lands under its name; any other single object fills the directory as model.onnx.
      const landing = downloadLanding(uri);
      const name = safeRelativePath('file' in landing ? landing.file : MODEL_FILE);
      const reused = await job.reuseVerifiedFile(name);
      if (reused) return reused;
      if (await headObject(client, bucket, key)) return await job.single(s3ObjectSource(client, bucket, key), name);
      // s3://bucket/resnet may name a "folder" of objects as well as one object.
      prefix = `${key}/`;
    }
    const objects = await listObjects(client, bucket, prefix);
    if (objects.length === 0) throw new FetchError('NotFound', `no object or prefix ${key === prefix ? `'${prefix}'` : `'${key}'`} in bucket ${bucket}`);
    return await job.prefix(objects, prefix, (o) => s3ObjectSource(client, bucket, o.key));
  } finally {
    client.destroy();
  }
}

interface Staged {
  rel: string;
  temp: string;
  final: string;
  bytes: number;
  sha256: string;
}

/** One download into one destination: single file or a set of objects, committed only when verified. */
class Download {
  constructor(
    private readonly dest: string,
    private readonly label: string,
    private readonly expected: string | undefined,
    private readonly logger: Logger,
    private readonly settings: TransferSettings,
    private readonly limits: ArchiveLimits,
  ) {}

  private finalPath(rel: string): string {
    const final = join(this.dest, ...rel.split('/'));
    if (!isInside(this.dest, final) || isAbsolute(rel)) throw new FetchError('PathEscape', `'${rel}' would escape the destination directory`);
    return final;
  }

  /** A file already at the final name whose digest is the expected one needs no download. */
  async reuseVerifiedFile(rel: string): Promise<FetchModelResult | undefined> {
    if (this.expected === undefined) return undefined;
    const final = this.finalPath(rel);
    const info = await stat(final).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const actual = await sha256File(final);
    if (actual !== this.expected) {
      this.logger.info('destination holds a different file; downloading again', { source: this.label, path: final, sha256: actual });
      return undefined;
    }
    await this.record(rel, [{ rel, final, temp: '', bytes: info.size, sha256: actual }]);
    this.logger.info('reusing the verified model already in the destination', { source: this.label, modelPath: final });
    return { modelPath: final, downloaded: false };
  }

  async single(src: RangeSource, rel: string): Promise<FetchModelResult> {
    const staged = await this.stage(src, rel, true);
    await this.commit([staged]);
    await this.record(rel, [staged]);
    this.logger.info('model ready', { source: this.label, modelPath: staged.final, files: 1 });
    return { modelPath: staged.final, downloaded: true };
  }

  /** Downloads the archive beside the destination, verifies it, unpacks it into its folder, and drops it. */
  async archive(src: RangeSource, landing: ArchiveLanding): Promise<FetchModelResult> {
    const temp = join(this.dest, `.${landing.dir}.${landing.archive}.partial`);
    const result = await downloadToTemp(src, temp, this.logger, this.settings);
    try {
      if (this.expected !== undefined && result.sha256 !== this.expected) throw checksumMismatch(src.label, this.expected, result.sha256);
      const modelPath = await installArchive({
        archive: temp, format: landing.archive, dest: this.dest, dir: landing.dir, label: this.label, archiveSha256: result.sha256, limits: this.limits, logger: this.logger,
      });
      return { modelPath, downloaded: true };
    } finally {
      await removeQuietly(temp);
    }
  }

  async prefix<T extends S3ObjectInfo>(objects: T[], prefix: string, sourceFor: (o: T) => RangeSource): Promise<FetchModelResult> {
    // Every name is checked before the first byte is written.
    const entries = objects.map((o) => ({ object: o, rel: safeRelativePath(o.key.slice(prefix.length)) }));
    // model.onnx directly under the prefix, else under its onnx/ (a transformers.js repository).
    const model = modelFilePlace((p) => entries.some((e) => e.rel === p));
    if (model === undefined) {
      const found = entries.slice(0, 5).map((e) => e.rel).join(', ');
      throw new FetchError('NotFound', `no ${MODEL_FILE} directly under the prefix nor under its onnx/ (found: ${found}${entries.length > 5 ? ', ...' : ''})`);
    }
    // The model file first: a checksum mismatch should fail before gigabytes of external data arrive.
    entries.sort((a, b) => Number(b.rel === model) - Number(a.rel === model));
    const staged: Staged[] = [];
    try {
      for (const e of entries) staged.push(await this.stage(sourceFor(e.object), e.rel, e.rel === model));
    } catch (err) {
      await Promise.all(staged.map((s) => removeQuietly(s.temp)));
      throw err;
    }
    // model.onnx last: it only appears once everything it refers to is in place.
    await this.commit(staged.slice(1).concat(staged.slice(0, 1)));
    await this.record('.', staged);
    this.logger.info('model ready', { source: this.label, modelPath: this.dest, files: staged.length });
    return { modelPath: this.dest, downloaded: true };
  }

  /** Downloads to the temporary name; `verify` marks the file the expected digest applies to. */
  private async stage(src: RangeSource, rel: string, verify: boolean): Promise<Staged> {
    const final = this.finalPath(rel);
    const temp = tempPathFor(final);
    const result = await downloadToTemp(src, temp, this.logger, this.settings);
    if (verify && this.expected !== undefined && result.sha256 !== this.expected) {
      await removeQuietly(temp);
      throw checksumMismatch(rel, this.expected, result.sha256);
    }
    return { rel, temp, final, bytes: result.bytes, sha256: result.sha256 };
  }

  private async commit(staged: Staged[]): Promise<void> {
    for (const s of staged) await commitFile(s.temp, s.final);
  }

  private async record(modelPath: string, staged: Staged[]): Promise<void> {
    const manifest: Manifest = {
      source: this.label,
      modelPath,
      files: staged.map((s) => ({ path: s.rel, bytes: s.bytes, sha256: s.sha256 })),
    };
    await writeManifest(this.dest, manifest);
  }
}
