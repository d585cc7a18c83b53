// The codec worker: parses request bodies and encodes JSON outputs off the main thread. Buffers come and go by
// transfer, so the main thread never copies or walks the data. A long body comes here a piece at a time as it
// arrives, and a long encoded text stays here and goes to the main thread a piece at a time as the socket takes
// it, so the main thread never holds tens of megabytes at once (holding them there sets off garbage collections
// that pause probes).
import { parentPort, workerData } from 'node:worker_threads';
import { RuntimeError } from '../errors.js';
import { parseInferRequest } from '../request.js';
import type { ModelSignature } from '../signature.js';
import { encodeJsonData } from '../tensors.js';
import { alignedBodyBuffer } from './body.js';
import { ownBuffer, PIECE_BYTES, type CodecReply, type CodecTask } from './codec-protocol.js';

const signature = (workerData as { signature: ModelSignature }).signature;
const port = parentPort!;

/** Bodies arriving in pieces, and how much of each has arrived. */
const opened = new Map<number, { body: Buffer; filled: number }>();

/** Parses a body this thread alone holds; its tensors go back by transfer. */
function parseOwned(seq: number, body: Buffer, headerLength: number | undefined): void {
  const request = parseInferRequest(body, headerLength, signature, true);
  const buffers = new Set<ArrayBuffer>();
  for (const input of request.inputs) {
    if ('bytes' in input.payload) buffers.add(input.payload.bytes.buffer as ArrayBuffer);
  }
  port.postMessage({ seq, type: 'parsed', request } satisfies CodecReply, [...buffers]);
}

/** Encoded texts whose pieces the main thread has not all taken, and how far each has been taken. */
const held = new Map<number, { text: Buffer; taken: number }>();
let lastHeld = 0;

/** The next piece of a held text, in a buffer of its own (to transfer); forgets the text once all is taken. */
function nextPiece(id: number): Uint8Array {
  const h = held.get(id);
  if (!h) throw new Error(`encoded text ${id} is not held (dropped or already taken)`);
  const end = Math.min(h.taken + PIECE_BYTES, h.text.byteLength);
  const piece = ownBuffer(h.text.subarray(h.taken, end));
  h.taken = end;
  if (end === h.text.byteLength) held.delete(id);
  return piece;
}

/** What reportHeld last told the main thread. */
let reportedHeld = 0;

/** Tells the main thread how many bytes this thread holds for bodies and texts, when that has changed. */
function reportHeld(): void {
  let bytes = 0;
  for (const o of opened.values()) bytes += o.filled;
  for (const h of held.values()) bytes += h.text.byteLength - h.taken;
  if (bytes === reportedHeld) return;
  reportedHeld = bytes;
  port.postMessage({ seq: 0, type: 'held', bytes } satisfies CodecReply);
}

port.on('message', (task: CodecTask) => {
  try {
    handle(task);
  } catch (err) {
    const reply: CodecReply = err instanceof RuntimeError
      ? { seq: task.seq, type: 'refused', reason: err.reason, message: err.message }
      : { seq: task.seq, type: 'failed', message: (err as Error).message };
    port.postMessage(reply);
  }
  reportHeld();
});

/** Does one task; replies, where the task has one, go out from here. */
function handle(task: CodecTask): void {
  if (task.type === 'parse') {
    // The body came by transfer: this thread alone holds it.
    parseOwned(task.seq, Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength), task.headerLength);
  } else if (task.type === 'open') {
    opened.set(task.body, { body: alignedBodyBuffer(task.length, task.alignAt), filled: 0 });
  } else if (task.type === 'append') {
    const o = opened.get(task.body);
    if (!o) return;
    o.body.set(task.bytes, o.filled);
    o.filled += task.bytes.byteLength;
  } else if (task.type === 'parse-opened') {
    const o = opened.get(task.body);
    opened.delete(task.body);
    if (!o) throw new Error(`request body ${task.body} is not held`);
    parseOwned(task.seq, o.body.subarray(0, o.filled), task.headerLength);
  } else if (task.type === 'discard') {
    opened.delete(task.body);
  } else if (task.type === 'encode') {
    const text = Buffer.from(encodeJsonData(task.datatype, task.data));
    if (text.byteLength > PIECE_BYTES) {
      const id = ++lastHeld;
      held.set(id, { text, taken: 0 });
      const bytes = nextPiece(id);
      port.postMessage({ seq: task.seq, type: 'encoded', bytes, length: text.byteLength, held: id } satisfies CodecReply, [bytes.buffer as ArrayBuffer]);
    } else {
      const bytes = ownBuffer(new Uint8Array(text.buffer, text.byteOffset, text.byteLength));
      port.postMessage({ seq: task.seq, type: 'encoded', bytes, length: text.byteLength } satisfies CodecReply, [bytes.buffer as ArrayBuffer]);
    }
  } else if (task.type === 'next') {
    const bytes = nextPiece(task.text);
    port.postMessage({ seq: task.seq, type: 'piece', bytes } satisfies CodecReply, [bytes.buffer as ArrayBuffer]);
  } else {
    held.delete(task.text);
  }
}
