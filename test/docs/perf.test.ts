// The load-testing page's commands, run as written against a real runtime (shortened steps, a later flag wins).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../support/runtime-process.js';

const page = readFileSync(join(REPO, 'docs', 'perf.md'), 'utf8');

/**
 * Runs the page's perf command `args` (already pointed at a test server) with `extra` flags appended (a later flag
 * wins), expects it to exit 0 with nothing on stderr, and returns the results.json it wrote into `outDir`.
 */
async function runPerf(args: string[], extra: string[], outDir: string): Promise<any> {
  const proc = spawn(process.execPath, [join(REPO, 'bin/modelplane.js'), 'perf', ...args, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  // On a machine busy with other work the load generator may warn that it is the bottleneck: no fault of the command.
  const { withoutClientCpuWarnings } = await import('../perf/perf-cli.js');
  expect(withoutClientCpuWarnings(err)).toBe('');
  expect(code).toBe(0);
  return JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'));
}

test('the perf sweep over gRPC runs against the runtime\'s gRPC port, its breakdown from --metrics-url', async () => {
  const { buildExampleModels } = await import('../../examples/build-models.js');
  const { freePort, startRuntime, tempDir } = await import('../support/runtime-process.js');
  const dir = tempDir('modelplane-docs-perf-grpc-');
  const models = buildExampleModels(dir.path);
  const grpcPort = await freePort();
  const rt = await startRuntime(['--model', models.find((m) => m.path.endsWith('simple.onnx'))!.path, '--grpc-port', String(grpcPort), '--log-level', 'warn']);
  try {
    const line = /^npx modelplane perf (--protocol grpc .+)$/m.exec(page);
    expect(line).not.toBeNull();
    const swap: Record<string, string> = { 'grpc://localhost:9000': `grpc://127.0.0.1:${grpcPort}`, 'http://localhost:8080/metrics': `${rt.url}/metrics`, 'perf-grpc': join(dir.path, 'perf-grpc') };
    const args = line![1].split(/\s+/).map((a) => swap[a] ?? a);
    const results = await runPerf(args, ['--duration', '300ms', '--warmup', '100ms'], join(dir.path, 'perf-grpc'));
    expect(results.target.protocol).toBe('grpc');
    expect(results.steps.map((s: { concurrency: number }) => s.concurrency)).toEqual([1, 4]);
    for (const s of results.steps) {
      expect(s.errorCount).toBe(0);
      expect(s.server).toEqual({ queueMs: expect.any(Number), computeMs: expect.any(Number), batchSize: expect.any(Number) });
    }
  } finally {
    await rt.stop();
    dir.remove();
  }
});

test('the perf sweep runs against the example model and writes its report', async () => {
  const { buildExampleModels } = await import('../../examples/build-models.js');
  const { startRuntime, tempDir } = await import('../support/runtime-process.js');
  const dir = tempDir('modelplane-docs-perf-');
  const models = buildExampleModels(dir.path);
  const rt = await startRuntime(['--model', models.find((m) => m.path.endsWith('simple.onnx'))!.path, '--log-level', 'warn']);
  try {
    const line = /^npx modelplane perf (.+)$/m.exec(page);
    expect(line).not.toBeNull();
    // The command as written, pointed at this runtime, its steps shortened (a later flag wins).
    const args = line![1].split(/\s+/).map((a) => (a === 'http://localhost:8080' ? rt.url : a === 'perf-results' ? join(dir.path, 'perf-results') : a));
    const results = await runPerf(args, ['--duration', '300ms', '--warmup', '100ms'], join(dir.path, 'perf-results'));
    expect(results.steps.map((s: { concurrency: number }) => s.concurrency)).toEqual([1, 2, 4, 8]);
    expect(readFileSync(join(dir.path, 'perf-results', 'report.html'), 'utf8')).toContain('<svg');
  } finally {
    await rt.stop();
    dir.remove();
  }
});

test('the --generate sweep runs against the example decoder, its prompts exact by its tokenizer', async () => {
  const { writeDecoderModelDir } = await import('../../examples/decoder-model.js');
  const { startRuntime, tempDir } = await import('../support/runtime-process.js');
  const dir = tempDir('modelplane-docs-perf-generate-');
  const model = writeDecoderModelDir(join(dir.path, 'tiny'));
  const rt = await startRuntime(['--model', model.dir, '--log-level', 'warn']);
  try {
    const line = /^npx modelplane perf (--generate .+)$/m.exec(page);
    expect(line).not.toBeNull();
    const swap: Record<string, string> = { 'http://localhost:8080': rt.url, 'models/tiny': model.dir, 'perf-generate': join(dir.path, 'perf-generate') };
    const args = line![1].split(/\s+/).map((a) => swap[a] ?? a);
    // As written, its steps shortened (a later flag wins).
    const results = await runPerf(args, ['--duration', '500ms', '--warmup', '100ms', '--quiet'], join(dir.path, 'perf-generate'));
    expect(results.settings.generate).toEqual({ endpoint: 'completions', promptTokens: 128, outputTokens: 64, tokenizer: model.dir });
    expect(results.steps.map((s: { concurrency: number }) => s.concurrency)).toEqual([1, 4, 8]);
    for (const s of results.steps) {
      expect(s.errorCount).toBe(0);
      expect(s.generation).toMatchObject({ outputTokens: s.requests * 64, promptTokens: { asked: 128, counted: 128 } });
      expect(s.generation.ttftMs.p50).toBeLessThanOrEqual(s.latencyMs.p50);
      expect(s.server).toMatchObject({ ttftMs: expect.any(Number), itlMs: expect.any(Number) });
    }
  } finally {
    await rt.stop();
    dir.remove();
  }
}, 120_000);
