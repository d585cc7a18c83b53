// Reading a request body within bounds: a size limit, a budget on bytes held by all requests in flight, and an
// idle timeout, so that neither a huge nor a stalled client can hold memory or a slot for long.
import type { IncomingMessage } from 'node:http';
import { gunzip, inflate } from 'node:zlib';
import { promisify } from 'node:util';
import { RuntimeError } from '../errors.js';
import type { Reservation } from '../admission.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

interface Watched {
  last: number;
  idleMs: number;
  onIdle: () => void;
}

/**
 * One sweep for every body being read, instead of a timer per request (arming and clearing a timer costs more
 * than a small request's whole parse): a body idle for longer than its limit is cut off within a quarter second.
 */
class IdleWatch {
  private readonly watched = new Set<Watched>();
  private sweeper?: NodeJS.Timeout;

  add(w: Watched): void {
    this.watched.add(w);
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), 250);
      this.sweeper.unref();
    }
  }

  delete(w: Watched): void {
    this.watched.delete(w);
  }

  private sweep(): void {
    const now = performance.now();
    for (const w of this.watched) {
      if (now - w.last >= w.idleMs) {
        this.watched.delete(w);
        w.onIdle();
      }
    }
    if (this.watched.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

const idleWatch = new IdleWatch();

export interface BodyLimits {
  maxBytes: number;
  /** Longest pause between two pieces of the body, ms; 0 = none. */
  idleMs: number;
}

/** ArrayBuffers that readBody allocated for one body alone. */
const exclusiveBodies = new WeakSet<ArrayBuffer>();

/** Whether nothing but this body holds its ArrayBuffer (it is not a slice of node's pool or of a socket read). */
export function isExclusiveBody(body: Buffer): boolean {
  return exclusiveBodies.has(body.buffer as ArrayBuffer);
}

/**
 * The body's declared Content-Length, if any: refused (413) past the limit, and held against the in-flight budget
 * before any of it is read.
 */
export function admitBody(req: IncomingMessage, maxBytes: number, reservation: Reservation): number | undefined {
  const declared = Number(req.headers['content-length']);
  if (!Number.isFinite(declared)) return undefined;
  if (declared > maxBytes) throw new RuntimeError('BodyTooLarge', `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes (--max-body-bytes)`);
  if (declared > 0) reservation.add(declared);
  return declared;
}

/**
 * Receives a body admitted by admitBody, handing each piece to `onPiece` with its offset as it arrives, and
 * resolves with the body's length: refuses (413) past the limit without taking the excess, (408) when it stalls.
 */
export function receiveBody(req: IncomingMessage, limits: BodyLimits, reservation: Reservation, declared: number | undefined, onPiece: (piece: Buffer, offset: number) => void): Promise<number> {
  const { maxBytes, idleMs } = limits;
  return new Promise((resolve, reject) => {
    let size = 0;
    let settled = false;
    const finish = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      if (watched) idleWatch.delete(watched);
      req.removeListener('data', onData);
      if (err) {
        req.resume();
        reject(err);
      } else resolve(size);
    };
    const watched: Watched | undefined = idleMs > 0 && !req.complete
      ? { last: performance.now(), idleMs, onIdle: () => finish(new RuntimeError('RequestTimeout', `request body: no data for ${idleMs / 1000} s (--body-timeout-seconds); ${size} bytes received`)) }
      : undefined;
    if (watched) idleWatch.add(watched);
    const onData = (c: Buffer) => {
      if (watched) watched.last = performance.now();
      const offset = size;
      size += c.byteLength;
      if (size > maxBytes) return finish(new RuntimeError('BodyTooLarge', `request body exceeds the limit of ${maxBytes} bytes (--max-body-bytes)`));
      if (declared !== undefined && size > declared) return finish(new RuntimeError('InvalidRequest', `request body: more than the ${declared} bytes of its Content-Length`));
      try {
        reservation.atLeast(size);
        onPiece(c, offset);
      } catch (err) {
        return finish(err as Error);
      }
    };
    req.on('data', onData);
    req.once('end', () => finish(undefined));
    req.once('error', (err) => finish(err));
    req.once('close', () => {
      if (!settled) finish(new RuntimeError('InvalidRequest', `request body: the client closed the connection after ${size} bytes`));
    });
  });
}

/**
 * A buffer of its own (transferable) for a body of `length` bytes, whose byte `alignAt` falls on an 8-byte
 * boundary, so that binary tensor data starting there can be viewed in place.
 */
export function alignedBodyBuffer(length: number, alignAt: number): Buffer {
  const pad = (8 - (alignAt % 8)) % 8;
  return Buffer.allocUnsafeSlow(length + pad).subarray(pad);
}

/**
 * Reads the whole of a body admitted by admitBody (`declared`: its declared length), within the bounds of
 * receiveBody. `alignAt`: a byte offset in the body (where binary tensor data begins) placed at an 8-byte boundary
 * of the buffer, so that tensors there can be viewed in place.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits, reservation: Reservation, declared: number | undefined, alignAt = 0): Promise<Buffer> {
  // With a declared length, each piece is copied into place as it arrives: no single long copy at the end.
  let whole: Buffer | undefined;
  if (declared !== undefined && declared > 64 * 1024) {
    whole = alignedBodyBuffer(declared, alignAt);
    exclusiveBodies.add(whole.buffer as ArrayBuffer);
  }
  const chunks: Buffer[] = [];
  const size = await receiveBody(req, limits, reservation, declared, (c, offset) => {
    if (whole) c.copy(whole, offset);
    else chunks.push(c);
  });
  if (whole) return size === whole.byteLength ? whole : whole.subarray(0, size);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}

export async function decodeContent(body: Buffer, encoding: string | undefined, limit: number, reservation: Reservation): Promise<Buffer> {
  if (!encoding || encoding === 'identity') return body;
  const opts = { maxOutputLength: limit };
  let out: Buffer;
  try {
    if (encoding === 'gzip') out = await gunzipAsync(body, opts);
    else if (encoding === 'deflate') out = await inflateAsync(body, opts);
    else throw new RuntimeError('UnsupportedEncoding', `Content-Encoding ${encoding} is not supported (use gzip, deflate or none)`);
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new RuntimeError('BodyTooLarge', `decompressed body exceeds the limit of ${limit} bytes (--max-body-bytes)`);
    throw new RuntimeError('InvalidRequest', `Content-Encoding ${encoding}: body does not decompress: ${(err as Error).message}`);
  }
  reservation.add(out.byteLength);
  return out;
}
