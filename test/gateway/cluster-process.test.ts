// `modelplane gateway` as a process against the fake API server: JSON log lines naming its ports, /readyz once its
// informers listed, a request for an unknown model answered 404 by name, and SIGTERM draining to exit code 0; bad
// flags refused before anything starts.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { startFakeApiServer, type FakeApiServer } from '../support/fake-apiserver/index.js';
import { CLI, REPO, runCli } from '../support/runtime-process.js';
import { waitFor } from '../support/wait-for.js';

let api: FakeApiServer;
let proc: ChildProcess;
let output = '';
const lines = () => output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  api = await startFakeApiServer();
  proc = spawn(process.execPath, [CLI, 'gateway', `--kubeconfig=${api.writeKubeconfig()}`, '--host=127.0.0.1', '--port=0', '--grpc-port=0', '--health-port=0', '--namespace=ml'], { cwd: REPO, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
});

afterAll(async () => {
  if (proc.exitCode === null) proc.kill('SIGKILL');
  await api.stop();
});

it('logs its ports as JSON, is ready once it listed, answers for models by name, and drains on SIGTERM to exit 0', async () => {
  const listening = await waitFor(`the gateway listening (output: ${output})`, () => lines().find((l) => l.message === 'gateway listening'), 30_000);
  const health = lines().find((l) => l.message === 'health and metrics listening')!;
  expect(lines().every((l) => l.component === 'gateway')).toBe(true);
  expect((await fetch(`http://127.0.0.1:${String(health.port)}/readyz`)).status).toBe(200);
  const r = await fetch(`http://127.0.0.1:${String(listening.port)}/v2/models/nothing/infer`, { method: 'POST', body: '{}' });
  expect(r.status).toBe(404);
  expect(JSON.stringify(await r.json())).toContain('ModelNotFound');
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(lines().some((l) => l.message === 'draining' && l.signal === 'SIGTERM')).toBe(true);
}, 60_000);

it('refuses two listeners on one port, naming both flags', async () => {
  const r = await runCli(['gateway', '--port', '9090']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--port and --health-port: both 9090');
});
