// The real `modelplane optimize` process (needs `tsc` output in dist/): exit codes, stdout/stderr, the report
// and the termination message the operator reads back.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mlpModel, writeModel } from '../../examples/onnx-models.js';
import { parseSummaryLine, REPORT_FILE } from '../../common/optimization-report.js';
import { runCli, type CliRun } from '../support/runtime-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelplane-optimize-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<CliRun & { termination: string }> {
  const termination = join(dir, `termination-${Math.random().toString(36).slice(2)}`);
  writeFileSync(termination, ''); // as the kubelet provides it
  // Speed is judged only where a test asks (a later --min-speedup wins): a tie on this machine is no failure.
  const r = await runCli(['optimize', '--latency-budget-ms', '200', '--min-speedup', '0', ...args], { env: { PATH: process.env.PATH, MODELPLANE_TERMINATION_LOG: termination } });
  return { ...r, termination: existsSync(termination) ? readFileSync(termination, 'utf8') : '' };
}

test('success: exit 0, the summary on stdout, and the summary as the termination message', async () => {
  const model = writeModel(join(dir, 'mlp.onnx'), mlpModel(128, 2));
  const out = join(dir, 'ok');
  const r = await run(['--model', model, '--out', out, '--quantize', 'int8', '--graph-optimization', 'extended']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/int8 \+ graph optimisation extended: [\d.]+x smaller/);
  const summary = parseSummaryLine(r.termination)!;
  expect(summary).toMatchObject({ applied: true, reason: 'Applied', quantize: 'int8' });
  expect(summary.optimizedBytes).toBeLessThan(summary.originalBytes!);
  expect(summary.cosine).toBeGreaterThan(0.999);
  expect(readdirSync(out).sort()).toEqual(['model.onnx', REPORT_FILE]);
});

test.each([
  { name: 'a corrupt file', bytes: 'garbage that is no protobuf', code: 3, reason: 'InvalidModel' },
  { name: 'a failed gate', code: 5, reason: 'AccuracyGateFailed', extra: ['--max-abs-error', '0'] },
])('$name exits $code; with --fallback-to-original it exits 0 and the report says why', async ({ name, bytes, code, reason, extra }) => {
  const slug = name.replace(/\W/g, '');
  const model = join(dir, `${slug}.onnx`);
  if (bytes) writeFileSync(model, bytes);
  else writeModel(model, mlpModel(64, 2));
  const args = ['--model', model, '--quantize', 'int8', ...(extra ?? [])];
  const strict = await run([...args, '--out', join(dir, `${slug}-strict`)]);
  expect(strict.code).toBe(code);
  expect(strict.stderr).toContain(reason === 'InvalidModel' ? 'InvalidModel' : 'accuracy gate failed');
  expect(existsSync(join(dir, `${slug}-strict`, 'model.onnx'))).toBe(false);

  const out = join(dir, `${slug}-fallback`);
  const copy = join(dir, `${slug}-report-copy.json`);
  const lenient = await run([...args, '--out', out, '--fallback-to-original', '--report', copy]);
  expect(lenient.code).toBe(0);
  expect(parseSummaryLine(lenient.termination)).toMatchObject({ applied: false, reason });
  expect(readdirSync(out)).toEqual([REPORT_FILE]);
  expect(JSON.parse(readFileSync(join(out, REPORT_FILE), 'utf8'))).toMatchObject({ applied: false, reason });
  // The --report copy is written whether the step fell back or not.
  expect(readFileSync(copy, 'utf8')).toBe(readFileSync(join(out, REPORT_FILE), 'utf8'));
});

test('--min-speedup: a model not that much faster exits 8 (SpeedGateFailed); with --fallback-to-original 0, the summary says why', async () => {
  const model = writeModel(join(dir, 'speed.onnx'), mlpModel(64, 2));
  // No optimisation makes a model a thousand times faster.
  const args = ['--model', model, '--quantize', 'int8', '--min-speedup', '1000'];
  const strict = await run([...args, '--out', join(dir, 'speed-strict')]);
  expect(strict.code).toBe(8);
  expect(strict.stderr).toMatch(/optimize: speed gate failed: batch-1 speed-up [\d.]+x \([\d.]+ ms -> [\d.]+ ms\) is below --min-speedup 1000; no optimised model written/);
  expect(parseSummaryLine(strict.termination)).toMatchObject({ applied: false, reason: 'SpeedGateFailed', speedup: expect.any(Number) });
  const lenient = await run([...args, '--out', join(dir, 'speed-fallback'), '--fallback-to-original']);
  expect(lenient.code).toBe(0);
  expect(parseSummaryLine(lenient.termination)).toMatchObject({ applied: false, reason: 'SpeedGateFailed' });
  expect(readdirSync(join(dir, 'speed-fallback'))).toEqual([REPORT_FILE]);
  // The log line says what was not written and why, its own message and the report's kept apart.
  const warned = lenient.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
  expect(warned).toMatchObject({ message: 'optimised model not written', reason: 'SpeedGateFailed', detail: expect.stringMatching(/^speed gate failed: /) });
  const bad = await run(['--model', model, '--out', join(dir, 'x'), '--min-speedup', 'fast']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--min-speedup: must be a number, got "fast"/);
});

test('flags are checked before any work: a bad --quantize names the choices', async () => {
  const r = await run(['--model', 'x.onnx', '--out', join(dir, 'x'), '--quantize', 'int4']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/--quantize.*int8, fp16/);
});
