// Brings a ModelDeployment's model onto this machine with the runtime's own fetch code: file:// is verified and
// used in place; https, http and s3 are downloaded into the cache directory under a key made of the URI and the
// expected digest, so a verified copy is reused by later replicas and later runs; an archive (.tar.gz, .tgz, .tar,
// .zip), wherever it lies, is unpacked there into a folder named for it, which is what serve loads.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { fetchModel, isRemoteUri } from '../fetch/index.js';
import { failureLine } from '../fetch/command.js';
import type { ModelDeployment } from '../operator/api/schema.js';
import { inlineRequestBody, type SampleSource } from '../operator/resources/samples.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'modelplane', 'models');
}

/** The cache directory of one model: the same URI and digest always map to the same place. */
export function cacheKey(uri: string, sha256?: string): string {
  return createHash('sha256').update(`${uri}\n${sha256 ?? ''}`).digest('hex').slice(0, 32);
}

export class LocalModeError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/** The local path (file, or directory holding model.onnx and its tokenizer and config) that `modelplane serve --model` gets. */
export async function cacheModel(md: ModelDeployment, cacheDir: string, logger: Logger): Promise<string> {
  const { uri, sha256, credentialsSecret } = md.spec.model;
  if (uri.startsWith('pvc://')) {
    throw new LocalModeError('ModelFetchFailed', `${uri}: pvc:// names a PersistentVolumeClaim, which only a cluster has; use file:///absolute/path, https:// or s3:// in local mode`);
  }
  if (credentialsSecret && isRemoteUri(uri)) {
    logger.warn('local mode has no Secrets: credentials for the model come from the environment (AWS_* variables, the AWS SDK chain)', { modelDeployment: md.metadata.name, credentialsSecret });
  }
  const dest = join(cacheDir, cacheKey(uri, sha256));
  try {
    const { modelPath } = await fetchModel({ uri, dest, sha256, logger });
    return modelPath;
  } catch (err) {
    // The line the init container would write: the URI without its secrets, the reason code, the cause.
    throw new LocalModeError('ModelFetchFailed', failureLine(uri, err));
  }
}

/**
 * The local file of sample requests (spec.runtime.warmup, spec.optimization.samples) that `serve --warmup` and
 * `optimize --samples` read: inline inputs written into the cache as the request body they stand for, a file:// path
 * used in place, a remote file fetched into the cache with the model's fetch code.
 */
export async function cacheSamples(source: SampleSource, cacheDir: string, logger: Logger): Promise<string> {
  const dir = join(cacheDir, 'samples');
  if (source.inputs) {
    const body = inlineRequestBody(source.inputs);
    const file = join(dir, `${createHash('sha256').update(body).digest('hex').slice(0, 32)}.json`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, body);
    return file;
  }
  const uri = source.uri!;
  try {
    const { modelPath } = await fetchModel({ uri, dest: join(dir, cacheKey(uri)), logger });
    return modelPath;
  } catch (err) {
    throw new LocalModeError('ModelFetchFailed', failureLine(uri, err));
  }
}
