// The credentials directory: one file per key, exactly as Kubernetes mounts a Secret as a volume.
// Every file is optional; values are trimmed because Secrets written with `echo` end in a newline.
//
//   authorization          value of the HTTP Authorization header, e.g. "Bearer abc" (http/https only,
//                          and only sent to the URI's own origin, never after a cross-origin redirect)
//   AWS_ACCESS_KEY_ID      S3 access key; with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if temporary)
//   AWS_SECRET_ACCESS_KEY
//   AWS_SESSION_TOKEN
//   AWS_REGION             S3 region (default: AWS_REGION from the environment, else us-east-1)
//   AWS_ENDPOINT_URL       S3-compatible endpoint, e.g. http://minio.storage:9000
//   S3_FORCE_PATH_STYLE    "true" for path-style addressing (MinIO, Ceph, most S3-compatible stores)
//   ca.crt                 PEM bundle trusted in addition to the system CAs (https and S3 endpoints)
//
// Whatever the directory lacks falls back to the standard AWS environment variables and, for S3 keys,
// the SDK's default provider chain (web identity, instance metadata, ...).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FetchError } from './errors.js';

export interface S3Settings {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
}

export interface SourceCredentials {
  authorization?: string;
  s3: S3Settings;
  ca?: string;
}

export const CREDENTIAL_FILES = [
  'authorization', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_ENDPOINT_URL',
  'S3_FORCE_PATH_STYLE', 'ca.crt',
] as const;

export type CredentialFiles = Partial<Record<(typeof CREDENTIAL_FILES)[number], string>>;

function parseBool(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new FetchError('InvalidCredentials', `credentials: ${name} must be true or false, got '${value}'`);
}

/** Combines the directory's files with the environment; pure, so the precedence is tested as a table. */
export function resolveCredentials(files: CredentialFiles, env: NodeJS.ProcessEnv): SourceCredentials {
  const pick = (name: keyof CredentialFiles, ...envNames: string[]): string | undefined => {
    const fromFile = files[name];
    if (fromFile !== undefined && fromFile !== '') return fromFile;
    for (const e of envNames) if (env[e]) return env[e];
    return undefined;
  };
  const accessKeyId = files.AWS_ACCESS_KEY_ID || undefined;
  const secretAccessKey = files.AWS_SECRET_ACCESS_KEY || undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new FetchError('InvalidCredentials', 'credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be given together');
  }
  const endpoint = pick('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL');
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    throw new FetchError('InvalidCredentials', `credentials: AWS_ENDPOINT_URL must be an http(s) URL, got '${endpoint}'`);
  }
  const s3: S3Settings = {
    region: pick('AWS_REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    forcePathStyle: parseBool('S3_FORCE_PATH_STYLE', pick('S3_FORCE_PATH_STYLE', 'S3_FORCE_PATH_STYLE')) ?? false,
  };
  if (endpoint !== undefined) s3.endpoint = endpoint;
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    s3.accessKeyId = accessKeyId;
    s3.secretAccessKey = secretAccessKey;
    if (files.AWS_SESSION_TOKEN) s3.sessionToken = files.AWS_SESSION_TOKEN;
  }
  const creds: SourceCredentials = { s3 };
  if (files.authorization) creds.authorization = files.authorization;
  if (files['ca.crt']) creds.ca = files['ca.crt'];
  return creds;
}

/** Reads the known files from the directory (a missing directory is an error: the Secret did not mount). */
export function readCredentialFiles(dir: string): CredentialFiles {
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new FetchError('InvalidCredentials', `credentials directory ${dir} is not readable: ${(err as Error).message}`);
  }
  const files: CredentialFiles = {};
  for (const name of CREDENTIAL_FILES) {
    try {
      const raw = readFileSync(join(dir, name), 'utf8');
      files[name] = name === 'ca.crt' ? raw : raw.trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new FetchError('InvalidCredentials', `credentials file ${join(dir, name)} is not readable: ${(err as NodeJS.ErrnoException).code}`);
      }
    }
  }
  return files;
}

export function loadCredentials(dir: string | undefined, env: NodeJS.ProcessEnv = process.env): SourceCredentials {
  return resolveCredentials(dir === undefined ? {} : readCredentialFiles(dir), env);
}
