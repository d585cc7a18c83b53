// README promises that can be checked here: the generated spec reference, the quickstart, the test command.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { specReferenceMarkdown } from '../../operator/api/reference.js';
import { REPO } from '../support/runtime-process.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

test('the spec reference is the one the schema generates (npm run docs:reference)', () => {
  expect(readme).toContain(specReferenceMarkdown());
});

test('README, package.json and .ci/run agree on the commands', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const ci = readFileSync(join(REPO, '.ci/run'), 'utf8');
  expect(readme).toContain('npm test');
  expect(readme).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm ci');
  expect(ci).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
  expect(ci).toMatch(/npm ci/);
  expect(ci).toMatch(/npm test/);
  expect(pkg.scripts.start).toBe('exec node dist/examples/quickstart.js');
  for (const script of ['bench:runtime', 'bench:operator', 'bench:local', 'docs:reference', 'crd:generate']) expect(pkg.scripts[script]).toBeDefined();
});

test('npm start runs local mode on examples/local/, prints URLs on the chosen port, and its curl gets a prediction', async () => {
  const proc = spawn(process.execPath, [join(REPO, 'dist/examples/quickstart.js'), '--port', '0'], {
    env: { ...process.env, MODELPLANE_TERMINATION_LOG: '/nonexistent/termination-log' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 900 && !out.includes('Dashboard:') && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    const curl = /curl -s (\S+) -H 'Content-Type: application\/json' -d '([^']+)'/.exec(out);
    expect(curl).not.toBeNull();
    const router = /the router is (http:\/\/127\.0\.0\.1:(\d+))/.exec(out)!;
    expect(router).not.toBeNull();
    expect(Number(router[2])).toBeGreaterThan(0);
    expect(curl![1]).toBe(`${router[1]}/v2/models/simple/infer`);
    expect(out).toContain(`Dashboard:       ${router[1]}/`);
    const r = await fetch(curl![1], { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: curl![2] });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.outputs[0]).toMatchObject({ name: 'OUTPUT0', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i + 2) });
    // Both example ModelDeployments run, one of them autoscaled.
    const list = await (await fetch(`${router[1]}/apis/serving.modelplane.io/v1alpha1/modeldeployments`)).json();
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name).sort()).toEqual(['mlp', 'simple']);
    expect(list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'mlp').spec.autoscaling).toBeDefined();
  } finally {
    proc.kill('SIGINT');
  }
  expect(await exited).toBe(0);
});

test('the perf sweep over gRPC in README runs against the runtime\'s gRPC port, its breakdown from --metrics-url', async () => {
  const { buildExampleModels } = await import('../../examples/build-models.js');
  const { freePort, startRuntime, tempDir } = await import('../support/runtime-process.js');
  const dir = tempDir('modelplane-readme-perf-grpc-');
  const models = buildExampleModels(dir.path);
  const grpcPort = await freePort();
  const rt = await startRuntime(['--model', models.find((m) => m.path.endsWith('simple.onnx'))!.path, '--grpc-port', String(grpcPort), '--log-level', 'warn']);
  try {
    const line = /^npx modelplane perf (--protocol grpc .+)$/m.exec(readme);
    expect(line).not.toBeNull();
    const swap: Record<string, string> = { 'grpc://localhost:9000': `grpc://127.0.0.1:${grpcPort}`, 'http://localhost:8080/metrics': `${rt.url}/metrics`, 'perf-grpc': join(dir.path, 'perf-grpc') };
    const args = line![1].split(/\s+/).map((a) => swap[a] ?? a);
    const proc = spawn(process.execPath, [join(REPO, 'bin/modelplane.js'), 'perf', ...args, '--duration', '300ms', '--warmup', '100ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    const { withoutClientCpuWarnings } = await import('../perf/perf-cli.js');
    expect(withoutClientCpuWarnings(err)).toBe('');
    expect(code).toBe(0);
    const results = JSON.parse(readFileSync(join(dir.path, 'perf-grpc', 'results.json'), 'utf8'));
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

test('the perf sweep in README runs against the example model and writes its report', async () => {
  const { buildExampleModels } = await import('../../examples/build-models.js');
  const { startRuntime, tempDir } = await import('../support/runtime-process.js');
  const dir = tempDir('modelplane-readme-perf-');
  const models = buildExampleModels(dir.path);
  const rt = await startRuntime(['--model', models.find((m) => m.path.endsWith('simple.onnx'))!.path, '--log-level', 'warn']);
  try {
    const line = /^npx modelplane perf (.+)$/m.exec(readme);
    expect(line).not.toBeNull();
    // The command as written, pointed at this runtime, its steps shortened (a later flag wins).
    const args = line![1].split(/\s+/).map((a) => (a === 'http://localhost:8080' ? rt.url : a === 'perf-results' ? join(dir.path, 'perf-results') : a));
    const proc = spawn(process.execPath, [join(REPO, 'bin/modelplane.js'), 'perf', ...args, '--duration', '300ms', '--warmup', '100ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    // On a machine busy with other work the load generator may warn that it is the bottleneck: no fault of the command.
    const { withoutClientCpuWarnings } = await import('../perf/perf-cli.js');
    expect(withoutClientCpuWarnings(err)).toBe('');
    expect(code).toBe(0);
    const results = JSON.parse(readFileSync(join(dir.path, 'perf-results', 'results.json'), 'utf8'));
    expect(results.steps.map((s: { concurrency: number }) => s.concurrency)).toEqual([1, 2, 4, 8]);
    expect(readFileSync(join(dir.path, 'perf-results', 'report.html'), 'utf8')).toContain('<svg');
  } finally {
    await rt.stop();
    dir.remove();
  }
});
