// The operator as the chart runs it, on a real control plane: the chart rendered by the real helm and applied with
// kubectl (its ServiceAccount, roles and bindings; not its Deployment, whose pod no kubelet would run), then the real
// `modelplane operator` process started with the container arguments and environment the chart renders, holding a
// token of the chart's ServiceAccount from the TokenRequest API. A permission the chart forgot fails the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { CoreV1Api } from '@kubernetes/client-node';
import { helm, kubectl } from '../helm.js';
import { CLI, freePort, REPO } from '../runtime-process.js';
import { kubeconfigYaml } from './control-plane.js';
import type { RealCluster } from './real-cluster.js';
import { terminate } from '../processes.js';

const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Namespace', 'PriorityClass']);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

export interface OperatorContainer {
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
}

export interface ChartInstall {
  namespace: string;
  objects: Obj[];
  container: OperatorContainer;
  serviceAccount: string;
  metricsPort: number;
  /** A kubeconfig holding a token of the chart's ServiceAccount. */
  kubeconfig: string;
  /** The gateway's container and ServiceAccount, when the chart renders a gateway (its Deployment is not applied). */
  gateway?: { container: OperatorContainer; serviceAccount: string };
}

/** Whether a rendered object is the gateway's. */
const isGateway = (o: Obj) => o.metadata.labels?.['app.kubernetes.io/component'] === 'gateway';

/** Renders the chart (helm template), applies all but the operator's and the gateway's Deployments, and gets its ServiceAccount a token. */
export async function installChart(cluster: RealCluster, namespace: string, values: string[] = []): Promise<ChartInstall> {
  const metricsPort = await freePort();
  const rendered = await helm(['template', 'mp', join(REPO, 'charts', 'modelplane'), '-n', namespace, '--set', `metrics.port=${metricsPort}`, ...values]);
  if (rendered.code !== 0) throw new Error(`helm template: ${rendered.stderr}`);
  const objects = (yaml.loadAll(rendered.stdout) as Array<Obj | null>).filter((o): o is Obj => o !== null);
  const deployment = objects.find((o) => o.kind === 'Deployment' && !isGateway(o))!;
  const gatewayDeployment = objects.find((o) => o.kind === 'Deployment' && isGateway(o));
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-chart-'));
  const file = join(dir, 'chart.yaml');
  // Objects with no namespace of their own go to the release namespace, as `helm install -n` puts them.
  const placed = objects.filter((o) => o !== deployment && o !== gatewayDeployment).map((o) => (o.metadata.namespace || CLUSTER_SCOPED.has(o.kind) ? o : { ...o, metadata: { ...o.metadata, namespace } }));
  writeFileSync(file, placed.map((o) => yaml.dump(o)).join('---\n'));
  const applied = await kubectl(['--kubeconfig', cluster.kubeconfig, 'apply', '-f', file], 60_000);
  if (applied.code !== 0) throw new Error(`kubectl apply of the chart: ${applied.stderr}`);
  const serviceAccount = objects.find((o) => o.kind === 'ServiceAccount' && !isGateway(o))!.metadata.name;
  const token = await cluster.kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: serviceAccount, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(cluster.server, cluster.caFile, `system:serviceaccount:${namespace}:${serviceAccount}`, token.status!.token, namespace), { mode: 0o600 });
  const container = (deployment.spec as { template: { spec: { containers: OperatorContainer[] } } }).template.spec.containers[0];
  const gateway = gatewayDeployment && { container: (gatewayDeployment.spec as { template: { spec: { containers: OperatorContainer[] } } }).template.spec.containers[0], serviceAccount: objects.find((o) => o.kind === 'ServiceAccount' && isGateway(o))!.metadata.name };
  return { namespace, objects, container, serviceAccount, metricsPort, kubeconfig, ...(gateway ? { gateway } : {}) };
}

export interface RunningOperator {
  proc: ChildProcess;
  /** Everything it printed (JSON log lines). */
  output(): string;
  /** Its log lines, parsed. */
  logs(): Array<Record<string, unknown>>;
  metricsPort: number;
  /** A Prometheus sample's value from its /metrics, 0 when absent. */
  metric(name: string, labels?: string): Promise<number>;
  /** The sum of a metric's samples over all its labels. */
  metricTotal(name: string): Promise<number>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `modelplane operator` with the chart's arguments and environment (POD_NAME as the pod would have it),
 * pointed at the cluster through `kubeconfig` (the chart's ServiceAccount token unless told otherwise).
 */
export function startOperator(install: ChartInstall, opts: { podName?: string; kubeconfig?: string; extraArgs?: string[]; metricsPort?: number } = {}): RunningOperator {
  const podName = opts.podName ?? `mp-modelplane-7d9f-${Math.random().toString(36).slice(2, 7)}`;
  const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': install.namespace };
  const env = Object.fromEntries(install.container.env.map((e) => [e.name, e.value ?? fields[e.valueFrom!.fieldRef!.fieldPath]]));
  const metricsPort = opts.metricsPort ?? install.metricsPort;
  const args = [...install.container.args.filter((a) => !a.startsWith('--metrics-port')), `--metrics-port=${metricsPort}`, `--kubeconfig=${opts.kubeconfig ?? install.kubeconfig}`, ...(opts.extraArgs ?? [])];
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return {
    proc, metricsPort,
    output: () => output,
    logs: () => output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>),
    async metric(name, labels = '') {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
      return line ? Number(line.split(' ').pop()) : 0;
    },
    async metricTotal(name) {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    },
    stop: () => terminate(proc, 20_000),
  };
}

/** Removes the files installChart wrote. */
export function cleanUpInstall(install: ChartInstall | undefined): void {
  if (install) rmSync(join(install.kubeconfig, '..'), { recursive: true, force: true });
}
