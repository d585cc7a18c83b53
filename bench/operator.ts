// `npm run bench:operator`: 1000 ModelDeployments created at once against the fake API server, reconciled by
// the real `modelplane operator` in a child process (with the node flags of the bin's shebang, as in the
// image). Prints the time until every child is applied and every status written, the writes a resync of the
// converged set causes, and the operator's peak resident memory.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startFakeApiServer, findResource } from '../test/support/fake-apiserver/index.js';

const COUNT = Number(process.env.BENCH_MODELDEPLOYMENTS ?? 1000);
const RESYNC_SECONDS = 10;
const TARGETS = { convergeSeconds: 30, resyncWrites: 0, peakRssMb: 150 };
const NS = 'bench';
const BIN = fileURLToPath(new URL('../../bin/modelplane.js', import.meta.url));

const MDS = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const SERVICES = findResource('', 'v1', 'services')!;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Peak resident set size of a process in MiB (Linux: VmHWM), or the current one where that is all there is. */
function peakRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function scrape(port: number, metric: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(metric) && !l.startsWith('#'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function converged(): { done: number; statuses: number; children: number } {
  let statuses = 0;
  let children = 0;
  let done = 0;
  for (const md of server.store.list(MDS, NS).items) {
    const name = String(md.metadata.name);
    const status = md.status as { observedGeneration?: number } | undefined;
    const hasStatus = status?.observedGeneration === md.metadata.generation;
    const hasChildren = !!server.store.get(DEPLOYMENTS, NS, name) && !!server.store.get(SERVICES, NS, name);
    if (hasStatus) statuses++;
    if (hasChildren) children++;
    if (hasStatus && hasChildren) done++;
  }
  return { done, statuses, children };
}

const server = await startFakeApiServer({ historyLimit: 20_000 });
const kubeconfig = server.writeKubeconfig(NS);
const metricsPort = await freePort();
// Run as the image runs it: through the bin, with the node flags of its shebang line.
const SHEBANG_FLAGS = (/^#!.*\bnode((?: --[\w-]+(?:=\S+)?)*)/.exec(readFileSync(BIN, 'utf8'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
const child = spawn(process.execPath, [
  ...SHEBANG_FLAGS, BIN, 'operator', '--kubeconfig', kubeconfig, '--metrics-port', String(metricsPort), '--leader-elect=false',
  '--resync-seconds', String(RESYNC_SECONDS), '--log-level', 'warn', '--runtime-image', 'ghcr.io/modelplane/runtime:bench',
], { stdio: ['ignore', 'ignore', 'inherit'] });
let exited = false;
child.on('exit', () => (exited = true));
let peakMb = 0;
const sampler = setInterval(() => {
  const mb = child.pid ? peakRssMb(child.pid) : undefined;
  if (mb !== undefined) peakMb = Math.max(peakMb, mb);
}, 100);

let failed = false;
try {
  await waitFor('the operator to be ready', async () => {
    if (exited) throw new Error('the operator exited');
    try {
      return (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok;
    } catch {
      return false;
    }
  }, 20_000, 100);

  const started = Date.now();
  for (let i = 0; i < COUNT; i++) {
    server.store.create(MDS, NS, {
      apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: `model-${i}` },
      spec: { model: { uri: `https://models.example/m${i}/model.onnx` }, replicas: 1 + (i % 3), runtime: {} },
    });
  }
  let progress = converged();
  await waitFor(`${COUNT} ModelDeployments to converge`, () => (progress = converged()).done === COUNT, 120_000, 100);
  const convergeSeconds = (Date.now() - started) / 1000;
  const writesToConverge = server.writes().length;
  console.log(`converged: ${COUNT} ModelDeployments, children applied and status written in ${convergeSeconds.toFixed(2)} s (${writesToConverge} API writes)`);
  console.log(`requests to converge (not watches): ${requestBreakdown(server.requests)}`);

  // A resync of the converged set: every key reconciled again, and nothing should be written.
  await new Promise((r) => setTimeout(r, 1000));
  const before = await scrape(metricsPort, 'modelplane_operator_reconcile_total');
  server.clearRequestLog();
  await waitFor('a resync of every ModelDeployment', async () => (await scrape(metricsPort, 'modelplane_operator_reconcile_total')) >= before + COUNT, (RESYNC_SECONDS + 30) * 1000, 250);
  await new Promise((r) => setTimeout(r, 500));
  const resyncWrites = server.writes().length;
  console.log(`resync: ${COUNT} reconciles, ${resyncWrites} API writes`);
  const rss = await scrape(metricsPort, 'modelplane_operator_process_resident_memory_bytes');
  peakMb = Math.max(peakMb, peakRssMb(child.pid!) ?? rss / 2 ** 20);
  console.log(`memory: operator peak resident set ${peakMb.toFixed(1)} MiB`);

  const results = [
    [`converge <= ${TARGETS.convergeSeconds} s`, convergeSeconds <= TARGETS.convergeSeconds, `${convergeSeconds.toFixed(2)} s`],
    [`writes during resync = ${TARGETS.resyncWrites}`, resyncWrites === TARGETS.resyncWrites, String(resyncWrites)],
    [`peak RSS <= ${TARGETS.peakRssMb} MB`, peakMb <= TARGETS.peakRssMb, `${peakMb.toFixed(1)} MiB`],
  ] as const;
  for (const [target, ok, value] of results) {
    console.log(`${ok ? 'PASS' : 'FAIL'}  ${target}: ${value}`);
    if (!ok) failed = true;
  }
} catch (err) {
  console.error(`bench:operator failed: ${(err as Error).message}`);
  failed = true;
} finally {
  clearInterval(sampler);
  child.kill('SIGTERM');
  await new Promise((r) => (exited ? r(undefined) : child.once('exit', r)));
  await server.stop();
}
process.exit(failed ? 1 : 0);

/** Requests by method, resource and (for failures) status, most frequent first: where the converge time goes. */
function requestBreakdown(requests: Array<{ method: string; path: string; query: string; status: number }>): string {
  const counts = new Map<string, number>();
  for (const r of requests) {
    if (/(^|[?&])watch=(true|1)/.test(r.query)) continue;
    const seg = r.path.split('/').filter(Boolean);
    const at = seg.indexOf('namespaces');
    const rest = at >= 0 ? seg.slice(at + 2) : seg.slice(seg[0] === 'api' ? 2 : 3);
    const what = `${r.method} ${rest[0] ?? ''}${rest.length > 1 ? '/{name}' : ''}${rest[2] ? `/${rest[2]}` : ''}${r.status >= 400 ? ` ${r.status}` : ''}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
}
