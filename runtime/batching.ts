// Pure parts of dynamic batching: which queued requests may share a run, how their inputs are
// concatenated along dimension 0, and how the outputs are split back.
import { datatypeOfOrt, typeInfo, type TensorData } from './datatypes.js';
import type { InferRequest } from './request.js';
import type { WireTensor } from './worker-protocol.js';
import type { ModelSignature } from './signature.js';

/** Requests with equal keys can be concatenated: same non-batch dimensions for every input. */
export function batchKey(req: InferRequest): string | undefined {
  if (req.batchSize === undefined) return undefined;
  return req.inputs.map((x) => x.shape.slice(1).join('x')).join('|');
}

export interface Batchable {
  key: string | undefined;
  rows: number;
}

/**
 * Picks the queue positions for the next run: the head, then every later entry with the head's key while the
 * rows fit in maxBatchSize. Unbatchable heads (and heads over the limit) run alone.
 */
export function planBatch(queue: readonly Batchable[], maxBatchSize: number): number[] {
  if (queue.length === 0) return [];
  const head = queue[0];
  if (head.key === undefined || maxBatchSize <= 1 || head.rows >= maxBatchSize) return [0];
  const picked = [0];
  let rows = head.rows;
  for (let i = 1; i < queue.length && rows < maxBatchSize; i++) {
    const e = queue[i];
    if (e.key === head.key && rows + e.rows <= maxBatchSize) {
      picked.push(i);
      rows += e.rows;
    }
  }
  return picked;
}

/** Numeric inputs start at multiples of 8 bytes in their shared buffer, as typed arrays of any type need. */
const ALIGN = 8;

/**
 * Whether input j of a request run alone can go to the worker as it is: its bytes are the request's own
 * (`exclusive`), in a plain ArrayBuffer. They may start at an offset their element type cannot be viewed at (a
 * gRPC message puts them wherever its header ends): the worker then copies them, off this thread and off its
 * heap, which is cheaper here than a copy that this thread allocates and its garbage collector accounts for.
 */
function handedOver(reqs: readonly InferRequest[], sig: ModelSignature, j: number): boolean {
  if (reqs.length !== 1 || sig.inputs[j].datatype === 'BYTES') return false;
  const p = reqs[0].inputs[j].payload;
  return 'bytes' in p && p.exclusive === true && p.bytes.buffer instanceof ArrayBuffer;
}

/**
 * Concatenates the requests' inputs along dimension 0, every numeric input into one buffer (at 8-byte aligned
 * offsets) that can be transferred to the session worker. A request run alone hands over its exclusively held
 * input buffers as they are (views, no copy; transferring them detaches the request's own views), and copies
 * only the rest. `allocate` returns a buffer of at least the size asked for; nothing outside the views returned
 * is read.
 */
export function concatInputs(reqs: readonly InferRequest[], sig: ModelSignature, allocate: (bytes: number) => ArrayBuffer = (n) => new ArrayBuffer(n)): WireTensor[] {
  const n = sig.inputs.length;
  const direct: boolean[] = new Array(n);
  const sizes: number[] = new Array(n);
  const offsets: number[] = new Array(n);
  let total = 0;
  for (let j = 0; j < n; j++) {
    direct[j] = handedOver(reqs, sig, j);
    let size = 0;
    if (!direct[j] && sig.inputs[j].datatype !== 'BYTES') {
      for (const r of reqs) {
        const p = r.inputs[j].payload;
        if ('bytes' in p) size += p.bytes.byteLength;
      }
    }
    sizes[j] = size;
    offsets[j] = total;
    total += Math.ceil(size / ALIGN) * ALIGN;
  }
  const buffer = total > 0 ? allocate(total) : undefined;
  const wire: WireTensor[] = new Array(n);
  for (let j = 0; j < n; j++) {
    const spec = sig.inputs[j];
    const first = reqs[0].inputs[j];
    let dims = first.shape;
    if (reqs.length > 1) {
      let rows = 0;
      for (const r of reqs) rows += r.inputs[j].shape[0];
      dims = [rows, ...first.shape.slice(1)];
    }
    if (spec.datatype === 'BYTES') {
      const strings = reqs.length === 1 && 'strings' in first.payload ? first.payload.strings : reqs.flatMap((r) => { const p = r.inputs[j].payload; return 'strings' in p ? p.strings : []; });
      wire[j] = { name: spec.name, ortType: spec.ortType, dims, strings };
      continue;
    }
    if (direct[j]) {
      const bytes = (first.payload as { bytes: Uint8Array }).bytes;
      wire[j] = { name: spec.name, ortType: spec.ortType, dims, buffer: bytes.buffer as ArrayBuffer, byteOffset: bytes.byteOffset, byteLength: bytes.byteLength };
      continue;
    }
    const out = new Uint8Array(buffer ?? new ArrayBuffer(0), offsets[j], sizes[j]);
    let off = 0;
    for (const r of reqs) {
      const p = r.inputs[j].payload;
      if ('bytes' in p) {
        out.set(p.bytes, off);
        off += p.bytes.byteLength;
      }
    }
    wire[j] = { name: spec.name, ortType: spec.ortType, dims, buffer: out.buffer as ArrayBuffer, byteOffset: offsets[j], byteLength: sizes[j] };
  }
  return wire;
}

export interface OutputTensor {
  name: string;
  shape: number[];
  data: TensorData;
}

function typedView(t: WireTensor): TensorData {
  if (t.strings) return t.strings;
  const dt = datatypeOfOrt(t.ortType);
  if (!dt) throw new Error(`output ${t.name}: unsupported type ${t.ortType}`);
  return new (typeInfo(dt).array!)(t.buffer!, t.byteOffset ?? 0, (t.byteLength ?? t.buffer!.byteLength) / typeInfo(dt).size);
}

/**
 * Splits a run's outputs back into one set per request, as views (no copy). `rows[i]` is request i's batch
 * size; undefined rows (a request run alone) takes everything. Throws when an output's first dimension does not
 * add up, which means the model does not batch along dimension 0.
 */
export function splitOutputs(outputs: readonly WireTensor[], rows: readonly number[]): OutputTensor[][] {
  const total = rows.reduce((n, r) => n + r, 0);
  const perRequest: OutputTensor[][] = rows.map(() => []);
  for (const t of outputs) {
    const data = typedView(t);
    if (rows.length === 1) {
      perRequest[0].push({ name: t.name, shape: t.dims, data });
      continue;
    }
    if (t.dims[0] !== total) throw new Error(`output ${t.name} has first dimension ${t.dims[0]}, not the batch's ${total}`);
    const perRow = total === 0 ? 0 : data.length / total;
    let start = 0;
    rows.forEach((r, i) => {
      const end = start + r * perRow;
      const view = Array.isArray(data) ? data.slice(start, end) : data.subarray(start, end);
      perRequest[i].push({ name: t.name, shape: [r, ...t.dims.slice(1)], data: view as TensorData });
      start = end;
    });
  }
  return perRequest;
}
