// http:// and https:// sources: plain GETs with Range for resume, redirects followed, connect and
// response timeouts, an optional Authorization header that never leaves the URI's own origin.
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import { FetchError } from './errors.js';
import type { OpenedBody, RangeSource } from './transfer.js';
import { redactUri } from './uri.js';

export interface HttpSourceOptions {
  authorization?: string;
  /** Extra PEM CA bundle trusted beside the system roots. */
  ca?: string;
  connectTimeoutMs: number;
  /** Limit for the response headers to arrive once connected (the body has its own idle timeout). */
  responseTimeoutMs: number;
  maxRedirects: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The reason a non-success HTTP status stands for. */
export function httpStatusError(status: number, statusText: string | undefined): FetchError {
  const what = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 401 || status === 403) return new FetchError('AccessDenied', `${what} (access denied; check the credentials)`);
  if (status === 404 || status === 410) return new FetchError('NotFound', what);
  if (status === 408) return new FetchError('Timeout', what);
  if (status === 429 || status >= 500) return new FetchError('ServerError', what, { retryable: true });
  return new FetchError('RequestRejected', what);
}

// Parses "bytes a-b/total" and "bytes */total".
export function parseContentRange(header: string | undefined): { start?: number; total?: number } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!m) return {};
  const out: { start?: number; total?: number } = {};
  if (m[1] !== undefined) out.start = Number(m[1]);
  if (m[2] !== '*') out.total = Number(m[2]);
  return out;
}

/** A validator usable in If-Range: a strong ETag, or else Last-Modified. */
export function rangeValidator(headers: http.IncomingHttpHeaders): string | undefined {
  const etag = headers.etag;
  if (etag && !etag.startsWith('W/')) return etag;
  return headers['last-modified'];
}

function contentLength(res: http.IncomingMessage): number | undefined {
  const v = res.headers['content-length'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** Sends one GET and resolves with the response headers, under the connect and response timeouts. */
function sendGet(target: URL, headers: http.OutgoingHttpHeaders, ca: string[] | undefined, opts: HttpSourceOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const secure = target.protocol === 'https:';
    const lib = secure ? https : http;
    const req = lib.request(target, { method: 'GET', headers, agent: false, ...(ca && secure ? { ca } : {}) });
    const fail = (err: Error) => req.destroy(err);
    const connectTimer = setTimeout(() => fail(new FetchError('Timeout', `connect to ${target.host} timed out after ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
    req.on('socket', (socket) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(connectTimer);
        req.setTimeout(opts.responseTimeoutMs, () => fail(new FetchError('Timeout', `no response from ${target.host} within ${opts.responseTimeoutMs} ms`)));
      });
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      req.setTimeout(0);
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      reject(err);
    });
    req.end();
  });
}

/** Pure: the headers of a GET from `offset`, resuming only the same version when a validator is known. */
function requestHeaders(authorization: string | undefined, offset: number, validator: string | undefined): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = { 'user-agent': 'modelplane-fetch', 'accept-encoding': 'identity' };
  if (authorization !== undefined) headers.authorization = authorization;
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    if (validator !== undefined) headers['if-range'] = validator;
  }
  return headers;
}

interface Hop {
  target: URL;
  authorization: string | undefined;
}

/** Pure: where a redirect leads, and whether the credentials still go along. */
function nextHop(location: string, from: Hop, origin: string): Hop {
  const target = new URL(location, from.target);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new FetchError('RequestRejected', `redirect to unsupported scheme ${target.protocol}`);
  }
  // Like curl: credentials meant for one origin are not handed to another (e.g. a presigned store URL).
  return { target, authorization: target.origin === origin ? from.authorization : undefined };
}

/** The body a final (non-redirect) response offers, 'restart' when only a fresh start makes sense, or its error. */
function bodyFromResponse(res: http.IncomingMessage, offset: number, validator: string | undefined): OpenedBody | 'restart' {
  const status = res.statusCode ?? 0;
  if (status === 200) {
    const total = contentLength(res);
    return { body: res, start: 0, ...(total !== undefined ? { total } : {}), ...optional('validator', rangeValidator(res.headers)) };
  }
  if (status === 206) {
    const range = parseContentRange(res.headers['content-range']);
    if (range.start === undefined) {
      res.resume();
      throw new FetchError('NetworkError', `HTTP 206 without a usable Content-Range (${res.headers['content-range'] ?? 'none'})`);
    }
    return { body: res, start: range.start, ...optional('total', range.total), ...optional('validator', rangeValidator(res.headers) ?? validator) };
  }
  res.resume();
  if (status === 416 && offset > 0) {
    // Everything may already be on disk; otherwise the object shrank and only a fresh start makes sense.
    const { total } = parseContentRange(res.headers['content-range']);
    return total === offset ? { body: Readable.from([]), start: offset, total } : 'restart';
  }
  throw httpStatusError(status, res.statusMessage);
}

function checkAuthorization(authorization: string | undefined): void {
  if (authorization !== undefined && /[\r\n]/.test(authorization)) {
    throw new FetchError('InvalidCredentials', 'credentials: authorization must be a single line');
  }
}

export function httpSource(url: URL, opts: HttpSourceOptions): RangeSource {
  const label = redactUri(url.toString());
  checkAuthorization(opts.authorization);
  const ca = opts.ca === undefined ? undefined : [...rootCertificates, opts.ca];

  const open = async (offset: number, validator: string | undefined): Promise<OpenedBody> => {
    let hop: Hop = { target: url, authorization: opts.authorization };
    for (let n = 0; n <= opts.maxRedirects; n++) {
      const res = await sendGet(hop.target, requestHeaders(hop.authorization, offset, validator), ca, opts);
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode ?? 0) && location) {
        res.resume();
        hop = nextHop(location, hop, url.origin);
        continue;
      }
      const answer = bodyFromResponse(res, offset, validator);
      return answer === 'restart' ? open(0, undefined) : answer;
    }
    throw new FetchError('TooManyRedirects', `more than ${opts.maxRedirects} redirects`);
  };

  return { label, open };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
