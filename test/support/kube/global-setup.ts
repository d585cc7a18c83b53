// Jest global setup: one real control plane for the whole run, where its binaries are present (KUBE_BIN_DIR or a
// kube-apiserver on PATH, and etcd). Tests find it through MODELPLANE_TEST_KUBECONFIG; where it cannot start they
// skip the real-cluster suite and this says why. A run limited to paths outside test/cluster starts nothing.
import { join } from 'node:path';
import { findBinaries, startControlPlane, type ControlPlane } from './control-plane.js';
import { kubectl } from '../helm.js';

interface GlobalConfig {
  rootDir: string;
  testPathPatterns?: { patterns?: string[] };
}

/** Whether the run's test path patterns leave out every real-cluster test. */
function clusterTestsExcluded(config: GlobalConfig): boolean {
  const patterns = config.testPathPatterns?.patterns ?? [];
  return patterns.length > 0 && !patterns.some((p) => /cluster/.test(p));
}

export default async function globalSetup(config: GlobalConfig): Promise<void> {
  const skip = (why: string) => {
    process.env.MODELPLANE_TEST_KUBE_SKIPPED = why;
    process.stdout.write(`\nreal-cluster suite skipped: ${why}\n`);
  };
  if (process.env.MODELPLANE_REAL_CLUSTER === 'off') return skip('MODELPLANE_REAL_CLUSTER=off');
  if (clusterTestsExcluded(config)) return skip('no test of test/cluster in this run');
  const bins = findBinaries();
  if ('missing' in bins) return skip(bins.missing);
  const started = Date.now();
  const cp = await startControlPlane({
    // ModelDeployment watches are served from etcd, so compacting etcd expires them (410 Gone), as happens when the
    // watch cache's window has moved on.
    apiserverArgs: ['--watch-cache-sizes=modeldeployments.serving.modelplane.io#0'],
    controllerManagerArgs: ['--horizontal-pod-autoscaler-sync-period=5s'],
  });
  (globalThis as { __modelplaneControlPlane?: ControlPlane }).__modelplaneControlPlane = cp;
  // Installed as a user installs it: kubectl apply of the generated CRD file.
  const applied = await kubectl(['--kubeconfig', cp.kubeconfig, 'apply', '-f', join(config.rootDir, 'crds')], 60_000);
  if (applied.code !== 0) {
    await cp.stop();
    throw new Error(`kubectl apply -f crds/ failed on the real API server: ${applied.stderr}`);
  }
  // kubectl wait gives up at once ("accessor error: <nil>") when it reads the CRD before its first status: ask again.
  let established = await kubectl(['--kubeconfig', cp.kubeconfig, 'wait', '--for=condition=Established', 'crd/modeldeployments.serving.modelplane.io', '--timeout=60s'], 70_000);
  for (let i = 0; i < 20 && established.code !== 0 && /accessor error/.test(established.stderr); i++) {
    await new Promise((r) => setTimeout(r, 250));
    established = await kubectl(['--kubeconfig', cp.kubeconfig, 'wait', '--for=condition=Established', 'crd/modeldeployments.serving.modelplane.io', '--timeout=60s'], 70_000);
  }
  if (established.code !== 0) throw new Error(`the CRD was not established: ${established.stderr}`);
  process.env.MODELPLANE_TEST_KUBECONFIG = cp.kubeconfig;
  process.env.MODELPLANE_TEST_KUBE_CA = cp.caFile;
  process.env.MODELPLANE_TEST_KUBE_TOKEN = cp.adminToken;
  process.env.MODELPLANE_TEST_KUBE_SERVER = cp.server;
  process.env.MODELPLANE_TEST_ETCD = cp.etcdUrl;
  process.stdout.write(`\nreal-cluster suite: Kubernetes control plane on ${cp.server} (binaries in ${bins.dir}), up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
