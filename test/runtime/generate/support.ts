// What the generation tests share: a model directory built in code, a reader of server-sent events over plain fetch,
// and a reference decoder: a plain single-sequence greedy loop over raw onnxruntime-node, written here apart from the
// runtime's engine, that the engine's answers are compared with.
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { writeDecoderModelDir, type DecoderDir, type DecoderDirOptions } from '../../../examples/decoder-model.js';
import { metricValue } from '../../support/runtime-process.js';
import { seededRandom } from '../../../common/seeded-random.js';

export function decoderDir(parent: string, name: string, opts: DecoderDirOptions = {}): DecoderDir {
  return writeDecoderModelDir(join(parent, name), opts);
}

/** The `data:` payloads of a server-sent event stream, as they arrive; `onEvent` may stop reading by returning false. */
export async function readEvents(res: Response, onEvent?: (data: string) => boolean | void): Promise<string[]> {
  const events: string[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      events.push(data);
      if (onEvent?.(data) === false) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
}

/** Polls /metrics until `check` holds for the value of `name` (labels as `metricValue` takes them); returns the value. */
export async function waitForMetric(url: string, name: string, check: (v: number) => boolean, labels = ''): Promise<number> {
  for (let i = 0; i < 3000; i++) {
    const v = metricValue(await (await fetch(`${url}/metrics`)).text(), name, labels);
    if (check(v)) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${name}${labels ? `{${labels}}` : ''} never satisfied the condition`);
}

/** A float16's value, written here apart from the runtime's conversion (the reference decoder reads float16 logits). */
export const halfToFloat = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
};

/** Greedy decoding of one prompt at a time with its own KV cache: the plain loop a generation server must agree with. */
export class ReferenceDecoder {
  private constructor(private readonly session: ort.InferenceSession, private readonly model: DecoderDir) {}

  static async load(model: DecoderDir): Promise<ReferenceDecoder> {
    return new ReferenceDecoder(await ort.InferenceSession.create(join(model.dir, 'model.onnx'), { intraOpNumThreads: 1 }), model);
  }

  /** The greedy tokens after `prompt`: `maxTokens` of them, or up to and including the first of `eos`. */
  async greedy(prompt: readonly number[], maxTokens: number, eos: readonly number[] = []): Promise<number[]> {
    const { spec } = this.model;
    const hd = spec.hidden / spec.heads;
    const fp16 = spec.kvDtype === 'float16';
    let past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < spec.layers; l++) {
      for (const kv of ['key', 'value']) {
        past[`past_key_values.${l}.${kv}`] = new ort.Tensor(fp16 ? 'float16' : 'float32', fp16 ? new Uint16Array(0) : new Float32Array(0), [1, spec.kvHeads, 0, hd]);
      }
    }
    const out: number[] = [];
    let input = [...prompt];
    let done = 0;
    while (out.length < maxTokens) {
      const feeds: Record<string, ort.Tensor> = {
        ...past,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(input.map(BigInt)), [1, input.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(done + input.length).fill(1n), [1, done + input.length]),
      };
      if (spec.positionIds) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(input.map((_, i) => BigInt(done + i))), [1, input.length]);
      if (spec.useCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.from([done > 0 ? 1 : 0]), [1]);
      const r = await this.session.run(feeds);
      const logits = r.logits.data as Float32Array | Uint16Array;
      const V = spec.vocabSize;
      const at = (input.length - 1) * V;
      let best = 0;
      let max = -Infinity;
      for (let v = 0; v < V; v++) {
        const x = logits instanceof Uint16Array ? halfToFloat(logits[at + v]) : logits[at + v];
        if (x > max) {
          max = x;
          best = v;
        }
      }
      out.push(best);
      if (eos.includes(best)) break;
      done += input.length;
      input = [best];
      past = {};
      for (let l = 0; l < spec.layers; l++) {
        past[`past_key_values.${l}.key`] = r[`present.${l}.key`];
        past[`past_key_values.${l}.value`] = r[`present.${l}.value`];
      }
    }
    return out;
  }
}

/** Deterministic token-id prompts of the given lengths, special tokens left out. */
export function tokenPrompts(lengths: readonly number[], vocab: number, seed = 1): number[][] {
  const next = seededRandom(seed);
  return lengths.map((n) => Array.from({ length: n }, () => Math.floor(next() * vocab)));
}
