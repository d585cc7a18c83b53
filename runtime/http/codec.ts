// Where request bodies are parsed and JSON outputs encoded: inline when small, on the codec worker when large,
// so that a 60 MB JSON body does not hold up probes, metrics or other requests for seconds.
import { Worker } from 'node:worker_threads';
import type { Datatype, TensorData } from '../datatypes.js';
import { RuntimeError } from '../errors.js';
import { parseInferRequest, type InferRequest } from '../request.js';
import type { ModelSignature } from '../signature.js';
import { encodeJsonData } from '../tensors.js';
import { ownBuffer, PIECE_BYTES, type CodecReply, type CodecTask } from './codec-protocol.js';

/**
 * An encoded JSON text that the codec worker holds: `pieces()` brings it over a piece at a time, asking for the
 * next piece while the last one is written, so the main thread holds a megabyte or two of it at most. Whatever
 * is not taken must be dropped (pieces() does it when it stops early).
 */
export class HeldText {
  private settled = false;
  constructor(private readonly codec: Codec, private readonly id: number, readonly byteLength: number, private readonly first: Uint8Array) {}

  async *pieces(): AsyncGenerator<Uint8Array> {
    let piece = this.first;
    let received = piece.byteLength;
    try {
      for (;;) {
        const upcoming = received < this.byteLength ? this.codec.nextPiece(this.id) : undefined;
        // Awaited below, unless the caller stops taking pieces first.
        upcoming?.catch(() => {});
        yield piece;
        if (!upcoming) {
          this.settled = true;
          return;
        }
        piece = await upcoming;
        received += piece.byteLength;
      }
    } finally {
      this.drop();
    }
  }

  /** Forgets the rest of the text on the worker; nothing when all of it was taken or it was dropped before. */
  drop(): void {
    if (this.settled) return;
    this.settled = true;
    this.codec.tell({ type: 'drop', text: this.id }, []);
  }
}

/** JSON text above this many bytes is parsed on the worker (a few milliseconds of parsing inline at most). */
export const PARSE_OFFLOAD_BYTES = 128 * 1024;
/** Outputs with more elements than this are encoded to JSON on the worker. */
export const ENCODE_OFFLOAD_ELEMENTS = 16 * 1024;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

type Pending = { resolve: (r: CodecReply) => void; reject: (e: Error) => void };

function elementsOf(data: TensorData): number {
  return data.length;
}

/**
 * A request body on its way to the codec worker while it arrives: pieces are gathered into buffers of 1 MiB that
 * go over by transfer as they fill, so the main thread holds a megabyte of it at most. Parse it, or discard it.
 */
export class IncomingBody {
  private gathering?: Buffer;
  private gathered = 0;
  private sent = 0;
  private closed = false;

  constructor(private readonly codec: Codec, private readonly id: number, private readonly length: number) {}

  /** The next bytes of the body, in order; never more than the length it was opened with. */
  append(piece: Buffer): void {
    if (this.sent + this.gathered + piece.byteLength > this.length) throw new RuntimeError('InvalidRequest', `request body: more than the ${this.length} bytes of its Content-Length`);
    let from = 0;
    while (from < piece.byteLength) {
      this.gathering ??= Buffer.allocUnsafeSlow(Math.min(PIECE_BYTES, this.length - this.sent - this.gathered));
      const n = Math.min(this.gathering.byteLength - this.gathered, piece.byteLength - from);
      piece.copy(this.gathering, this.gathered, from, from + n);
      this.gathered += n;
      from += n;
      if (this.gathered === this.gathering.byteLength) this.send();
    }
  }

  private send(): void {
    if (!this.gathering || this.gathered === 0) return;
    const bytes = new Uint8Array(this.gathering.buffer, this.gathering.byteOffset, this.gathered);
    this.codec.tell({ type: 'append', body: this.id, bytes }, [bytes.buffer as ArrayBuffer]);
    this.sent += this.gathered;
    this.gathering = undefined;
    this.gathered = 0;
  }

  /** Parses the body received so far (all of it, once the request has ended). */
  async parse(headerLength: number | undefined): Promise<InferRequest> {
    this.send();
    this.closed = true;
    return this.codec.parseOpened(this.id, headerLength);
  }

  /** Forgets the body on the worker; nothing once parse was called. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    this.codec.tell({ type: 'discard', body: this.id }, []);
  }
}

export class Codec {
  private worker?: Worker;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private lastBody = 0;
  /** Bytes the worker last said it holds for bodies still arriving and answers still being written. */
  heldBytes = 0;

  constructor(private readonly signature: ModelSignature) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./codec-worker.js', import.meta.url), { workerData: { signature: this.signature } });
    worker.unref();
    worker.on('message', (reply: CodecReply) => {
      if (reply.type === 'held') {
        this.heldBytes = reply.bytes;
        return;
      }
      const p = this.pending.get(reply.seq);
      if (!p) return;
      this.pending.delete(reply.seq);
      p.resolve(reply);
    });
    const lost = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      // What a lost worker held is gone with it.
      this.heldBytes = 0;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`codec worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private post(task: CodecTask, transfer: ArrayBuffer[]): Promise<CodecReply> {
    const worker = this.start();
    return new Promise((resolve, reject) => {
      this.pending.set(task.seq, { resolve, reject });
      worker.postMessage(task, transfer);
    });
  }

  private static settle(reply: CodecReply): CodecReply {
    if (reply.type === 'refused') throw new RuntimeError(reply.reason, reply.message);
    if (reply.type === 'failed') throw new Error(reply.message);
    return reply;
  }

  /**
   * Parses a request body; the body may be handed to the worker, so the caller must not use it afterwards.
   * `exclusive`: nothing else holds the body's ArrayBuffer (see parseInferRequest).
   */
  async parse(body: Buffer, headerLength: number | undefined, exclusive = false): Promise<InferRequest> {
    // Range errors about the header are the parser's to report, with the body at hand.
    if (!this.offloads(body.byteLength, headerLength) || (headerLength !== undefined && (headerLength < 0 || headerLength > body.byteLength))) {
      return parseInferRequest(body, headerLength, this.signature, exclusive);
    }
    const own = exclusive && body.buffer instanceof ArrayBuffer ? body : ownBuffer(body);
    const reply = Codec.settle(await this.post({ seq: ++this.seq, type: 'parse', body: own, headerLength }, [own.buffer as ArrayBuffer]));
    return (reply as Extract<CodecReply, { type: 'parsed' }>).request;
  }

  /** Whether a body of this many bytes, with this JSON header length (none: all JSON), is parsed on the worker. */
  offloads(bodyBytes: number, headerLength: number | undefined): boolean {
    const jsonBytes = headerLength ?? bodyBytes;
    const hasStrings = this.signature.inputs.some((t) => t.datatype === 'BYTES');
    return jsonBytes > PARSE_OFFLOAD_BYTES || (hasStrings && bodyBytes > PARSE_OFFLOAD_BYTES);
  }

  /**
   * A body of at most `length` bytes to send to the worker as it arrives, for parsing there; `alignAt` as for
   * readBody.
   */
  open(length: number, alignAt: number): IncomingBody {
    const id = ++this.lastBody;
    this.tell({ type: 'open', body: id, length, alignAt }, []);
    return new IncomingBody(this, id, length);
  }

  /**
   * Posts a task that has no reply of its own. One that forgets a body or text goes only to a worker already
   * running: a worker started since does not hold it.
   */
  tell(task: DistributiveOmit<Extract<CodecTask, { type: 'open' | 'append' | 'discard' | 'drop' }>, 'seq'>, transfer: ArrayBuffer[]): void {
    if ((task.type === 'discard' || task.type === 'drop') && !this.worker) return;
    this.start().postMessage({ ...task, seq: ++this.seq }, transfer);
  }

  async parseOpened(body: number, headerLength: number | undefined): Promise<InferRequest> {
    const reply = Codec.settle(await this.post({ seq: ++this.seq, type: 'parse-opened', body, headerLength }, []));
    return (reply as Extract<CodecReply, { type: 'parsed' }>).request;
  }

  /**
   * The JSON text of an output's `data`: a string when encoded inline, bytes when encoded on the worker, a
   * HeldText when it is longer than a piece (the worker keeps it until it is taken or dropped).
   */
  async encodeJson(datatype: Datatype, data: TensorData): Promise<string | Uint8Array | HeldText> {
    if (elementsOf(data) <= ENCODE_OFFLOAD_ELEMENTS) return encodeJsonData(datatype, data);
    let payload: TensorData = data;
    const transfer: ArrayBuffer[] = [];
    if (!Array.isArray(data)) {
      // Its own buffer moves to the worker as it is (the output is encoded once).
      const moved = ownBuffer(data);
      payload = moved;
      transfer.push(moved.buffer as ArrayBuffer);
    }
    const reply = Codec.settle(await this.post({ seq: ++this.seq, type: 'encode', datatype, data: payload }, transfer)) as Extract<CodecReply, { type: 'encoded' }>;
    return reply.held === undefined ? reply.bytes : new HeldText(this, reply.held, reply.length, reply.bytes);
  }

  /** The next piece of a text the worker holds. */
  async nextPiece(text: number): Promise<Uint8Array> {
    const reply = Codec.settle(await this.post({ seq: ++this.seq, type: 'next', text }, []));
    return (reply as Extract<CodecReply, { type: 'piece' }>).bytes;
  }

  close(): Promise<number> | undefined {
    const w = this.worker;
    this.worker = undefined;
    return w?.terminate();
  }
}
