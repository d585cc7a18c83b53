// The generation worker: the session, every running sequence's KV cache, and the decode loop with iteration-level
// batching. Each iteration: sequences asked to stop leave the batch; one decode step gives every decoding sequence
// its next token; then one prefill run takes at most `prefillChunkTokens` prompt tokens (several short prompts
// together, left-padded, or the next chunk of one long prompt), so a long prompt never holds the running streams up
// for its whole length. Sequences whose prompt is in join the batch at once; finished ones leave it at once.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { tensorSpec, type ModelSignature, type OrtValueMetadata } from '../signature.js';
import { createSession } from '../session-options.js';
import { fromOrtTensor, toOrtTensor } from '../ort-tensors.js';
import type { WireTensor } from '../worker-protocol.js';
import type { AddSequence, EngineConfigure, EngineInit, EngineReply, EngineRequest, StepEvents } from './engine-protocol.js';
import type { DecoderLayout } from './layout.js';
import { cacheBytes, emptyArray, packRows, stepMask, type CacheRows, type KvArray, type KvGeometry } from './kv-cache.js';
import { createRng, halfsToFloats, sampleToken } from './sampling.js';

const init = workerData as EngineInit;
const port = parentPort!;

function reply(msg: EngineReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function load(): Promise<ort.InferenceSession> {
  const failures: { provider: string; error: string }[] = [];
  for (const provider of init.executionProviders) {
    try {
      const { session } = await createSession((path, options) => ort.InferenceSession.create(path, options), init.modelPath, provider, init);
      const meta = session as unknown as { inputMetadata: OrtValueMetadata[]; outputMetadata: OrtValueMetadata[] };
      const signature: ModelSignature = { inputs: meta.inputMetadata.map(tensorSpec), outputs: meta.outputMetadata.map(tensorSpec) };
      reply({ type: 'loaded', provider, failures, signature });
      return session;
    } catch (err) {
      failures.push({ provider, error: (err as Error).message });
    }
  }
  reply({ type: 'load-failed', failures });
  throw new Error('model did not load');
}

interface Sequence {
  id: number;
  prompt: Int32Array;
  /** Prompt tokens in the cache. */
  done: number;
  /** While a long prompt is prefilled in chunks: its own cache (one row, no padding). */
  partial?: { past: ort.Tensor[]; length: number };
  /** The last token chosen, not yet in the cache: the next decode step's input. */
  last: number;
  generated: number;
  maxTokens: number;
  ignoreEos: boolean;
  temperature: number;
  topP: number;
  topK: number;
  rng: () => number;
}

class DecodeLoop {
  private readonly geometry: KvGeometry;
  private readonly kvType: 'float32' | 'float16';
  private readonly eos: Set<number>;
  /** The decoding batch: its sequences, the real cache length of each, the past tensors, their padded length. */
  private seqs: Sequence[] = [];
  private lens: number[] = [];
  private past: ort.Tensor[] = [];
  private length = 0;
  private readonly cancelled = new Set<number>();
  private prefilling: Sequence[] = [];
  private raws: { seq: number; inputs: WireTensor[] }[] = [];
  private events: StepEvents = { type: 'step', ids: [], tokens: [], ends: [], decodeRows: 0 };
  private readonly row: Float32Array;

  constructor(private readonly session: ort.InferenceSession, private readonly layout: DecoderLayout, eosTokenIds: number[], private readonly padTokenId: number) {
    this.geometry = { kvHeads: layout.kvHeads, headDim: layout.headDim, tensors: 2 * layout.layers, float16: layout.kvDtype === 'float16' };
    this.kvType = layout.kvDtype;
    this.eos = new Set(eosTokenIds);
    this.row = new Float32Array(layout.vocabSize);
  }

  get busy(): boolean {
    return this.seqs.length > 0 || this.prefilling.length > 0 || this.raws.length > 0 || this.cancelled.size > 0 || this.events.ends.length > 0;
  }

  handle(msg: EngineRequest): void {
    switch (msg.type) {
      case 'add':
        this.prefilling.push(this.sequence(msg));
        return;
      case 'cancel': {
        const i = this.prefilling.findIndex((s) => s.id === msg.id);
        if (i !== -1) {
          this.prefilling.splice(i, 1);
          this.events.ends.push({ id: msg.id, end: 'cancelled' });
        } else if (this.seqs.some((s) => s.id === msg.id)) this.cancelled.add(msg.id);
        return;
      }
      case 'run':
        this.raws.push({ seq: msg.seq, inputs: msg.inputs });
    }
  }

  private sequence(msg: AddSequence): Sequence {
    return {
      id: msg.id, prompt: msg.prompt, done: 0, last: -1, generated: 0, maxTokens: msg.maxTokens, ignoreEos: msg.ignoreEos,
      temperature: msg.sampling.temperature, topP: msg.sampling.topP, topK: msg.sampling.topK, rng: createRng(msg.sampling.seed),
    };
  }

  async iterate(): Promise<void> {
    if (this.cancelled.size > 0) {
      const leaving = this.seqs.flatMap((s, r) => (this.cancelled.has(s.id) ? [r] : []));
      for (const r of leaving) this.events.ends.push({ id: this.seqs[r].id, end: 'cancelled' });
      this.cancelled.clear();
      this.leave(leaving);
    }
    // Sequences cancelled before they joined the batch are reported here too.
    this.flush();
    const raw = this.raws.shift();
    if (raw) await this.runRaw(raw);
    if (this.seqs.length > 0) {
      await this.decode();
      this.flush();
    }
    if (this.prefilling.length > 0) {
      await this.prefill();
      this.flush();
    }
  }

  /** Posts what the last run produced, and the cache's size for /metrics. */
  private flush(): void {
    let bytes = cacheBytes(this.geometry, this.seqs.length, this.length);
    for (const s of this.prefilling) if (s.partial) bytes += cacheBytes(this.geometry, 1, s.partial.length);
    init.stats[0] = bytes;
    const e = this.events;
    if (e.ids.length === 0 && e.ends.length === 0) return;
    reply(e);
    this.events = { type: 'step', ids: [], tokens: [], ends: [], decodeRows: 0 };
  }

  private tensor(data: KvArray, dims: number[]): ort.Tensor {
    return new ort.Tensor(this.kvType, data as Float32Array, dims);
  }

  private feeds(ids: BigInt64Array, rows: number, seq: number, mask: BigInt64Array, positions: BigInt64Array, past: ort.Tensor[] | undefined, pastLength: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [rows, seq]),
      attention_mask: new ort.Tensor('int64', mask, [rows, pastLength + seq]),
    };
    if (this.layout.positionIds) feeds.position_ids = new ort.Tensor('int64', positions, [rows, seq]);
    if (this.layout.useCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.from([pastLength > 0 ? 1 : 0]), [1]);
    const { kvHeads, headDim } = this.layout;
    for (let l = 0; l < this.layout.layers; l++) {
      feeds[`past_key_values.${l}.key`] = past?.[2 * l] ?? this.tensor(emptyArray(this.geometry, 0), [rows, kvHeads, 0, headDim]);
      feeds[`past_key_values.${l}.value`] = past?.[2 * l + 1] ?? this.tensor(emptyArray(this.geometry, 0), [rows, kvHeads, 0, headDim]);
    }
    return feeds;
  }

  private presents(out: ort.InferenceSession.OnnxValueMapType): ort.Tensor[] {
    const p: ort.Tensor[] = [];
    for (let l = 0; l < this.layout.layers; l++) p.push(out[`present.${l}.key`] as ort.Tensor, out[`present.${l}.value`] as ort.Tensor);
    return p;
  }

  /** Chooses the token for row `r` at position `pos` of a run's logits [rows, seq, vocab]. */
  private choose(s: Sequence, logits: ort.Tensor, r: number, seq: number, pos: number): number {
    const V = this.layout.vocabSize;
    const at = (r * seq + pos) * V;
    const data = logits.data as Float32Array | Uint16Array;
    const row = data instanceof Uint16Array ? halfsToFloats(data.subarray(at, at + V), this.row) : data.subarray(at, at + V);
    const token = sampleToken(row, s, s.rng);
    s.last = token;
    s.generated++;
    this.events.ids.push(s.id);
    this.events.tokens.push(token);
    return token;
  }

  /** Whether the sequence ends with this token; if so, says so in the events. */
  private ended(s: Sequence, token: number): boolean {
    const end = !s.ignoreEos && this.eos.has(token) ? 'eos' : s.generated >= s.maxTokens ? 'length' : undefined;
    if (end) this.events.ends.push({ id: s.id, end });
    return end !== undefined;
  }

  private fail(seqs: Sequence[], err: Error): void {
    for (const s of seqs) this.events.ends.push({ id: s.id, end: 'failed', error: err.message });
  }

  private async decode(): Promise<void> {
    const B = this.seqs.length;
    const L = this.length;
    const ids = new BigInt64Array(B);
    const positions = new BigInt64Array(B);
    for (let r = 0; r < B; r++) {
      ids[r] = BigInt(this.seqs[r].last);
      positions[r] = BigInt(this.lens[r]);
    }
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(this.feeds(ids, B, 1, stepMask(this.lens, L, 1), positions, this.past, L));
    } catch (err) {
      this.fail(this.seqs, err as Error);
      this.leave(this.seqs.map((_, r) => r));
      return;
    }
    this.past = this.presents(out);
    this.length = L + 1;
    this.events.decodeRows = B;
    const leaving: number[] = [];
    for (let r = 0; r < B; r++) {
      this.lens[r]++;
      const s = this.seqs[r];
      if (this.ended(s, this.choose(s, out.logits as ort.Tensor, r, 1, 0))) leaving.push(r);
    }
    if (leaving.length) this.leave(leaving);
  }

  /** Rows leave the batch: the rest are repacked at once, so their cache is freed now. */
  private leave(rows: number[]): void {
    if (rows.length === 0) return;
    const gone = new Set(rows);
    const keep = this.seqs.map((_, r) => r).filter((r) => !gone.has(r));
    if (keep.length === 0) {
      this.seqs = [];
      this.lens = [];
      this.past = [];
      this.length = 0;
      return;
    }
    this.pack([{ data: this.past.map((t) => t.data as KvArray), length: this.length, rows: keep.map((r) => ({ index: r, len: this.lens[r] })) }], keep.map((r) => this.seqs[r]));
  }

  private pack(parts: CacheRows[], seqs: Sequence[]): void {
    const packed = packRows(this.geometry, parts);
    const dims = [seqs.length, this.layout.kvHeads, packed.length, this.layout.headDim];
    this.seqs = seqs;
    this.lens = packed.lens;
    this.length = packed.length;
    this.past = packed.data.map((d) => this.tensor(d, dims));
  }

  /** Sequences whose prompt is in: each gets its first token, and those not already done join the batch. */
  private join(seqs: Sequence[], logits: ort.Tensor, seqLen: number, present: ort.Tensor[], length: number, lens: number[]): void {
    const joining: number[] = [];
    seqs.forEach((s, r) => {
      if (!this.ended(s, this.choose(s, logits, r, seqLen, seqLen - 1))) joining.push(r);
    });
    if (joining.length === 0) return;
    const parts: CacheRows[] = [];
    if (this.seqs.length > 0) parts.push({ data: this.past.map((t) => t.data as KvArray), length: this.length, rows: this.seqs.map((_, r) => ({ index: r, len: this.lens[r] })) });
    parts.push({ data: present.map((t) => t.data as KvArray), length, rows: joining.map((r) => ({ index: r, len: lens[r] })) });
    this.pack(parts, [...this.seqs, ...joining.map((r) => seqs[r])]);
  }

  private async prefill(): Promise<void> {
    const budget = init.prefillChunkTokens;
    const head = this.prefilling[0];
    const remaining = head.prompt.length - head.done;
    if (head.done > 0 || remaining > budget) return this.prefillChunk(head, Math.min(remaining, budget));
    // Whole short prompts together, left-padded to the longest, within the budget of padded tokens.
    const group: Sequence[] = [];
    let longest = 0;
    for (const s of this.prefilling) {
      const len = s.prompt.length;
      if (s.done > 0 || len > budget) break;
      const wider = Math.max(longest, len);
      if (group.length > 0 && (group.length + 1) * wider > budget) break;
      group.push(s);
      longest = wider;
    }
    this.prefilling.splice(0, group.length);
    const k = group.length;
    const S = longest;
    const ids = new BigInt64Array(k * S).fill(BigInt(this.padTokenId));
    const positions = new BigInt64Array(k * S);
    const lens = group.map((s) => s.prompt.length);
    group.forEach((s, r) => {
      const pad = S - s.prompt.length;
      for (let i = 0; i < s.prompt.length; i++) {
        ids[r * S + pad + i] = BigInt(s.prompt[i]);
        positions[r * S + pad + i] = BigInt(i);
      }
    });
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(this.feeds(ids, k, S, stepMask(lens, S, 0), positions, undefined, 0));
    } catch (err) {
      return this.fail(group, err as Error);
    }
    for (const s of group) s.done = s.prompt.length;
    this.join(group, out.logits as ort.Tensor, S, this.presents(out), S, lens);
  }

  /** The next `n` tokens of one prompt, on its own cache. */
  private async prefillChunk(s: Sequence, n: number): Promise<void> {
    const P = s.done;
    const ids = new BigInt64Array(n);
    const positions = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = BigInt(s.prompt[P + i]);
      positions[i] = BigInt(P + i);
    }
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(this.feeds(ids, 1, n, new BigInt64Array(P + n).fill(1n), positions, s.partial?.past, P));
    } catch (err) {
      this.prefilling.shift();
      return this.fail([s], err as Error);
    }
    s.done = P + n;
    const present = this.presents(out);
    if (s.done < s.prompt.length) {
      s.partial = { past: present, length: s.done };
      return;
    }
    this.prefilling.shift();
    s.partial = undefined;
    this.join([s], out.logits as ort.Tensor, n, present, s.done, [s.done]);
  }

  private async runRaw(raw: { seq: number; inputs: WireTensor[] }): Promise<void> {
    const started = performance.now();
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of raw.inputs) feeds[t.name] = toOrtTensor(t);
      const results = await this.session.run(feeds);
      const computeSeconds = (performance.now() - started) / 1000;
      const transfer: ArrayBuffer[] = [];
      const outputs = Object.entries(results).map(([name, t]) => fromOrtTensor(name, t as ort.Tensor, transfer));
      reply({ type: 'result', seq: raw.seq, outputs, computeSeconds }, transfer);
    } catch (err) {
      reply({ type: 'run-failed', seq: raw.seq, error: (err as Error).message });
    }
  }
}

/** The next message on the channel, sleeping on the shared counter until one comes. */
function nextMessage(): EngineRequest | EngineConfigure {
  const { requests, signal } = init.channel;
  for (;;) {
    const seen = Atomics.load(signal, 0);
    const received = receiveMessageOnPort(requests);
    if (received) return received.message as EngineRequest | EngineConfigure;
    Atomics.wait(signal, 0, seen);
  }
}

async function main(): Promise<void> {
  const session = await load();
  const configure = nextMessage() as EngineConfigure;
  if (configure.type !== 'configure') {
    await session.release();
    process.exit(0);
  }
  const loop = new DecodeLoop(session, configure.layout, configure.eosTokenIds, configure.padTokenId);
  const { requests, signal } = init.channel;
  for (;;) {
    const seen = Atomics.load(signal, 0);
    let received;
    let closing = false;
    while ((received = receiveMessageOnPort(requests))) {
      const msg = received.message as EngineRequest;
      if (msg.type === 'close') closing = true;
      else loop.handle(msg);
    }
    if (closing) break;
    if (!loop.busy) {
      Atomics.wait(signal, 0, seen);
      continue;
    }
    await loop.iterate();
  }
  await session.release();
  process.exit(0);
}

main().catch(() => {
  // load() already reported the failure; the main thread decides how to exit.
});
