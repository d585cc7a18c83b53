// The real control plane global-setup.ts started, as tests see it: its admin kubeconfig, a client, fresh
// namespaces, and `describe` blocks that skip (and say why) where there is none.
import { describe, it } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';

export interface RealCluster {
  /** Path of the admin kubeconfig (system:masters). */
  kubeconfig: string;
  server: string;
  caFile: string;
  adminToken: string;
  etcdUrl: string;
  kc: KubeConfig;
}

/** The run's real control plane, or undefined when it has none. */
export function realCluster(): RealCluster | undefined {
  const kubeconfig = process.env.MODELPLANE_TEST_KUBECONFIG;
  if (!kubeconfig) return undefined;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kubeconfig, kc,
    server: process.env.MODELPLANE_TEST_KUBE_SERVER!,
    caFile: process.env.MODELPLANE_TEST_KUBE_CA!,
    adminToken: process.env.MODELPLANE_TEST_KUBE_TOKEN!,
    etcdUrl: process.env.MODELPLANE_TEST_ETCD!,
  };
}

/** Why the run has no real control plane. */
export function realClusterSkipReason(): string {
  return process.env.MODELPLANE_TEST_KUBE_SKIPPED ?? 'no real control plane in this run';
}

/** `describe` on the real cluster, or a skipped block whose name says why it did not run. */
export function describeOnRealCluster(name: string, fn: (cluster: RealCluster) => void): void {
  const cluster = realCluster();
  if (cluster) describe(`${name} (real API server)`, () => fn(cluster));
  // Its tests cannot even be listed without a cluster: one skipped entry says why.
  else describe(`${name} (real API server)`, () => it.skip(`skipped: ${realClusterSkipReason()}`, () => undefined));
}

/** A new namespace with a random suffix, so tests never see each other's objects. */
export async function freshNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}
