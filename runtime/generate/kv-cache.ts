// The key/value cache of a batch of sequences, as the decoder layout takes it: for each layer a key and a value tensor
// [batch, kv_heads, length, head_dim], every row left-padded to the batch's length (the attention mask marks the
// padding). Sequences join and leave between steps; the rows are then repacked: each row's real tokens are copied to
// the right end of a new, shorter or wider, tensor. Between such changes the present tensors of one step are the past
// of the next as they are, with no copy here.

export type KvArray = Float32Array | Uint16Array;

export interface KvGeometry {
  kvHeads: number;
  headDim: number;
  /** 2 x layers tensors: layer 0 key, layer 0 value, layer 1 key, ... */
  tensors: number;
  float16: boolean;
}

/** Some rows of a cache: its tensors, their length, and for each row kept its index there and its real length. */
export interface CacheRows {
  data: readonly KvArray[];
  length: number;
  rows: readonly { index: number; len: number }[];
}

export interface PackedCache {
  data: KvArray[];
  /** Columns per row: the longest real length among the rows. */
  length: number;
  /** The real length of each row, in order. */
  lens: number[];
}

export function emptyArray(g: KvGeometry, n: number): KvArray {
  return g.float16 ? new Uint16Array(n) : new Float32Array(n);
}

/**
 * One cache holding the given rows of several caches, in order: each row's last `len` columns, right-aligned, the
 * columns to their left zero (zero keys and values under a zero mask contribute nothing).
 */
export function packRows(g: KvGeometry, parts: readonly CacheRows[]): PackedCache {
  const lens = parts.flatMap((p) => p.rows.map((r) => r.len));
  const length = lens.reduce((a, b) => Math.max(a, b), 0);
  const B = lens.length;
  const { kvHeads: H, headDim: hd } = g;
  const data: KvArray[] = [];
  for (let t = 0; t < g.tensors; t++) {
    const out = emptyArray(g, B * H * length * hd);
    let row = 0;
    for (const part of parts) {
      const src = part.data[t];
      for (const { index, len } of part.rows) {
        for (let h = 0; h < H; h++) {
          const from = ((index * H + h) * part.length + (part.length - len)) * hd;
          const to = ((row * H + h) * length + (length - len)) * hd;
          out.set(src.subarray(from, from + len * hd), to);
        }
        row++;
      }
    }
    data.push(out);
  }
  return { data, length, lens };
}

/** Bytes a cache of `rows` rows of `length` columns takes. */
export function cacheBytes(g: KvGeometry, rows: number, length: number): number {
  return g.tensors * rows * g.kvHeads * length * g.headDim * (g.float16 ? 2 : 4);
}

/**
 * The attention mask of a step over a batch: row r has `length - lens[r]` zeros (its padding), then ones for its
 * cached tokens and for the `seq` tokens of this step.
 */
export function stepMask(lens: readonly number[], length: number, seq: number): BigInt64Array {
  const width = length + seq;
  const mask = new BigInt64Array(lens.length * width);
  for (let r = 0; r < lens.length; r++) mask.fill(1n, r * width + (length - lens[r]), (r + 1) * width);
  return mask;
}
