// Runs the real operator in-process against the fake API server, with fast timings, and gives tests the
// client-node APIs and waits they need.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, PolicyV1Api, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import { createLogger } from '../../../common/logger.js';
import { CRD_NAME } from '../../../operator/api/crd.js';
import { Operator, type OperatorOptions } from '../../../operator/controller/operator.js';
import { startFakeApiServer, type FakeApiServer } from '../../support/fake-apiserver/index.js';

export const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };
export const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface MdStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  selector?: string;
  url?: string;
  conditions?: Array<{ type: string; status: string; reason: string; message: string; observedGeneration: number; lastTransitionTime: string }>;
  lastFailure?: { reason: string; message: string; time: string };
}
export type Md = KubernetesObject & { spec: Record<string, unknown>; status?: MdStatus };

export function modelDeployment(name: string, spec: Record<string, unknown> = {}): Md {
  return { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name }, spec: { model: { uri: 'https://models.example/resnet.onnx' }, replicas: 1, ...spec } };
}

export class Harness {
  kc = new KubeConfig();
  custom!: CustomObjectsApi;
  apps!: AppsV1Api;
  core!: CoreV1Api;
  policy!: PolicyV1Api;
  operators: Operator[] = [];

  constructor(readonly server: FakeApiServer) {
    this.kc.loadFromString(server.kubeconfigYaml());
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    this.apps = this.kc.makeApiClient(AppsV1Api);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.policy = this.kc.makeApiClient(PolicyV1Api);
  }

  static async start(): Promise<Harness> {
    return new Harness(await startFakeApiServer());
  }

  /** An operator with test timings: millisecond backoffs, a short watchdog, no process metrics. */
  operator(overrides: Partial<OperatorOptions> = {}): Operator {
    const log = createLogger('operator', process.env.MODELPLANE_TEST_LOG_LEVEL ?? 'error');
    log.silent = !process.env.MODELPLANE_TEST_LOG_LEVEL;
    const kc = new KubeConfig();
    kc.loadFromString(this.server.kubeconfigYaml());
    const op = new Operator({
      kubeConfig: kc,
      config: { runtimeImage: 'ghcr.io/modelplane/runtime:0.1.0' },
      workers: 2,
      metricsPort: null,
      leaderElection: false,
      resyncMs: 0,
      informer: { watchTimeoutSeconds: 1, watchdogSlackMs: 500, backoffBaseMs: 20, backoffMaxMs: 200 },
      queue: { baseDelayMs: 5, maxDelayMs: 200 },
      logger: log,
      defaultMetrics: false,
      ...overrides,
    });
    this.operators.push(op);
    return op;
  }

  async stop(): Promise<void> {
    for (const op of this.operators) await op.kill();
    await this.server.stop();
  }

  /**
   * Replaces the installed ModelDeployment CRD with a changed copy, as a cluster may hold an older or looser one
   * than the operator's: objects its schema lets through then reach the operator's own validation. The CRD goes as
   * plain JSON: client-node's typed CRD model would drop `x-kubernetes-validations` (its key there is
   * `x_kubernetes_validations`).
   */
  async replaceCrd(change: (openAPIV3Schema: Record<string, any>) => void): Promise<void> {
    const url = `${this.server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`;
    const crd = (await (await fetch(url)).json()) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Record<string, any> } }> } };
    change(crd.spec.versions[0].schema.openAPIV3Schema);
    const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(crd) });
    if (!res.ok) throw new Error(`replacing the CRD: ${res.status} ${await res.text()}`);
  }

  async create(namespace: string, md: Md): Promise<Md> {
    return (await this.custom.createNamespacedCustomObject({ ...MD, namespace, body: md })) as Md;
  }

  async read(namespace: string, name: string): Promise<Md> {
    return (await this.custom.getNamespacedCustomObject({ ...MD, namespace, name })) as Md;
  }

  async patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<Md> {
    return (await this.custom.patchNamespacedCustomObject({ ...MD, namespace, name, body: { spec } }, MERGE)) as Md;
  }

  /** Polls the ModelDeployment until `check` passes; the last failure explains a timeout. */
  async until(namespace: string, name: string, check: (md: Md) => void, timeoutMs = 8000): Promise<Md> {
    return eventually(async () => {
      const md = await this.read(namespace, name);
      check(md);
      return md;
    }, timeoutMs);
  }
}

export function condition(md: Md, type: string) {
  return md.status?.conditions?.find((c) => c.type === type);
}

export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 8000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
