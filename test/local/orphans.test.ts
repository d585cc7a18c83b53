// No replica outlives local mode: a SIGKILL of `modelplane local` ends its replicas (they learn of it from their IPC
// channel closing), and SIGTERM to `npm start` reaches local mode (the script execs node), which drains and stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleModel } from '../../examples/onnx-models.js';
import { CLI, REPO, modelFile, tempDir } from '../support/runtime-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a process runs (a zombie waiting for a parent that does not reap it has ended). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function parentOf(pid: number): number {
  return Number(/^\d+ \(.*\) \S+ (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]);
}

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Started {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[], cwd?: string): Started {
  const proc = spawn(command, args, { cwd, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  return { proc, out: () => out, exited: new Promise((r) => proc.once('exit', (code) => r(code))) };
}

/** The router URL local mode prints, then the pids of its replicas once `count` are ready. */
async function readyReplicas(s: Started, count: number): Promise<{ url: string; pids: number[] }> {
  const url = await until('the router URL', () => {
    if (s.proc.exitCode !== null) throw new Error(`exited:\n${s.out()}`);
    return /router on (http:\/\/\S+)/.exec(s.out())?.[1];
  });
  const pids = await until(`${count} ready replicas`, async () => {
    const state = await (await fetch(`${url}/api/local`, { signal: AbortSignal.timeout(5000) })).json() as { deployments: { replicas: { phase: string; pid: number }[] }[] };
    const ready = state.deployments.flatMap((d) => d.replicas).filter((r) => r.phase === 'ready');
    return ready.length === count && ready.map((r) => r.pid);
  }, 120_000);
  return { url, pids };
}

const tmp = tempDir('modelplane-orphans-');
const leftovers: number[] = [];

afterAll(() => {
  // Whatever a failed run left behind.
  for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
  tmp.remove();
});

test('SIGKILL of local mode: its replicas exit on their own', async () => {
  const models = join(tmp.path, 'models');
  mkdirSync(models, { recursive: true });
  modelFile(models, 'simple', simpleModel());
  const manifest = join(tmp.path, 'simple.yaml');
  writeFileSync(manifest, `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${models}/simple.onnx" }
  replicas: 2
`);
  const local = start(process.execPath, [CLI, 'local', '-f', manifest, '--port', '0', '--cache-dir', join(tmp.path, 'cache'), '--no-table']);
  leftovers.push(local.proc.pid!);
  const { pids } = await readyReplicas(local, 2);
  leftovers.push(...pids);
  expect(pids.every((pid) => parentOf(pid) === local.proc.pid)).toBe(true);
  local.proc.kill('SIGKILL');
  await local.exited;
  await until('the replicas to exit', () => pids.every((pid) => !alive(pid)), 15_000);
  expect(pids.filter(alive)).toEqual([]);
});

test('SIGTERM to `npm start` stops local mode and every replica', async () => {
  const npm = start('npm', ['start', '--silent', '--', '--port', '0', '--cache-dir', join(tmp.path, 'npm-cache')], REPO);
  leftovers.push(npm.proc.pid!);
  // examples/local: simple with two replicas, mlp and chat with one each.
  const { pids } = await readyReplicas(npm, 4);
  leftovers.push(...pids);
  const localPid = parentOf(pids[0]);
  leftovers.push(localPid);
  npm.proc.kill('SIGTERM');
  await npm.exited;
  await until('local mode and its replicas to stop', () => ![localPid, ...pids].some(alive), 30_000);
  expect([localPid, ...pids].filter(alive)).toEqual([]);
  expect(npm.out()).toMatch(/SIGTERM: the router stops accepting/);
});
