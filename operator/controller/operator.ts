// The operator process: leader election, then informers on ModelDeployments and the children and pods they
// own, a work queue fed by them (children map to their owner's key), bounded workers running the reconciler,
// a periodic resync of every key, and a health/metrics server. stop() is the SIGTERM path: watches stop,
// workers finish what they hold, the lease is released.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, PolicyV1Api, setHeaderOptions,
  type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Pod,
} from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../common/logger.js';
import { GROUP, KIND, PLURAL, VERSION, type ModelDeployment, type ModelDeploymentStatus } from '../api/schema.js';
import type { OperatorConfig } from '../resources/index.js';
import { INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, RUNTIME_APP_NAME } from '../resources/labels.js';
import { childWriter } from './apply.js';
import { eventRecorder, type EventRecorder } from './events.js';
import { HealthServer } from './health.js';
import { DEFAULT_INFORMER_OPTIONS, ResilientInformer, describeError, type InformerOptions } from './informer.js';
import { LeaderElector, type LeaderElectionOptions } from './leader-election.js';
import { createMetrics, type OperatorMetrics } from './metrics.js';
import { Reconciler, type ClusterCache } from './reconciler.js';
import { WorkQueue, runWorkers, type WorkQueueOptions } from './workqueue.js';
import { BuiltinAutoscaler, DEFAULT_BUILTIN_OPTIONS, scaleWriter, type BuiltinAutoscalerOptions } from '../autoscaler/builtin.js';
import { ApiDiscovery } from '../autoscaler/discovery.js';
import { ExternalScalers } from '../autoscaler/scalers.js';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Watch these namespaces; all namespaces when unset or empty. */
  namespaces?: string[];
  config: OperatorConfig;
  workers?: number;
  /** Port of /healthz, /readyz and /metrics (0: any free port); no server when null. */
  metricsPort?: number | null;
  metricsHost?: string;
  /** false: reconcile without a lease (one replica only). */
  leaderElection?: false | (Partial<LeaderElectionOptions> & { leaseName: string; leaseNamespace: string });
  resyncMs?: number;
  informer?: Partial<InformerOptions>;
  queue?: WorkQueueOptions;
  logger?: Logger;
  /** Process metrics (CPU, memory, event loop) in /metrics; off for operators sharing a process in tests. */
  defaultMetrics?: boolean;
  /** The built-in autoscaler's loop (leader only); false turns it off. */
  autoscaler?: Partial<BuiltinAutoscalerOptions> | false;
  /** How long discovery answers (is KEDA served?) are reused. */
  discoveryTtlMs?: number;
}

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const CHILD_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
const POD_SELECTOR = `${NAME_LABEL}=${RUNTIME_APP_NAME}`;

type AnyInformer = ResilientInformer<KubernetesObject>;
type InformerSet = Record<'mds' | 'deployments' | 'services' | 'pdbs' | 'pods', AnyInformer>;
const ALL = '';

/** The informers and workers that run while this process leads. */
class Controller {
  readonly queue: WorkQueue;
  private readonly sets: Map<string, InformerSet>;
  private workers?: Promise<void>;
  private resyncTimer?: NodeJS.Timeout;
  synced = false;

  constructor(private readonly opts: OperatorOptions, private readonly log: Logger, private readonly metrics: OperatorMetrics, private readonly events: EventRecorder, queue: WorkQueue) {
    this.queue = queue;
    const kc = opts.kubeConfig;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const policy = kc.makeApiClient(PolicyV1Api);
    const iopts: InformerOptions = { ...DEFAULT_INFORMER_OPTIONS, ...opts.informer };
    const make = (name: string, path: string, list: () => Promise<unknown>, selector?: string): AnyInformer =>
      new ResilientInformer<KubernetesObject>(kc, name, path, list as () => Promise<KubernetesListObject<KubernetesObject>>, selector, iopts, log, (reason) =>
        metrics.informerRestarts.inc({ informer: name, reason: reason.split(':')[0] }));
    const labelSelector = CHILD_SELECTOR;
    const namespaced = (ns: string): InformerSet => ({
      mds: make('modeldeployments', `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`, () => custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL })),
      deployments: make('deployments', `/apis/apps/v1/namespaces/${ns}/deployments`, () => apps.listNamespacedDeployment({ namespace: ns, labelSelector }), labelSelector),
      services: make('services', `/api/v1/namespaces/${ns}/services`, () => core.listNamespacedService({ namespace: ns, labelSelector }), labelSelector),
      pdbs: make('poddisruptionbudgets', `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, () => policy.listNamespacedPodDisruptionBudget({ namespace: ns, labelSelector }), labelSelector),
      pods: make('pods', `/api/v1/namespaces/${ns}/pods`, () => core.listNamespacedPod({ namespace: ns, labelSelector: POD_SELECTOR }), POD_SELECTOR),
    });
    const clusterWide = (): InformerSet => ({
      mds: make('modeldeployments', `/apis/${GROUP}/${VERSION}/${PLURAL}`, () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })),
      deployments: make('deployments', '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector }), labelSelector),
      services: make('services', '/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector }), labelSelector),
      pdbs: make('poddisruptionbudgets', '/apis/policy/v1/poddisruptionbudgets', () => policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector }), labelSelector),
      pods: make('pods', '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: POD_SELECTOR }), POD_SELECTOR),
    });
    const namespaces = [...new Set(opts.namespaces ?? [])];
    this.sets = namespaces.length ? new Map(namespaces.map((ns) => [ns, namespaced(ns)])) : new Map([[ALL, clusterWide()]]);
    const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    const enqueueSelf = (o: KubernetesObject) => this.queue.add(keyOf(o));
    const enqueueOwner = (o: KubernetesObject) => {
      const owner = o.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`));
      if (owner) this.queue.add(`${o.metadata?.namespace ?? ''}/${owner.name}`);
    };
    // Pods belong to a ReplicaSet, not to the ModelDeployment; the instance label names the owner.
    const enqueuePodOwner = (o: KubernetesObject) => {
      const instance = o.metadata?.labels?.[INSTANCE_LABEL];
      if (instance) this.queue.add(`${o.metadata?.namespace ?? ''}/${instance}`);
    };
    for (const set of this.sets.values()) {
      for (const ev of ['add', 'update', 'delete'] as const) {
        set.mds.on(ev, enqueueSelf);
        set.deployments.on(ev, enqueueOwner);
        set.services.on(ev, enqueueOwner);
        set.pdbs.on(ev, enqueueOwner);
        set.pods.on(ev, enqueuePodOwner);
      }
    }
  }

  private setFor(namespace: string): InformerSet | undefined {
    return this.sets.get(namespace) ?? this.sets.get(ALL);
  }

  private all(): AnyInformer[] {
    return [...this.sets.values()].flatMap((s) => Object.values(s));
  }

  cache(): ClusterCache {
    const byKind: Record<string, keyof InformerSet> = {
      'apps/v1/Deployment': 'deployments',
      'v1/Service': 'services',
      'policy/v1/PodDisruptionBudget': 'pdbs',
    };
    return {
      modelDeployment: (namespace, name) => this.setFor(namespace)?.mds.get(name, namespace) as ModelDeployment | undefined,
      child: (apiVersion, kind, namespace, name) => {
        const which = byKind[`${apiVersion}/${kind}`];
        return which ? this.setFor(namespace)?.[which].get(name, namespace) : undefined;
      },
      pods: (namespace, labels) =>
        ((this.setFor(namespace)?.pods.list(namespace) ?? []) as V1Pod[]).filter((p) => Object.entries(labels).every(([k, v]) => p.metadata?.labels?.[k] === v)),
    };
  }

  async start(reconciler: Reconciler): Promise<void> {
    await Promise.all(this.all().map((i) => i.start()));
    if (this.queue.isShuttingDown) return;
    this.synced = true;
    this.log.info('caches synced', { modelDeployments: this.modelDeployments().length });
    const workers = this.opts.workers ?? 4;
    this.workers = runWorkers(
      this.queue,
      workers,
      async (key) => {
        const end = this.metrics.reconcileDuration.startTimer();
        try {
          await reconciler.reconcile(key);
          this.metrics.reconciles.inc({ result: 'success' });
        } catch (err) {
          const conflict = (err as { code?: number }).code === 409;
          this.metrics.reconciles.inc({ result: conflict ? 'conflict' : 'error' });
          throw err;
        } finally {
          end();
        }
      },
      (key, err, retryInMs) => {
        const conflict = (err as { code?: number }).code === 409;
        const fields = { modelDeployment: key, error: describeError(err), retryInMs };
        // A conflict only means the cache was behind; the retry reads the newer object.
        if (conflict) this.log.debug('reconcile conflicted, retrying', fields);
        else this.log.warn('reconcile failed, retrying', fields);
      },
    );
    const resyncMs = this.opts.resyncMs ?? 5 * 60_000;
    if (resyncMs > 0) this.resyncTimer = setInterval(() => this.resync(), resyncMs);
  }

  modelDeployments(): KubernetesObject[] {
    return [...this.sets.values()].flatMap((s) => [...s.mds.list()]);
  }

  /** Queues every ModelDeployment; a converged cluster then sees reads only. */
  resync(): void {
    for (const md of this.modelDeployments()) this.queue.add(`${md.metadata?.namespace ?? ''}/${md.metadata?.name ?? ''}`);
  }

  /** Stops the watches, then lets workers finish the keys they hold. */
  async stop(drain: boolean): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await Promise.all(this.all().map((i) => i.stop()));
    const shutdown = this.queue.shutDown();
    if (drain) {
      await shutdown;
      await this.workers;
      await this.events.flush();
    }
  }
}

export class Operator {
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  readonly identity: string;
  private readonly events: EventRecorder;
  private readonly elector?: LeaderElector;
  private readonly health?: HealthServer;
  private controller?: Controller;
  private controllerStarting?: Promise<void>;
  private autoscaler?: BuiltinAutoscaler;
  private stopped = false;
  healthPort?: number;

  constructor(private readonly opts: OperatorOptions) {
    this.log = opts.logger ?? createLogger('operator');
    this.identity = (opts.leaderElection && opts.leaderElection.identity) || `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.metrics = createMetrics(() => this.controller?.queue.length ?? 0, opts.defaultMetrics ?? true);
    this.events = eventRecorder(opts.kubeConfig, this.log);
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      this.elector = new LeaderElector(
        opts.kubeConfig.makeApiClient(CoordinationV1Api),
        {
          leaseName: le.leaseName,
          leaseNamespace: le.leaseNamespace,
          identity: this.identity,
          leaseDurationMs: le.leaseDurationMs ?? 15_000,
          renewDeadlineMs: le.renewDeadlineMs ?? 10_000,
          retryPeriodMs: le.retryPeriodMs ?? 2_000,
        },
        {
          onStartedLeading: () => {
            this.metrics.leader.set(1);
            this.startController();
          },
          onStoppedLeading: () => {
            this.metrics.leader.set(0);
            // Another process may already reconcile: stop at once, without waiting on in-flight work.
            void this.stopController(false);
          },
        },
        this.log,
      );
    }
    if (opts.metricsPort !== null && opts.metricsPort !== undefined) {
      this.health = new HealthServer({ live: () => !this.stopped, ready: () => this.ready }, this.metrics.registry);
    }
  }

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : !!this.controller;
  }

  /** Ready to serve its role: a standby is ready; a leader once its caches are synced. */
  get ready(): boolean {
    if (this.stopped) return false;
    if (this.elector && !this.elector.isLeader) return true;
    return !!this.controller?.synced;
  }

  get synced(): boolean {
    return !!this.controller?.synced;
  }

  async start(): Promise<void> {
    if (this.health) this.healthPort = await this.health.listen(this.opts.metricsPort!, this.opts.metricsHost);
    this.log.info('operator starting', { identity: this.identity, namespaces: this.opts.namespaces?.length ? this.opts.namespaces : '(all)', leaderElection: !!this.elector, workers: this.opts.workers ?? 4 });
    if (this.elector) {
      this.elector.start();
    } else {
      this.metrics.leader.set(1);
      this.startController();
    }
  }

  /** Queues every ModelDeployment now (what the periodic resync does). */
  resync(): void {
    this.controller?.resync();
  }

  private startController(): void {
    if (this.stopped || this.controller) return;
    const controller = new Controller(this.opts, this.log, this.metrics, this.events, new WorkQueue(this.opts.queue));
    this.controller = controller;
    const custom = this.opts.kubeConfig.makeApiClient(CustomObjectsApi);
    const reconciler = new Reconciler({
      cache: controller.cache(),
      writer: childWriter(this.opts.kubeConfig),
      events: this.events,
      config: this.opts.config,
      log: this.log,
      onApply: (kind) => this.metrics.childApplies.inc({ kind }),
      onStatusWrite: () => this.metrics.statusWrites.inc(),
      scalers: this.externalScalers(),
      writeStatus: async (md: ModelDeployment, status: ModelDeploymentStatus) => {
        // Fields that disappeared must be nulled: a merge patch leaves absent keys alone.
        const body: Record<string, unknown> = { ...status };
        for (const k of Object.keys(md.status ?? {})) if (!(k in body)) body[k] = null;
        await custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace: md.metadata.namespace!, name: md.metadata.name!, body: { metadata: { resourceVersion: md.metadata.resourceVersion }, status: body } },
          MERGE,
        );
      },
    });
    this.controllerStarting = controller
      .start(reconciler)
      .then(() => this.startAutoscaler(controller))
      .catch((err: unknown) => {
        this.log.error('controller failed to start', { error: describeError(err) });
      });
  }

  // --- autoscaling: the HPA/ScaledObject sync for the reconciler, the built-in loop while leading ---------

  private discovery?: ApiDiscovery;

  private externalScalers(): ExternalScalers {
    const timeoutMs = this.autoscalerOptions().requestTimeoutMs;
    this.discovery ??= ApiDiscovery.forCluster(this.opts.kubeConfig, { timeoutMs, ttlMs: this.opts.discoveryTtlMs ?? 60_000 });
    return ExternalScalers.forCluster(this.opts.kubeConfig, this.discovery, this.opts.config, timeoutMs);
  }

  private autoscalerOptions(): BuiltinAutoscalerOptions {
    return { ...DEFAULT_BUILTIN_OPTIONS, ...(this.opts.autoscaler || {}) };
  }

  private startAutoscaler(controller: Controller): void {
    if (this.opts.autoscaler === false || this.controller !== controller || !controller.synced) return;
    const cache = controller.cache();
    const opts = this.autoscalerOptions();
    this.autoscaler = new BuiltinAutoscaler(
      { modelDeployments: () => controller.modelDeployments() as ModelDeployment[], pods: (ns, labels) => cache.pods(ns, labels) },
      scaleWriter(this.opts.kubeConfig, opts.requestTimeoutMs, this.events),
      this.log,
      opts,
    );
    this.autoscaler.start();
  }

  private async stopController(drain: boolean): Promise<void> {
    const c = this.controller;
    this.controller = undefined;
    // The autoscaler stops writing at once; a step in flight finishes alongside the controller's stop.
    const autoscalerStopped = this.autoscaler?.stop();
    this.autoscaler = undefined;
    if (c) await c.stop(drain);
    await autoscalerStopped;
    await this.controllerStarting;
  }

  /** Waits until this process leads and its caches are synced. */
  async waitUntilSynced(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.synced) {
      if (Date.now() > deadline) throw new Error('operator did not sync in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Graceful shutdown (SIGTERM): stop watches, drain workers, release the lease, close the health server. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.info('operator stopping');
    await this.stopController(true);
    await this.elector?.stop(true);
    await this.events.flush();
    await this.health?.close();
    this.log.info('operator stopped');
  }

  /** An abrupt end, as a crash or SIGKILL: nothing drained, the lease left to expire. */
  async kill(): Promise<void> {
    this.stopped = true;
    await this.elector?.stop(false);
    await this.stopController(false);
    await this.health?.close();
  }
}
