// Model URIs: what the user may write in spec.model.uri and `--uri`, parsed into a source to fetch from.
import { fileURLToPath } from 'node:url';
import { FetchError } from './errors.js';

export type ModelSource =
  | { kind: 'http'; url: URL }
  /** A key ending in `/` (or empty) is a prefix: every object under it is fetched. */
  | { kind: 's3'; bucket: string; key: string }
  /** `path` is relative to the claim's mount root; empty means the root itself. */
  | { kind: 'pvc'; claim: string; path: string }
  | { kind: 'file'; path: string };

export const SUPPORTED_SCHEMES = ['https', 'http', 's3', 'pvc', 'file'] as const;

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;
// A PersistentVolumeClaim name is a DNS-1123 subdomain.
const CLAIM = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The scheme of a URI (lower case), or undefined for a plain path. */
export function uriScheme(uri: string): string | undefined {
  return SCHEME.exec(uri)?.[1]?.toLowerCase();
}

/** True when the URI needs a download (http, https, s3); pvc:// and file:// are used in place. */
export function isRemoteUri(uri: string): boolean {
  const scheme = uriScheme(uri);
  return scheme === 'http' || scheme === 'https' || scheme === 's3';
}

/** True for any URI form fetchModel understands, remote or in place; false for a plain path. */
export function isModelUri(uri: string): boolean {
  const scheme = uriScheme(uri);
  return scheme !== undefined && (SUPPORTED_SCHEMES as readonly string[]).includes(scheme);
}

function invalid(why: string): FetchError {
  return new FetchError('InvalidUri', `invalid model URI: ${why}`);
}

function refuseDotSegments(path: string, what: string): void {
  if (path.split('/').some((s) => s === '..' || s === '.')) {
    throw new FetchError('PathEscape', `invalid model URI: ${what} must not contain '.' or '..' segments`);
  }
}

export function parseModelUri(uri: string): ModelSource {
  if (typeof uri !== 'string' || uri.trim() === '') throw new FetchError('InvalidUri', 'invalid model URI: empty');
  if (/\s/.test(uri)) throw invalid('contains whitespace');
  const scheme = uriScheme(uri);
  if (scheme === undefined) throw invalid(`no scheme; expected one of ${SUPPORTED_SCHEMES.map((s) => `${s}://`).join(', ')}`);
  const rest = uri.slice(scheme.length + 3);
  switch (scheme) {
    case 'http':
    case 'https': {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        throw invalid('not a valid URL');
      }
      if (url.hostname === '') throw invalid('no host');
      return { kind: 'http', url };
    }
    case 's3': {
      const slash = rest.indexOf('/');
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      const key = slash < 0 ? '' : rest.slice(slash + 1);
      if (!BUCKET.test(bucket)) throw invalid(`bucket '${bucket}' is not a valid bucket name (3-63 lower-case letters, digits, '.', '-')`);
      if (key.startsWith('/')) throw new FetchError('PathEscape', 'invalid model URI: the key must not start with \'/\'');
      refuseDotSegments(key, 'the key');
      return { kind: 's3', bucket, key };
    }
    case 'pvc': {
      const slash = rest.indexOf('/');
      const claim = slash < 0 ? rest : rest.slice(0, slash);
      const path = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/\/+$/, '');
      if (claim.length > 253 || !CLAIM.test(claim)) throw invalid(`claim '${claim}' is not a valid PersistentVolumeClaim name`);
      if (path.startsWith('/')) throw new FetchError('PathEscape', 'invalid model URI: the path inside the claim must be relative');
      refuseDotSegments(path, 'the path');
      return { kind: 'pvc', claim, path };
    }
    case 'file': {
      if (!rest.startsWith('/')) throw invalid('expected file:///absolute/path (no host)');
      // Checked before URL parsing, which would silently resolve '..' away.
      refuseDotSegments(rest, 'the path');
      let path: string;
      try {
        path = fileURLToPath(uri);
      } catch (err) {
        throw invalid((err as Error).message);
      }
      return { kind: 'file', path };
    }
    default:
      throw invalid(`unsupported scheme '${scheme}://'; expected one of ${SUPPORTED_SCHEMES.map((s) => `${s}://`).join(', ')}`);
  }
}

// Query parameters that carry secrets in presigned URLs (S3, GCS, Azure SAS) or tokens.
const SECRET_PARAM = /sig|signature|token|credential|secret|password|passwd|key|auth|^se$|^sp$|^sv$/i;

/** The URI with userinfo removed and secret-looking query values replaced, safe for logs and errors. */
export function redactUri(uri: string): string {
  if (typeof uri !== 'string') return String(uri);
  const scheme = uriScheme(uri);
  if (scheme === 'http' || scheme === 'https') {
    try {
      const url = new URL(uri);
      url.username = '';
      url.password = '';
      for (const name of [...new Set(url.searchParams.keys())]) {
        if (SECRET_PARAM.test(name)) url.searchParams.set(name, 'REDACTED');
      }
      return url.toString();
    } catch {
      // fall through to the textual clean-up
    }
  }
  return uri.replace(/\/\/[^/@]*@/, '//').replace(/\?.*$/, (q) => (q.length > 1 ? '?REDACTED' : q));
}
