// What both operator benchmarks share: the real `modelplane operator` as a child process (with the node flags of the
// bin's shebang, as in the image), its peak resident memory sampled from /proc, its metrics scraped, and waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/modelplane.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Peak resident set size of a process in MiB (Linux: VmHWM), or undefined where /proc does not say. */
export function peakRssMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The sum of a metric's samples (all labels) on the operator's /metrics. */
export async function scrape(port: number, metric: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(metric) && !l.startsWith('#')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface OperatorProcess {
  child: ChildProcess;
  metricsPort: number;
  /** The highest resident set seen so far, MiB. */
  peakMb(): number;
  /** Writes the operator counts itself: status updates and child applies. */
  writes(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the operator through the bin against `kubeconfig`, without leader election, and waits until it is ready. */
export async function startOperatorProcess(kubeconfig: string, extraArgs: string[] = []): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const shebangFlags = (/^#!.*\bnode((?: --[\w-]+(?:=\S+)?)*)/.exec(readFileSync(BIN, 'utf8'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [
    ...shebangFlags, BIN, 'operator', '--kubeconfig', kubeconfig, '--metrics-port', String(metricsPort), '--leader-elect=false',
    '--log-level', 'warn', '--runtime-image', 'ghcr.io/modelplane/runtime:bench', ...extraArgs,
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  let exited = false;
  child.on('exit', () => (exited = true));
  let peak = 0;
  const sampler = setInterval(() => {
    const mb = child.pid ? peakRssMb(child.pid) : undefined;
    if (mb !== undefined) peak = Math.max(peak, mb);
  }, 100);
  const stop = async () => {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await new Promise((r) => (exited ? r(undefined) : child.once('exit', r)));
  };
  try {
    await waitFor('the operator to be ready', async () => {
      if (exited) throw new Error('the operator exited');
      return fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
    }, 60_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    child, metricsPort, stop,
    peakMb: () => Math.max(peak, child.pid ? peakRssMb(child.pid) ?? 0 : 0),
    writes: async () => (await scrape(metricsPort, 'modelplane_operator_status_writes_total')) + (await scrape(metricsPort, 'modelplane_operator_child_applies_total')),
  };
}

/** One line per target: PASS or FAIL, the target and the value; true when all pass. */
export function report(results: ReadonlyArray<readonly [string, boolean, string]>): boolean {
  for (const [target, ok, value] of results) console.log(`${ok ? 'PASS' : 'FAIL'}  ${target}: ${value}`);
  return results.every(([, ok]) => ok);
}
