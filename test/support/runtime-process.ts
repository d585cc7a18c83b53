// Starts the real `modelplane serve` as a child process on a free port, for out-of-process tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeModel, type GraphSpec } from '../../examples/onnx-models.js';
import { parsePrometheusText } from '../../common/prometheus-text.js';
import { terminate } from './processes.js';

export const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
export const CLI = join(REPO, 'bin/modelplane.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real CLI (bin/modelplane.js) to its end and resolves with its exit code and output (a non-zero exit
 * does not throw); killed after `timeoutMs`. `env` is the child's whole environment (default: this one without
 * NODE_OPTIONS); `stdin` is written to it and closed.
 */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: opts.env ?? { ...process.env, NODE_OPTIONS: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(opts.stdin ?? '');
  });
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export function tempDir(prefix = 'modelplane-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes a model built in code into dir and returns its path. */
export function modelFile(dir: string, name: string, g: GraphSpec): string {
  return writeModel(join(dir, g.initializers?.some((i) => i.external) ? name : `${name}.onnx`), g);
}

export interface RuntimeProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  logs: () => string;
  /** Log lines parsed as JSON. */
  logLines: () => Record<string, unknown>[];
  exited: Promise<number | null>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
  rssKb: () => number;
}

export async function startRuntime(args: string[], opts: { env?: Record<string, string>; waitReady?: boolean; host?: string } = {}): Promise<RuntimeProcess> {
  const host = opts.host ?? '127.0.0.1';
  const port = await freePort(host);
  const proc = spawn(process.execPath, [CLI, 'serve', '--host', host, '--http-port', String(port), ...args], {
    // No drain window unless a test asks for one (--drain-seconds wins over the environment).
    env: { ...process.env, MODELPLANE_TERMINATION_LOG: '/nonexistent/termination-log', MODELPLANE_DRAIN_SECONDS: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const url = `http://${host}:${port}`;
  const rt: RuntimeProcess = {
    proc,
    port,
    url,
    logs: () => out,
    logLines: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)),
    exited,
    stop: async (signal = 'SIGTERM') => {
      await terminate(proc, 15_000, signal);
      return exited;
    },
    rssKb: () => {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
    },
  };
  if (opts.waitReady !== false) await waitReady(rt);
  return rt;
}

export async function waitReady(rt: RuntimeProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (rt.proc.exitCode !== null) throw new Error(`runtime exited with ${rt.proc.exitCode}:\n${rt.logs()}`);
    try {
      const r = await fetch(`${rt.url}/v2/health/ready`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`runtime not ready after ${timeoutMs} ms:\n${rt.logs()}`);
}

/** POSTs an inference request; `binary` chunks follow the JSON header as the binary extension lays out. */
export async function infer(url: string, model: string, body: object, binary: Uint8Array[] = [], headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any; binary: Buffer }> {
  const json = Buffer.from(JSON.stringify(body));
  const payload = binary.length ? Buffer.concat([json, ...binary.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))]) : json;
  const h: Record<string, string> = { ...headers };
  if (binary.length) h['Inference-Header-Content-Length'] = String(json.byteLength);
  const r = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: payload, headers: h });
  const buf = Buffer.from(await r.arrayBuffer());
  const hl = r.headers.get('inference-header-content-length');
  const jsonPart = hl ? buf.subarray(0, Number(hl)) : buf;
  return { status: r.status, headers: r.headers, json: JSON.parse(jsonPart.toString()), binary: hl ? buf.subarray(Number(hl)) : Buffer.alloc(0) };
}

/**
 * The value of one sample in Prometheus text, read with the project's own parser: the first sample of `name`
 * carrying the labels written in `labels` (such as `outcome="success"`); NaN if none.
 */
export function metricValue(text: string, name: string, labels = ''): number {
  const want = [...labels.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v] as const);
  const sample = parsePrometheusText(text, (n) => n === name).find((s) => want.every(([k, v]) => s.labels[k] === v));
  return sample ? sample.value : NaN;
}
