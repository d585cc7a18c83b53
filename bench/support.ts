// What the benchmark scripts share: their PASS/FAIL lines and summary, a free loopback port for a server they start,
// CPU time read from /proc, the request loops they time (sequential p50, an autocannon round, CPU per request) and
// the child processes they start.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';

/** The `modelplane` entry point the benchmarks start, and the minimal node:http proxy they hold routers against. */
export const CLI = new URL('../../bin/modelplane.js', import.meta.url).pathname;
export const MINIMAL_PROXY = new URL('./minimal-proxy.js', import.meta.url).pathname;
/** BENCH_QUICK=1: shorter rounds, for a check that a benchmark runs rather than for figures. */
export const quick = process.env.BENCH_QUICK === '1';

/** The targets a benchmark checks: a PASS or FAIL line each, then how many were met (and the exit code). */
export class Targets {
  private readonly results: { name: string; pass: boolean }[] = [];

  report(name: string, figure: string, target: string, pass: boolean): void {
    this.results.push({ name, pass });
    console.log(`${pass ? 'PASS' : 'FAIL'}  ${name}: ${figure}  (target ${target})`);
  }

  /** Prints "N of M targets met" and sets the exit code: 1 when one was missed. */
  summarize(): void {
    const failed = this.results.filter((r) => !r.pass);
    console.log(`\n${this.results.length - failed.length} of ${this.results.length} targets met`);
    process.exitCode = failed.length ? 1 : 0;
  }
}

/** A loopback port free now (the kernel's pick), for a server started as a separate process. */
export function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

const CLOCK_TICKS = 100;

/** CPU seconds used so far (utime + stime) from a /proc stat file: a process's (all threads) or one thread's. */
export function cpuSeconds(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** A process's CPU seconds so far, all its threads. */
export const processCpuSeconds = (pid: number): number => cpuSeconds(`/proc/${pid}/stat`);

/** The middle value (the upper one of an even count). */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One POST a benchmark repeats: where to, its body and any extra headers. */
export interface BenchRequest {
  url: string;
  path: string;
  body: string;
  headers?: Record<string, string>;
}

/** p50 in ms of `n` sequential requests over one keep-alive connection, after 50 to warm up; a non-200 answer throws. */
export async function sequentialP50(r: BenchRequest, n: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(r.url);
  const headers = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(r.body)), ...r.headers };
  const one = () => new Promise<number>((resolve, reject) => {
    const t = performance.now();
    const req = request({ host: hostname, port, agent, method: 'POST', path: r.path, headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`${r.url}${r.path}: status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(r.body);
  });
  try {
    for (let i = 0; i < 50; i++) await one();
    const lat: number[] = [];
    for (let i = 0; i < n; i++) lat.push(await one());
    return median(lat);
  } finally {
    agent.destroy();
  }
}

/** One autocannon round: requests answered per second and in all; a non-2xx answer or an error throws. */
export async function autocannonRound(r: BenchRequest, connections: number, seconds: number): Promise<{ perSecond: number; total: number }> {
  const result = await autocannon({ url: `${r.url}${r.path}`, method: 'POST', body: r.body, headers: { 'Content-Type': 'application/json', ...r.headers }, connections, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${r.url}${r.path}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return { perSecond: result.requests.total / (result.duration || 1), total: result.requests.total };
}

/** An autocannon round with the CPU seconds process `pid` used during it (all threads, from /proc). */
export async function roundWithCpu(pid: number, r: BenchRequest, connections: number, seconds: number): Promise<{ perSecond: number; total: number; cpuSeconds: number }> {
  const before = processCpuSeconds(pid);
  const round = await autocannonRound(r, connections, seconds);
  return { ...round, cpuSeconds: processCpuSeconds(pid) - before };
}

/** A child process started for a benchmark, once it printed the line it is ready with (its first capture group). */
export interface StartedChild {
  proc: ChildProcess;
  /** The ready line's first capture group (a URL, usually). */
  found: string;
  /** Its stdout so far. */
  output(): string;
}

/** Starts `command args` and waits up to `timeoutMs` for its stdout to match `ready`; throws with its output when not. */
export async function startChild(command: string, args: string[], ready: RegExp, timeoutMs = 30_000): Promise<StartedChild> {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  const deadline = Date.now() + timeoutMs;
  while (!ready.test(out) && Date.now() < deadline && proc.exitCode === null) await new Promise((r) => setTimeout(r, 25));
  const found = ready.exec(out)?.[1];
  if (found === undefined) {
    proc.kill('SIGKILL');
    throw new Error(`${command} ${args.join(' ')} did not print ${ready} within ${timeoutMs} ms:\n${out}`);
  }
  return { proc, found, output: () => out };
}

/** Stops the children still running (SIGTERM) and waits for each to exit. */
export async function stopChildren(procs: readonly ChildProcess[]): Promise<void> {
  for (const p of procs) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
}
