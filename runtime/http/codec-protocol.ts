// Messages between the server's main thread and the codec worker, which parses large JSON request bodies and
// encodes large JSON outputs so the event loop stays free for probes and other requests.
import type { Datatype, TensorData } from '../datatypes.js';
import type { ErrorReason } from '../errors.js';
import type { InferRequest } from '../request.js';

/** An encoded text longer than this stays on the worker and reaches the main thread in pieces of this size. */
export const PIECE_BYTES = 1024 * 1024;

type TypedView = Exclude<TensorData, readonly unknown[]>;

/**
 * The same elements in an ArrayBuffer of their own, to transfer: the view itself when it spans its buffer, else a
 * copy of just its part (a view on node's pool or on a batch's shared output).
 */
export function ownBuffer(view: Uint8Array): Uint8Array;
export function ownBuffer<T extends TypedView>(view: T): T;
export function ownBuffer(view: Uint8Array | TypedView): Uint8Array | TypedView {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view;
  // A Buffer's slice() is a view, not a copy: any Uint8Array is copied through the Uint8Array constructor.
  return view instanceof Uint8Array ? new Uint8Array(view) : view.slice();
}

export type CodecTask =
  | { seq: number; type: 'parse'; body: Uint8Array; headerLength: number | undefined }
  /** A body that arrives in pieces (no reply): `length` bytes at most, `alignAt` placed at an 8-byte boundary. */
  | { seq: number; type: 'open'; body: number; length: number; alignAt: number }
  /** The next piece of an opened body (no reply). */
  | { seq: number; type: 'append'; body: number; bytes: Uint8Array }
  /** Parse an opened body, all of whose pieces were sent. */
  | { seq: number; type: 'parse-opened'; body: number; headerLength: number | undefined }
  /** An opened body that will not be parsed (no reply). */
  | { seq: number; type: 'discard'; body: number }
  | { seq: number; type: 'encode'; datatype: Datatype; data: TensorData }
  /** The next piece of a text the worker holds. */
  | { seq: number; type: 'next'; text: number }
  /** The rest of a text the worker holds is not wanted (no reply). */
  | { seq: number; type: 'drop'; text: number };

export type CodecReply =
  | { seq: number; type: 'parsed'; request: InferRequest }
  /** `bytes`: the whole text, or its first piece when `held` names the text the worker keeps (`length` bytes in all). */
  | { seq: number; type: 'encoded'; bytes: Uint8Array; length: number; held?: number }
  | { seq: number; type: 'piece'; bytes: Uint8Array }
  /** Bytes the worker now holds for bodies still arriving and texts not yet taken (sent whenever it changes). */
  | { seq: number; type: 'held'; bytes: number }
  | { seq: number; type: 'refused'; reason: ErrorReason; message: string }
  | { seq: number; type: 'failed'; message: string };
