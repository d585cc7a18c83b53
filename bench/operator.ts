// `npm run bench:operator`: 1000 ModelDeployments created at once against the in-repo API server, reconciled by
// the real `modelplane operator` in a child process (with the node flags of the bin's shebang, as in the image).
// Prints the time until every child is applied and every status written, where the requests went, the writes a
// resync of the converged set causes, and the operator's peak resident memory.
// `npm run bench:operator -- --real` does the same against a real control plane (bench/operator-real.ts).
import { startFakeApiServer, findResource } from '../test/support/fake-apiserver/index.js';
import { report, scrape, startOperatorProcess, waitFor } from './operator-process.js';

if (process.argv.includes('--real')) {
  await import('./operator-real.js');
} else {
  await benchAgainstFake();
}

async function benchAgainstFake(): Promise<void> {
  const COUNT = Number(process.env.BENCH_MODELDEPLOYMENTS ?? 1000);
  const RESYNC_SECONDS = 10;
  const TARGETS = { convergeSeconds: 30, resyncWrites: 0, peakRssMb: 150 };
  const NS = 'bench';
  const MDS = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
  const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
  const SERVICES = findResource('', 'v1', 'services')!;
  const server = await startFakeApiServer({ historyLimit: 20_000 });

  const converged = (): number => server.store.list(MDS, NS).items.filter((md) => {
    const name = String(md.metadata.name);
    const status = md.status as { observedGeneration?: number } | undefined;
    return status?.observedGeneration === md.metadata.generation && !!server.store.get(DEPLOYMENTS, NS, name) && !!server.store.get(SERVICES, NS, name);
  }).length;

  let ok = false;
  let operator: Awaited<ReturnType<typeof startOperatorProcess>> | undefined;
  try {
    operator = await startOperatorProcess(server.writeKubeconfig(NS), ['--resync-seconds', String(RESYNC_SECONDS)]);
    const started = Date.now();
    for (let i = 0; i < COUNT; i++) {
      server.store.create(MDS, NS, {
        apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: `model-${i}` },
        spec: { model: { uri: `https://models.example/m${i}/model.onnx` }, replicas: 1 + (i % 3), runtime: {} },
      });
    }
    await waitFor(`${COUNT} ModelDeployments to converge`, () => converged() === COUNT, 120_000, 100);
    const convergeSeconds = (Date.now() - started) / 1000;
    console.log(`converged: ${COUNT} ModelDeployments, children applied and status written in ${convergeSeconds.toFixed(2)} s (${server.writes().length} API writes)`);
    console.log(`requests to converge (not watches): ${requestBreakdown(server.requests)}`);

    // A resync of the converged set: every key reconciled again, and nothing should be written.
    await new Promise((r) => setTimeout(r, 1000));
    const before = await scrape(operator.metricsPort, 'modelplane_operator_reconcile_total');
    server.clearRequestLog();
    await waitFor('a resync of every ModelDeployment', async () => (await scrape(operator!.metricsPort, 'modelplane_operator_reconcile_total')) >= before + COUNT, (RESYNC_SECONDS + 30) * 1000, 250);
    await new Promise((r) => setTimeout(r, 500));
    const resyncWrites = server.writes().length;
    console.log(`resync: ${COUNT} reconciles, ${resyncWrites} API writes`);
    const peakMb = operator.peakMb();
    console.log(`memory: operator peak resident set ${peakMb.toFixed(1)} MiB`);
    ok = report([
      [`converge <= ${TARGETS.convergeSeconds} s`, convergeSeconds <= TARGETS.convergeSeconds, `${convergeSeconds.toFixed(2)} s`],
      [`writes during resync = ${TARGETS.resyncWrites}`, resyncWrites === TARGETS.resyncWrites, String(resyncWrites)],
      [`peak RSS <= ${TARGETS.peakRssMb} MB`, peakMb <= TARGETS.peakRssMb, `${peakMb.toFixed(1)} MiB`],
    ]);
  } catch (err) {
    console.error(`bench:operator failed: ${(err as Error).message}`);
  } finally {
    await operator?.stop();
    await server.stop();
  }
  process.exit(ok ? 0 : 1);
}

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
