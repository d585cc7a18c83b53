// The operator process: leader election, then informers on ModelDeployments and the children, HPAs and pods they
// own, a work queue fed by them (children map to their owner's key), bounded workers running the reconciler,
// a periodic resync of every key, and a health/metrics server. stop() is the SIGTERM path: watches stop,
// workers finish what they hold, the lease is released. Every API request carries a deadline; the writes of
// one leadership term also carry that term's abort signal, so when the lease is lost nothing more is written
// and the process reports it (the CLI exits non-zero so the pod restarts as a candidate, as controller-runtime
// does). Loops that must run only on the leader (LeaderLoop) start and stop with the term.
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api, AutoscalingV2Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, PolicyV1Api,
  type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Pod,
} from '@kubernetes/client-node';
import { DEFAULT_REQUEST_TIMEOUT_MS, makeApiClient, orAbsent, type ApiClientOptions, type ForbiddenRequest } from '../kube/api-client.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { GROUP, KIND, PLURAL, VERSION, type ModelDeployment, type ModelDeploymentStatus } from '../api/schema.js';
import type { OperatorConfig } from '../resources/index.js';
import { INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, RUNTIME_APP_NAME } from '../resources/labels.js';
import { FIELD_MANAGER, childWriter } from '../kube/apply.js';
import { GoneWatcher } from '../kube/gone-watch.js';
import type { LeaderLoop as Loop, LeaderTerm as Term } from '../kube/leader-loop.js';

/** What a leader-only loop of this operator gets: the ModelDeployment caches and the operator configuration. */
export type LeaderTerm = Term<ClusterCache, OperatorConfig>;
export type LeaderLoop = Loop<ClusterCache, OperatorConfig>;
import { WarmupObserver } from './warmup-observer.js';
import { eventRecorder, type EventRecorder } from '../kube/events.js';
import { HealthServer } from '../kube/health.js';
import { DEFAULT_INFORMER_OPTIONS, ResilientInformer, describeError, type InformerOptions } from '../kube/informer.js';
import { LeaderElector, type LeaderElectionOptions } from '../kube/leader-election.js';
import { createMetrics, type OperatorMetrics } from '../kube/metrics.js';
import { Reconciler, type ClusterCache } from './reconciler.js';
import { WorkQueue, runWorkers, type WorkQueueOptions } from '../kube/workqueue.js';
import { ApiDiscovery } from '../autoscaler/discovery.js';
import { ExternalScalers } from '../autoscaler/scalers.js';
import { SCALED_OBJECTS } from '../resources/scaledobject.js';

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
  /** Deadline of every API request; default 30 s. */
  requestTimeoutMs?: number;
  /** /healthz fails when a reconcile or the leader election loop has made no progress for this long; default 3 min. */
  stuckAfterMs?: number;
  /** How soon a ModelDeployment blocked by a child it does not own is looked at again; default 30 s. */
  conflictRetryMs?: number;
  /** Called once when leadership is lost (the renew deadline passed); the CLI exits non-zero here. */
  onLostLeadership?: () => void;
  /** Loops that run only while this process leads (started after the caches sync, stopped when the term ends). */
  leaderLoops?: LeaderLoop[];
  /** How long discovery answers (is KEDA served?) are reused; default 60 s. */
  discoveryTtlMs?: number;
}



const CHILD_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
const POD_SELECTOR = `${NAME_LABEL}=${RUNTIME_APP_NAME}`;

type AnyInformer = ResilientInformer<KubernetesObject>;
type InformerSet = Record<'mds' | 'deployments' | 'services' | 'pdbs' | 'pods' | OptionalWatch, AnyInformer>;
/**
 * Informers on APIs a cluster may not serve, by the group/version they need: an informer on an API that is not
 * served would never sync, so each runs only once discovery says its API is there (KEDA may be installed later).
 */
const OPTIONAL_WATCHES = { hpas: 'autoscaling/v2', scaledobjects: `${SCALED_OBJECTS.group}/${SCALED_OBJECTS.version}` } as const;
type OptionalWatch = keyof typeof OPTIONAL_WATCHES;
const ALL = '';
const isOptional = (which: string): which is OptionalWatch => which in OPTIONAL_WATCHES;

/** The informers and workers that run while this process leads. */
class Controller {
  readonly queue: WorkQueue;
  private readonly sets: Map<string, InformerSet>;
  private workers?: Promise<void>;
  private resyncTimer?: NodeJS.Timeout;
  /** Keys being reconciled and since when, to tell a stuck worker. */
  readonly inProgress = new Map<string, number>();
  synced = false;
  /** The optional informers running; without them, their objects are read from the API when a reconcile needs them. */
  private readonly watching = new Set<OptionalWatch>();
  private started = false;
  private stopping = false;

  constructor(
    private readonly opts: OperatorOptions,
    private readonly log: Logger,
    private readonly metrics: OperatorMetrics,
    private readonly events: EventRecorder,
    queue: WorkQueue,
    client: ApiClientOptions,
    private readonly served: (groupVersion: string) => Promise<boolean>,
  ) {
    this.queue = queue;
    const kc = opts.kubeConfig;
    const custom = makeApiClient(kc, CustomObjectsApi, client);
    const apps = makeApiClient(kc, AppsV1Api, client);
    const core = makeApiClient(kc, CoreV1Api, client);
    const policy = makeApiClient(kc, PolicyV1Api, client);
    const autoscaling = makeApiClient(kc, AutoscalingV2Api, client);
    const iopts: InformerOptions = { ...DEFAULT_INFORMER_OPTIONS, ...opts.informer };
    const make = (name: string, path: string, list: () => Promise<unknown>, selector?: string): AnyInformer =>
      new ResilientInformer<KubernetesObject>(kc, name, path, () => {
        metrics.informerLists.inc({ informer: name });
        return list() as Promise<KubernetesListObject<KubernetesObject>>;
      }, selector, iopts, log, (reason) =>
        metrics.informerRestarts.inc({ informer: name, reason: reason.split(':')[0] }));
    const labelSelector = CHILD_SELECTOR;
    // One row per kind watched: its collection across all namespaces (a namespace's is the same with
    // /namespaces/{ns} before the plural) and its list, in a namespace or across all of them (ns undefined).
    const kinds: Record<keyof InformerSet, { path: string; selector?: string; list(ns: string | undefined): Promise<unknown> }> = {
      mds: { path: `/apis/${GROUP}/${VERSION}/${PLURAL}`, list: (ns) => (ns ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL }) : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) },
      deployments: { path: '/apis/apps/v1/deployments', selector: labelSelector, list: (ns) => (ns ? apps.listNamespacedDeployment({ namespace: ns, labelSelector }) : apps.listDeploymentForAllNamespaces({ labelSelector })) },
      services: { path: '/api/v1/services', selector: labelSelector, list: (ns) => (ns ? core.listNamespacedService({ namespace: ns, labelSelector }) : core.listServiceForAllNamespaces({ labelSelector })) },
      pdbs: { path: '/apis/policy/v1/poddisruptionbudgets', selector: labelSelector, list: (ns) => (ns ? policy.listNamespacedPodDisruptionBudget({ namespace: ns, labelSelector }) : policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector })) },
      pods: { path: '/api/v1/pods', selector: POD_SELECTOR, list: (ns) => (ns ? core.listNamespacedPod({ namespace: ns, labelSelector: POD_SELECTOR }) : core.listPodForAllNamespaces({ labelSelector: POD_SELECTOR })) },
      hpas: { path: '/apis/autoscaling/v2/horizontalpodautoscalers', selector: labelSelector, list: (ns) => (ns ? autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: ns, labelSelector }) : autoscaling.listHorizontalPodAutoscalerForAllNamespaces({ labelSelector })) },
      scaledobjects: { path: '/apis/keda.sh/v1alpha1/scaledobjects', selector: labelSelector, list: (ns) => (ns ? custom.listNamespacedCustomObject({ ...SCALED_OBJECTS, namespace: ns, labelSelector }) : custom.listClusterCustomObject({ ...SCALED_OBJECTS, labelSelector })) },
    };
    const inNamespace = (path: string, ns: string | undefined) => (ns ? path.replace(/\/([^/]+)$/, `/namespaces/${ns}/$1`) : path);
    const informers = (ns: string | undefined): InformerSet => Object.fromEntries(
      (Object.entries(kinds) as Array<[keyof InformerSet, (typeof kinds)[keyof InformerSet]]>).map(([key, k]) =>
        [key, make(k.path.split('/').pop()!, inNamespace(k.path, ns), () => k.list(ns), k.selector)]),
    ) as InformerSet;
    const namespaces = [...new Set(opts.namespaces ?? [])];
    this.sets = namespaces.length ? new Map(namespaces.map((ns) => [ns, informers(ns)])) : new Map([[ALL, informers(undefined)]]);
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
        // A deleted or edited HPA or ScaledObject is put back at once, not at the next resync.
        set.hpas.on(ev, enqueueOwner);
        set.scaledobjects.on(ev, enqueueOwner);
      }
    }
  }

  private setFor(namespace: string): InformerSet | undefined {
    return this.sets.get(namespace) ?? this.sets.get(ALL);
  }

  /** Whether the informers of this kind run: always, or for an optional one once its API was found served. */
  private runs(which: keyof InformerSet): boolean {
    return !isOptional(which) || this.watching.has(which);
  }

  /** The informers this controller runs. */
  private all(): AnyInformer[] {
    return [...this.sets.values()].flatMap((s) => (Object.keys(s) as (keyof InformerSet)[]).filter((which) => this.runs(which)).map((which) => s[which]));
  }

  /**
   * Starts the informers on an API once it is known to be served (ExternalScalers calls this when it finds KEDA
   * installed); until they have listed, their objects are read from the API.
   */
  watchServed(groupVersion: string): void {
    const which = (Object.keys(OPTIONAL_WATCHES) as OptionalWatch[]).find((w) => OPTIONAL_WATCHES[w] === groupVersion);
    if (!which || this.watching.has(which) || !this.started || this.stopping) return;
    this.watching.add(which);
    this.log.info('watching a newly served API', { groupVersion });
    for (const set of this.sets.values()) void set[which].start();
  }

  cache(): ClusterCache {
    const byKind: Record<string, keyof InformerSet> = {
      'apps/v1/Deployment': 'deployments',
      'v1/Service': 'services',
      'policy/v1/PodDisruptionBudget': 'pdbs',
      [`${OPTIONAL_WATCHES.hpas}/HorizontalPodAutoscaler`]: 'hpas',
      [`${OPTIONAL_WATCHES.scaledobjects}/ScaledObject`]: 'scaledobjects',
    };
    return {
      modelDeployment: (namespace, name) => this.setFor(namespace)?.mds.get(name, namespace) as ModelDeployment | undefined,
      modelDeployments: () => this.modelDeployments() as ModelDeployment[],
      child: (apiVersion, kind, namespace, name) => {
        const which = byKind[`${apiVersion}/${kind}`];
        if (!which || !this.runs(which)) return undefined;
        return this.setFor(namespace)?.[which].get(name, namespace);
      },
      pods: (namespace, labels) =>
        ((this.setFor(namespace)?.pods.list(namespace) ?? []) as V1Pod[]).filter((p) => Object.entries(labels).every(([k, v]) => p.metadata?.labels?.[k] === v)),
    };
  }

  async start(reconciler: Reconciler): Promise<void> {
    for (const [which, groupVersion] of Object.entries(OPTIONAL_WATCHES) as [OptionalWatch, string][]) {
      const served = await this.served(groupVersion).catch((err: unknown) => {
        this.log.warn('discovery failed; objects of this API are read from the API server when needed', { groupVersion, error: describeError(err) });
        return false;
      });
      if (served) this.watching.add(which);
    }
    const starting = Promise.all(this.all().map((i) => i.start()));
    // From here on an optional informer not started above may be started on its own.
    this.started = true;
    await starting;
    if (this.queue.isShuttingDown) return;
    this.synced = true;
    this.log.info('caches synced', { modelDeployments: this.modelDeployments().length });
    const workers = this.opts.workers ?? 4;
    this.workers = runWorkers(
      this.queue,
      workers,
      async (key) => {
        const end = this.metrics.reconcileDuration.startTimer();
        this.inProgress.set(key, Date.now());
        try {
          const result = await reconciler.reconcile(key);
          this.metrics.reconciles.inc({ result: 'success' });
          return result;
        } catch (err) {
          const conflict = (err as { code?: number }).code === 409;
          this.metrics.reconciles.inc({ result: conflict ? 'conflict' : 'error' });
          throw err;
        } finally {
          this.inProgress.delete(key);
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

  private modelDeployments(): KubernetesObject[] {
    return [...this.sets.values()].flatMap((s) => [...s.mds.list()]);
  }

  /** How long the oldest reconcile in progress has been running (0 when none). */
  oldestReconcileMs(now = Date.now()): number {
    let oldest = now;
    for (const t of this.inProgress.values()) oldest = Math.min(oldest, t);
    return now - oldest;
  }

  /** Queues every ModelDeployment; a converged cluster then sees reads only. */
  resync(): void {
    for (const md of this.modelDeployments()) this.queue.add(`${md.metadata?.namespace ?? ''}/${md.metadata?.name ?? ''}`);
  }

  /** Stops the watches, then lets workers finish the keys they hold. */
  async stop(drain: boolean): Promise<void> {
    this.stopping = true;
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
  private readonly elector?: LeaderElector;
  private readonly health?: HealthServer;
  private controller?: Controller;
  private controllerStarting?: Promise<void>;
  private term?: { abort: AbortController; events: EventRecorder; loops: LeaderLoop[]; gone: GoneWatcher };
  private discovery?: ApiDiscovery;
  private stopped = false;
  /** When each refused verb and resource was last logged, so a retried refusal logs once a minute. */
  private readonly forbiddenLogged = new Map<string, number>();
  /** Set once leadership was lost: this process reconciles no more and should exit. */
  lostLeadership = false;
  healthPort?: number;

  constructor(private readonly opts: OperatorOptions) {
    this.log = opts.logger ?? createLogger('operator');
    this.identity = (opts.leaderElection && opts.leaderElection.identity) || `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.metrics = createMetrics(() => this.controller?.queue.length ?? 0, opts.defaultMetrics ?? true);
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      this.elector = new LeaderElector(
        makeApiClient(opts.kubeConfig, CoordinationV1Api, this.clientOptions()),
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
          onStoppedLeading: () => this.onLostLeadership(),
        },
        this.log,
        this.clientOptions(),
      );
    }
    if (opts.metricsPort !== null && opts.metricsPort !== undefined) {
      this.health = new HealthServer({ live: () => this.liveness().ok, ready: () => this.ready, explain: () => this.liveness().reason }, this.metrics.registry);
    }
  }

  private clientOptions(signal?: AbortSignal): ApiClientOptions {
    return { timeoutMs: this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, signal, userAgent: `modelplane-operator (${this.identity})`, onForbidden: this.reportForbidden };
  }

  /** A 403 means the operator's role lacks a permission: say which, at error, whatever request met it. */
  private readonly reportForbidden = (r: ForbiddenRequest): void => {
    this.metrics.forbidden.inc({ verb: r.verb, resource: r.resource });
    const key = `${r.verb} ${r.resource} ${r.namespace ?? ''}`;
    const now = Date.now();
    if (now - (this.forbiddenLogged.get(key) ?? -Infinity) < 60_000) return;
    this.forbiddenLogged.set(key, now);
    const { message, ...target } = r;
    this.log.error('the API server refused a request: the operator\'s role does not grant this verb on this resource', { ...target, error: message });
  };

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : !!this.controller;
  }

  /** Ready to serve its role: a standby is ready; a leader once its caches are synced. */
  get ready(): boolean {
    if (this.stopped || this.lostLeadership) return false;
    if (this.elector && !this.elector.isLeader) return true;
    return !!this.controller?.synced;
  }

  get synced(): boolean {
    return !!this.controller?.synced;
  }

  /** Alive unless stopped, deposed, or a worker or the leader election loop is stuck past the threshold. */
  liveness(now = Date.now()): { ok: boolean; reason?: string } {
    if (this.stopped) return { ok: false, reason: 'stopped' };
    if (this.lostLeadership) return { ok: false, reason: 'lost leadership' };
    const limit = this.opts.stuckAfterMs ?? 3 * 60_000;
    const reconcileMs = this.controller?.oldestReconcileMs(now) ?? 0;
    if (reconcileMs > limit) return { ok: false, reason: `a reconcile has been running for ${Math.round(reconcileMs / 1000)} s` };
    if (this.elector?.isRunning) {
      const loopMs = now - this.elector.lastProgressAt;
      if (loopMs > limit) return { ok: false, reason: `the leader election loop has not advanced for ${Math.round(loopMs / 1000)} s` };
    }
    return { ok: true };
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

  /** The renew deadline passed: stop writing at once, end the term, and let the process exit. */
  private onLostLeadership(): void {
    this.metrics.leader.set(0);
    this.lostLeadership = true;
    // Abort every request of this term first: in-flight writes end client-side and no new one is sent.
    this.term?.abort.abort(new Error('leadership lost'));
    void this.stopController(false);
    this.opts.onLostLeadership?.();
  }

  private startController(): void {
    if (this.stopped || this.controller) return;
    const abort = new AbortController();
    // Every request of the term listens on this signal while in flight; many at once are expected, not a leak.
    setMaxListeners(0, abort.signal);
    const client = this.clientOptions(abort.signal);
    const events = eventRecorder(this.opts.kubeConfig, this.log, { client });
    const gone = new GoneWatcher(this.opts.kubeConfig, this.log);
    const term = { abort, events, loops: [] as LeaderLoop[], gone };
    this.term = term;
    const discovery = this.apiDiscovery();
    const controller = new Controller(this.opts, this.log, this.metrics, events, new WorkQueue(this.opts.queue), client, (gv) => discovery.served(gv));
    this.controller = controller;
    const custom = makeApiClient(this.opts.kubeConfig, CustomObjectsApi, client);
    const cache = controller.cache();
    const reconciler = new Reconciler({
      cache,
      writer: childWriter(this.opts.kubeConfig, client),
      events,
      config: this.opts.config,
      log: this.log,
      conflictRetryMs: this.opts.conflictRetryMs,
      watchUntilGone: (object, key) => gone.untilGone(object, () => controller.queue.add(key)),
      warmups: new WarmupObserver((key) => controller.queue.add(key)),
      onApply: (kind) => this.metrics.childApplies.inc({ kind }),
      onStatusWrite: () => this.metrics.statusWrites.inc(),
      ownerGone: async (md: ModelDeployment) => {
        const live = (await orAbsent(custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: md.metadata.namespace!, name: md.metadata.name! }))) as ModelDeployment | undefined;
        return !live || live.metadata.uid !== md.metadata.uid || !!live.metadata.deletionTimestamp;
      },
      scalers: ExternalScalers.forCluster(this.opts.kubeConfig, discovery, this.opts.config, client, { cached: cache.child, served: (gv) => controller.watchServed(gv) }),
      writeStatus: async (md: ModelDeployment, status: ModelDeploymentStatus) => {
        // The whole status is replaced (an update of the status subresource, conditional on the version read), so a
        // key that went away at any depth goes from the stored status too; the server ignores the rest of the body.
        await custom.replaceNamespacedCustomObjectStatus({
          group: GROUP, version: VERSION, plural: PLURAL, namespace: md.metadata.namespace!, name: md.metadata.name!, fieldManager: FIELD_MANAGER,
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name: md.metadata.name, namespace: md.metadata.namespace, resourceVersion: md.metadata.resourceVersion }, spec: md.spec, status },
        });
      },
    });
    this.controllerStarting = controller.start(reconciler).then(
      () => this.startLeaderLoops(term, cache),
      (err: unknown) => {
        this.log.error('controller failed to start', { error: describeError(err) });
      },
    );
  }

  /** Starts the leader-only loops once the caches are synced, unless the term already ended. */
  private async startLeaderLoops(term: NonNullable<Operator['term']>, cache: ClusterCache): Promise<void> {
    for (const loop of this.opts.leaderLoops ?? []) {
      if (term.abort.signal.aborted || this.term !== term) return;
      const ctx: LeaderTerm = {
        kubeConfig: this.opts.kubeConfig,
        signal: term.abort.signal,
        apiClient: (api) => makeApiClient(this.opts.kubeConfig, api as never, this.clientOptions(term.abort.signal)),
        cache,
        events: term.events,
        config: this.opts.config,
        log: this.log.child({ loop: loop.name }),
      };
      try {
        await loop.start(ctx);
      } catch (err) {
        this.log.error('leader loop failed to start', { loop: loop.name, error: describeError(err) });
        continue;
      }
      // The term may have ended while the loop started: stop it as stopController would have.
      if (this.term !== term) await this.stopLoop(loop, !term.abort.signal.aborted);
      else term.loops.push(loop);
    }
  }

  private async stopLoop(loop: LeaderLoop, drain: boolean): Promise<void> {
    try {
      await loop.stop(drain);
    } catch (err) {
      this.log.warn('leader loop failed to stop', { loop: loop.name, error: describeError(err) });
    }
  }

  /** Which APIs the cluster serves (is KEDA installed?), shared by every leadership term. */
  private apiDiscovery(): ApiDiscovery {
    this.discovery ??= ApiDiscovery.forCluster(this.opts.kubeConfig, this.clientOptions(), { ttlMs: this.opts.discoveryTtlMs ?? 60_000 });
    return this.discovery;
  }

  private async stopController(drain: boolean): Promise<void> {
    const c = this.controller;
    const term = this.term;
    this.controller = undefined;
    this.term = undefined;
    if (!drain) term?.abort.abort(new Error('leadership ended'));
    // The loops stop alongside the controller: no new step starts, and one in flight finishes while the
    // workers drain (with drain false the term's writes are already cancelled).
    term?.gone.stop();
    const loopsStopped = Promise.all((term?.loops ?? []).map((loop) => this.stopLoop(loop, drain)));
    if (c) await c.stop(drain);
    await loopsStopped;
    await this.controllerStarting;
    if (drain) await term?.events.flush();
    term?.abort.abort(new Error('leadership ended'));
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
