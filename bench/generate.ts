// `npm run bench:generate`: text generation on the real server (streamed /v1/completions over loopback HTTP) against
// a plain sequential loop of raw session.run with a KV cache, side by side in this run: aggregate tokens/s at 1, 8 and
// 32 concurrent streams, the server's CPU time per generated token (all its threads, from /proc/<pid>/stat) over the
// loop's, and time to first token at 8 streams. Each figure is a ratio or a difference of two measurements taken here,
// the loop and the server each a process of its own, in alternating rounds (the medians are reported).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { writeDecoderModelDir, type DecoderDir } from '../examples/decoder-model.js';
import { CLI, freePort, processCpuSeconds, quick, Targets } from './support.js';

const PROMPT_TOKENS = 32;
const NEW_TOKENS = quick ? 32 : 48;
/** Prompts there are; a level runs two sequences a stream, at most these. */
const SEQUENCES = 32;
const THREADS = Number(process.env.BENCH_INTRA_OP_THREADS ?? 1);
const targets = new Targets();
const report = targets.report.bind(targets);

async function startServer(model: string, args: string[]): Promise<{ url: string; proc: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const proc = spawn(CLI, ['serve', '--model', model, '--name', 'bench', '--host', '127.0.0.1', '--http-port', String(port), '--log-level', 'error', '--drain-seconds', '0', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(`${url}/v2/health/ready`)).status === 200) break;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, proc, stop: () => new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); }) };
}

function prompts(n: number, vocab: number): number[][] {
  return Array.from({ length: n }, (_, s) => Array.from({ length: PROMPT_TOKENS }, (_, i) => (s * 131 + i * 17 + 3) % (vocab - 3)));
}

interface RawResult {
  tokens: number;
  seconds: number;
  cpu: number;
}

/** The plain loop: one sequence at a time, prefill then greedy decode with the KV cache, raw session.run. */
async function rawLoop(session: ort.InferenceSession, spec: DecoderDir['spec'], all: number[][]): Promise<RawResult> {
  const hd = spec.hidden / spec.heads;
  const started = performance.now();
  const cpu = process.cpuUsage();
  let tokens = 0;
  for (const prompt of all) {
    let past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < spec.layers; l++) for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, spec.kvHeads, 0, hd]);
    let input = prompt;
    let done = 0;
    for (let t = 0; t < NEW_TOKENS; t++) {
      const r = await session.run({
        ...past,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(input.map(BigInt)), [1, input.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(done + input.length).fill(1n), [1, done + input.length]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(input.map((_, i) => BigInt(done + i))), [1, input.length]),
      });
      const logits = r.logits.data as Float32Array;
      const V = spec.vocabSize;
      const at = (input.length - 1) * V;
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[at + v] > logits[at + best]) best = v;
      tokens++;
      done += input.length;
      input = [best];
      past = {};
      for (let l = 0; l < spec.layers; l++) {
        past[`past_key_values.${l}.key`] = r[`present.${l}.key`];
        past[`past_key_values.${l}.value`] = r[`present.${l}.value`];
      }
    }
  }
  const used = process.cpuUsage(cpu);
  return { tokens, seconds: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

/**
 * The raw loop in a process of its own, as the server is: neither side shares a heap, a garbage collector or an event
 * loop with the clients. It reports its own CPU time (all its threads).
 */
async function startRawLoop(model: DecoderDir): Promise<{ run(prompts: number[][]): Promise<RawResult>; stop(): void }> {
  const child = fork(new URL(import.meta.url).pathname, ['--raw-loop', model.dir, JSON.stringify(model.spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => child.once('message', r));
  return {
    run: (prompts) => new Promise((resolve) => {
      child.once('message', (m) => resolve(m as RawResult));
      child.send({ prompts });
    }),
    stop: () => child.kill(),
  };
}

async function rawLoopProcess(dir: string, spec: DecoderDir['spec']): Promise<void> {
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: THREADS, graphOptimizationLevel: 'all' });
  process.on('message', (m: { prompts: number[][] }) => void rawLoop(session, spec, m.prompts).then((r) => process.send!(r)));
  process.send!({ ready: true });
}

/** One streamed completion; resolves with its tokens and its time to first token (ms). */
async function streamOne(url: string, prompt: number[]): Promise<{ tokens: number; ttftMs: number }> {
  const sent = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'bench', prompt, max_tokens: NEW_TOKENS, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let ttftMs = -1;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (ttftMs < 0) ttftMs = performance.now() - sent;
    text += decoder.decode(value, { stream: true });
  }
  const usage = /"usage":\{"prompt_tokens":\d+,"completion_tokens":(\d+)/.exec(text);
  if (!usage) throw new Error('no usage in the stream');
  return { tokens: Number(usage[1]), ttftMs };
}

/** `all` sequences over `streams` concurrent clients, each running its share back to back. */
async function serverLevel(url: string, pid: number, all: number[][], streams: number): Promise<{ tokens: number; seconds: number; cpu: number; ttfts: number[] }> {
  const ttfts: number[] = [];
  let tokens = 0;
  const cpu = processCpuSeconds(pid);
  const started = performance.now();
  await Promise.all(Array.from({ length: streams }, async (_, s) => {
    for (let i = s; i < all.length; i += streams) {
      const r = await streamOne(url, all[i]);
      tokens += r.tokens;
      ttfts.push(r.ttftMs);
    }
  }));
  return { tokens, seconds: (performance.now() - started) / 1000, cpu: processCpuSeconds(pid) - cpu, ttfts };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const ROUNDS = quick ? 2 : 5;
type Level = Awaited<ReturnType<typeof serverLevel>>;

/**
 * Rounds of: the raw loop over `rawSequences`, then the server at each stream count; the figures are the medians of
 * each round's ratios, so that load from elsewhere on the machine weighs on both sides alike.
 */
async function rounds(dir: string, name: string, opts: Parameters<typeof writeDecoderModelDir>[1], levels: number[], rawSequences: number) {
  const model = writeDecoderModelDir(join(dir, name), { maxPositions: 1024, ...opts });
  const { spec } = model;
  console.log(`# ${name}: hidden ${spec.hidden}, ${spec.layers} layers, ${spec.heads} heads / ${spec.kvHeads} KV heads, vocabulary ${spec.vocabSize}, float32; ` +
    `prompts of ${PROMPT_TOKENS} tokens, ${NEW_TOKENS} new tokens each (greedy, ignore_eos); intra-op threads ${THREADS}; ${availableParallelism()} CPUs shared by the server, the clients and the raw loop`);
  const raw = await startRawLoop(model);
  const server = await startServer(model.dir, ['--intra-op-threads', String(THREADS), '--max-num-seqs', '32']);
  const pid = server.proc.pid!;
  const all = prompts(SEQUENCES, spec.vocabSize);
  await raw.run(all.slice(0, 2));
  await serverLevel(server.url, pid, all.slice(0, 8), 8);
  const out = { raw: [] as RawResult[], levels: Object.fromEntries(levels.map((l) => [l, [] as Level[]])) as Record<number, Level[]> };
  for (let r = 0; r < ROUNDS; r++) {
    const loop = await raw.run(all.slice(0, rawSequences));
    out.raw.push(loop);
    const rawTps = loop.tokens / loop.seconds;
    const line = [`round ${r + 1}: raw loop ${rawTps.toFixed(0)} tokens/s, CPU ${(loop.cpu / loop.tokens * 1000).toFixed(3)} ms/token`];
    for (const streams of levels) {
      // Two sequences a stream (one each at 32 streams): every level keeps its streams busy for a while.
      const lv = await serverLevel(server.url, pid, all.slice(0, Math.min(all.length, Math.max(rawSequences, 2 * streams))), streams);
      out.levels[streams].push(lv);
      line.push(`${streams} stream${streams > 1 ? 's' : ''} ${(lv.tokens / lv.seconds).toFixed(0)} tokens/s (${(lv.tokens / lv.seconds / rawTps).toFixed(2)}x), CPU ${(lv.cpu / lv.tokens * 1000).toFixed(3)} ms/token`);
    }
    console.log(`      ${line.join('; ')}`);
  }
  raw.stop();
  await server.stop();
  const ratio = (streams: number) => median(out.levels[streams].map((lv, r) => (lv.tokens / lv.seconds) / (out.raw[r].tokens / out.raw[r].seconds)));
  const cpuOver = (streams: number) => median(out.levels[streams].map((lv, r) => lv.cpu / lv.tokens - out.raw[r].cpu / out.raw[r].tokens));
  const rawCpu = median(out.raw.map((x) => x.cpu / x.tokens));
  const serverCpu = (streams: number) => median(out.levels[streams].map((lv) => lv.cpu / lv.tokens));
  return { ratio, cpuOver, rawCpu, serverCpu, levels: out.levels };
}

const ms = (s: number) => `${s >= 0 ? '+' : ''}${(s * 1000).toFixed(3)} ms`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-bench-generate-'));
  try {
    // Throughput on a decoder whose weights (36 MB) do not stay in cache: like a real one, memory-bound one token at a time.
    const big = await rounds(dir, 'decoder-36MB', { hidden: 512, layers: 4, heads: 8, kvHeads: 2, intermediate: 1536 }, [1, 8, 32], 4);
    report('aggregate tokens/s at 8 streams vs the sequential raw session.run loop', `${big.ratio(8).toFixed(2)}x`, '>= 3x', big.ratio(8) >= 3);
    console.log(`      at 1 stream ${big.ratio(1).toFixed(2)}x, at 32 streams ${big.ratio(32).toFixed(2)}x (no target)`);
    const ttfts = big.levels[8].flatMap((lv) => lv.ttfts);
    report('time to first token at 8 streams', `p50 ${percentile(ttfts, 50).toFixed(1)} ms, p99 ${percentile(ttfts, 99).toFixed(1)} ms`, 'reported', true);
    const t32 = big.levels[32].flatMap((lv) => lv.ttfts);
    console.log(`      at 32 streams: p50 ${percentile(t32, 50).toFixed(1)} ms, p99 ${percentile(t32, 99).toFixed(1)} ms (no target)`);
    // What serving adds per token, on a decoder small enough that the session's own CPU does not drown it.
    const small = await rounds(dir, 'decoder-9MB', { hidden: 256, layers: 4, heads: 8, kvHeads: 2, intermediate: 768 }, [1, 8], 8);
    report('server CPU per generated token over the raw loop\'s, 1 stream', `${ms(small.cpuOver(1))} (server ${(small.serverCpu(1) * 1000).toFixed(3)}, raw ${(small.rawCpu * 1000).toFixed(3)} ms/token)`, '<= +0.3 ms', small.cpuOver(1) <= 0.0003);
    console.log(`      at 8 streams: ${ms(small.cpuOver(8))} per token over the raw loop (server ${(small.serverCpu(8) * 1000).toFixed(3)} ms/token: batching shares each run among the streams); ` +
      `the 36 MB decoder at 1 stream: ${ms(big.cpuOver(1))} (no target)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  targets.summarize();
}

(process.argv[2] === '--raw-loop' ? rawLoopProcess(process.argv[3], JSON.parse(process.argv[4])) : main()).catch((err) => {
  console.error(err);
  process.exit(2);
});
