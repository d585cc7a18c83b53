// `modelplane operator` as a process, the way a pod runs it: flags and env, health and metrics endpoints,
// reconciling against the fake API server, and SIGTERM releasing the lease before a clean exit.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { Harness, condition, eventually, modelDeployment } from './harness.js';

const BIN = fileURLToPath(new URL('../../../bin/modelplane.js', import.meta.url));
let h: Harness;
let proc: ChildProcess | undefined;
let output = '';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  await h.stop();
});

it('reconciles, serves /healthz, /readyz and /metrics, and on SIGTERM releases the lease and exits 0', async () => {
  const port = await freePort();
  proc = spawn(process.execPath, [BIN, 'operator', '--kubeconfig', h.server.writeKubeconfig('ml'), '--namespace', 'ml', '--lease-name', 'mp-op', '--lease-namespace', 'ops'], {
    env: { ...process.env, MODELPLANE_METRICS_PORT: String(port), MODELPLANE_RUNTIME_IMAGE: 'registry.example/runtime:9.9', POD_NAME: 'operator-pod-0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const get = async (path: string) => fetch(`http://127.0.0.1:${port}${path}`);

  await eventually(async () => expect((await get('/readyz')).status).toBe(200), 15_000, 100);
  expect((await get('/healthz')).status).toBe(200);
  await h.create('ml', modelDeployment('cli-model'));
  await h.until('ml', 'cli-model', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'));
  const d = await h.apps.readNamespacedDeployment({ name: 'cli-model', namespace: 'ml' });
  expect(d.spec?.template.spec?.containers.find((c) => c.name === 'runtime')?.image).toBe('registry.example/runtime:9.9');
  const leases = h.kc.makeApiClient(CoordinationV1Api);
  expect((await leases.readNamespacedLease({ name: 'mp-op', namespace: 'ops' })).spec?.holderIdentity).toBe('operator-pod-0');

  const metrics = await (await get('/metrics')).text();
  expect(metrics).toMatch(/modelplane_operator_reconcile_total\{result="success"\} [1-9]/);
  expect(metrics).toMatch(/modelplane_operator_reconcile_duration_seconds_bucket/);
  expect(metrics).toMatch(/modelplane_operator_workqueue_depth \d/);
  expect(metrics).toMatch(/modelplane_operator_leader 1/);

  const exited = new Promise<number | null>((resolve) => proc!.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect((await leases.readNamespacedLease({ name: 'mp-op', namespace: 'ops' })).spec?.holderIdentity).toBe('');
  // Logs are JSON, one object a line.
  const lines = output.split('\n').filter((l) => l.trim());
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  expect(lines.some((l) => JSON.parse(l).message === 'operator stopped')).toBe(true);
});

it('rejects bad flags with a clear error', async () => {
  const run = spawn(process.execPath, [BIN, 'operator', '--workers', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => run.once('exit', resolve));
  expect(code).not.toBe(0);
  expect(err).toContain('--workers: must be an integer from 1 to 1000, got "0"');
});

it('exits 1 at once when a hung lease renewal outlasts the renew deadline, so the pod restarts as a candidate', async () => {
  const port = await freePort();
  const run = spawn(process.execPath, [
    BIN, 'operator', '--kubeconfig', h.server.writeKubeconfig('ml'), '--namespace', 'ml', '--lease-name', 'hung', '--lease-namespace', 'ops', '--metrics-port', String(port),
    '--leader-elect-lease-duration=2s', '--leader-elect-renew-deadline=1s', '--leader-elect-retry-period=200ms',
  ], { env: { ...process.env, POD_NAME: 'operator-pod-1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  run.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
  try {
    const leases = h.kc.makeApiClient(CoordinationV1Api);
    await eventually(async () => expect((await leases.readNamespacedLease({ name: 'hung', namespace: 'ops' })).spec?.holderIdentity).toBe('operator-pod-1'), 15_000, 100);
    const hungAt = Date.now();
    h.server.hangNext(1_000_000, (_method, path, ua) => path.includes('/leases/hung') && !!ua?.includes('operator-pod-1'));
    expect(await exited).toBe(1);
    expect(Date.now() - hungAt).toBeLessThan(5000);
    expect(out).toContain('lost leadership');
  } finally {
    h.server.clearFaults();
    if (run.exitCode === null) run.kill('SIGKILL');
  }
});
