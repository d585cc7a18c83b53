// What the gateway reads and writes of gRPC's wire format, and nothing more: the length-prefixed message framing
// (to hold request messages to a size limit and find the first one), one string field of a protobuf message (the
// model name a request is routed by), the few small messages the gateway answers itself, and status codes. Tensors
// are never decoded: a message passes through as the bytes it arrived as.
import type { Outcome } from './directory.js';

/** gRPC status codes the gateway gives or reads (grpc/doc/statuscodes.md). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC status for an HTTP status the gateway's own decisions (waiter, authorization) answer with. */
export function grpcCodeOfHttp(status: number): number {
  switch (status) {
    case 400: return GrpcCode.INVALID_ARGUMENT;
    case 401: return GrpcCode.UNAUTHENTICATED;
    case 403: return GrpcCode.PERMISSION_DENIED;
    case 404: return GrpcCode.NOT_FOUND;
    case 408: case 504: return GrpcCode.DEADLINE_EXCEEDED;
    case 413: case 429: return GrpcCode.RESOURCE_EXHAUSTED;
    case 502: case 503: return GrpcCode.UNAVAILABLE;
    default: return status >= 500 ? GrpcCode.INTERNAL : GrpcCode.UNKNOWN;
  }
}

/**
 * The HTTP status a gRPC status stands for in the gateway's per-model counts (shared with the HTTP path), as
 * grpc-gateway maps them; 499 for a call the client cancelled, as for an HTTP client that went away.
 */
export function httpStatusOfGrpc(code: number): number {
  switch (code) {
    case GrpcCode.OK: return 200;
    case GrpcCode.CANCELLED: return 499;
    case GrpcCode.INVALID_ARGUMENT: case GrpcCode.FAILED_PRECONDITION: case GrpcCode.OUT_OF_RANGE: return 400;
    case GrpcCode.DEADLINE_EXCEEDED: return 504;
    case GrpcCode.NOT_FOUND: return 404;
    case GrpcCode.ALREADY_EXISTS: case GrpcCode.ABORTED: return 409;
    case GrpcCode.PERMISSION_DENIED: return 403;
    case GrpcCode.UNAUTHENTICATED: return 401;
    case GrpcCode.RESOURCE_EXHAUSTED: return 429;
    case GrpcCode.UNIMPLEMENTED: return 501;
    case GrpcCode.UNAVAILABLE: return 503;
    default: return 500;
  }
}

const CLIENT_CODES: ReadonlySet<number> = new Set([
  GrpcCode.CANCELLED, GrpcCode.INVALID_ARGUMENT, GrpcCode.NOT_FOUND, GrpcCode.ALREADY_EXISTS, GrpcCode.PERMISSION_DENIED,
  GrpcCode.RESOURCE_EXHAUSTED, GrpcCode.FAILED_PRECONDITION, GrpcCode.OUT_OF_RANGE, GrpcCode.UNAUTHENTICATED,
]);

/** How an exchange that ended with `code` counts, as HTTP's 2xx / 4xx / 503 / 5xx do. */
export function outcomeOfGrpc(code: number): Outcome {
  if (code === GrpcCode.OK) return 'success';
  if (code === GrpcCode.UNAVAILABLE) return 'rejected';
  return CLIENT_CODES.has(code) ? 'client_error' : 'failed';
}

/** grpc-message's percent-encoding: printable ASCII but '%' as it is, every other UTF-8 byte as %XX. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** One message in gRPC's framing: a compressed flag, a 4-byte big-endian length, the bytes. */
export function frameMessage(payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = 0;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/**
 * Follows the message boundaries of a request stream as its chunks pass, without copying them: holds every
 * message to `maxMessageBytes` (from its length prefix, before its bytes arrive) and keeps the bytes of the first
 * message, the one a call is routed by.
 */
export class MessageScanner {
  /** Messages whose length prefix has arrived. */
  messages = 0;
  /** The first message's compressed flag, once its prefix has arrived. */
  firstCompressed = false;
  private readonly head = Buffer.alloc(5);
  private headHave = 0;
  private remaining = 0;
  private firstParts: Buffer[] = [];
  private firstHave = 0;
  private firstLength = -1;

  constructor(private readonly maxMessageBytes: number) {}

  /** Follows `chunk`; the length of a message over the limit, when one begins in it. */
  scan(chunk: Buffer): number | undefined {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - pos);
        if (this.messages === 1) this.keepFirst(chunk.subarray(pos, pos + take));
        this.remaining -= take;
        pos += take;
        continue;
      }
      const take = Math.min(5 - this.headHave, chunk.length - pos);
      chunk.copy(this.head, this.headHave, pos, pos + take);
      this.headHave += take;
      pos += take;
      if (this.headHave < 5) break;
      this.headHave = 0;
      const length = this.head.readUInt32BE(1);
      if (length > this.maxMessageBytes) return length;
      this.messages++;
      this.remaining = length;
      if (this.messages === 1) {
        this.firstCompressed = this.head[0] === 1;
        this.firstLength = length;
      }
    }
    return undefined;
  }

  /** The first message's bytes received so far (all of it when `firstComplete`). */
  first(): Buffer {
    if (this.firstParts.length > 1) this.firstParts = [Buffer.concat(this.firstParts)];
    return this.firstParts[0] ?? Buffer.alloc(0);
  }

  get firstComplete(): boolean {
    return this.firstLength >= 0 && this.firstHave === this.firstLength;
  }

  /** Whether the stream is between messages (a stream that ends elsewhere was cut short). */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.headHave === 0;
  }

  private keepFirst(part: Buffer): void {
    this.firstParts.push(part);
    this.firstHave += part.length;
  }
}

/** A protobuf string field as read from a message's bytes, or why it could not be. */
export type FieldRead = { value: string } | { absent: true } | { truncated: true } | { malformed: string };

/** Reads a base-128 varint at `pos`: [value, next position], or undefined when the bytes end first. */
function readVarint(buf: Buffer, pos: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    value += (buf[i] & 0x7f) * scale;
    if (buf[i] < 0x80) return [value, i + 1];
    scale *= 128;
  }
  return buf.length < pos + 10 ? undefined : [NaN, buf.length];
}

/** Where a field's value lies in a message's bytes: a varint's value, or a length-delimited field's bytes. */
type LocatedField = { wire: 0; value: number } | { wire: 2; start: number; end: number } | { wire: 1 | 5 };

/**
 * The first occurrence of field `field` in the protobuf message whose bytes, or first bytes, are `buf`: other
 * fields are skipped by their wire type (encoders write a singular field once). `{truncated}` when `buf` ends
 * before the field's end or before the field appears: more bytes may tell.
 */
function locateField(buf: Buffer, field: number): LocatedField | Exclude<FieldRead, { value: string }> {
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint(buf, pos);
    if (!key) return { truncated: true };
    const [tag, afterKey] = key;
    const wire = tag % 8;
    const number = Math.floor(tag / 8);
    let next: number;
    let located: LocatedField;
    if (wire === 0) {
      const v = readVarint(buf, afterKey);
      if (!v) return { truncated: true };
      next = v[1];
      located = { wire, value: v[0] };
    } else if (wire === 1 || wire === 5) {
      next = afterKey + (wire === 1 ? 8 : 4);
      located = { wire };
    } else if (wire === 2) {
      const len = readVarint(buf, afterKey);
      if (!len || !Number.isFinite(len[0])) return len ? { malformed: `field ${number} has an invalid length` } : { truncated: true };
      next = len[1] + len[0];
      located = { wire, start: len[1], end: next };
    } else {
      return { malformed: `field ${number} has wire type ${wire}, which these messages do not use` };
    }
    if (number === field) return next > buf.length ? { truncated: true } : located;
    pos = next;
  }
  return pos > buf.length ? { truncated: true } : { absent: true };
}

/** The string field `field` (wire type 2) of a message's bytes, or first bytes (see locateField). */
export function readStringField(buf: Buffer, field: number): FieldRead {
  const f = locateField(buf, field);
  if (!('wire' in f)) return f;
  if (f.wire !== 2) return { malformed: `field ${field} has wire type ${f.wire}, not a string's (2)` };
  return { value: buf.toString('utf8', f.start, f.end) };
}

/** The bool field `field` (wire type 0) of a whole message's bytes: false when absent, as proto3 reads it. */
export function readBoolField(buf: Buffer, field: number): { value: boolean } | { malformed: string } {
  const f = locateField(buf, field);
  if ('absent' in f) return { value: false };
  if ('truncated' in f) return { malformed: 'the message ends inside a field' };
  if ('malformed' in f) return f;
  if (f.wire !== 0) return { malformed: `field ${field} has wire type ${f.wire}, not a bool's (0)` };
  return { value: f.value !== 0 };
}

/** An embedded message field (wire type 2; written even when empty, as a repeated element is). */
export function messageField(field: number, message: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint(field * 8 + 2), ...varint(message.length)]), message]);
}

// Writing the few messages the gateway answers itself: strings, bools, enums.

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A string field (skipped when empty, as proto3 does). */
export function stringField(field: number, value: string): Buffer {
  if (value === '') return Buffer.alloc(0);
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([Buffer.from([...varint(field * 8 + 2), ...varint(bytes.length)]), bytes]);
}

/** A bool or enum field (skipped when false or 0, as proto3 does). */
export function varintField(field: number, value: number | boolean): Buffer {
  const n = Number(value);
  return n === 0 ? Buffer.alloc(0) : Buffer.from([...varint(field * 8), ...varint(n)]);
}
