// The gateway's Directory in a cluster: informers over ModelDeployments and the EndpointSlices of their Services
// (in the namespaces given, or all). A Target per ModelDeployment under the model name it serves; its Upstreams are the ready,
// not terminating endpoints, each with keep-alive connections of its own, and stay the same objects while their
// endpoint stays (so a request's in-flight count survives an update). activate() asks for a first replica by a
// merge patch on the ModelDeployment's /scale subresource, only while spec.replicas is 0 and autoscaling.minReplicas
// is 0 (a deployment stopped on purpose stays stopped), one patch at a time.
// Two deployments serving one model name: the one created first is routed to; the other is logged and counted.
import { Agent, type AgentOptions } from 'node:http';
import { CustomObjectsApi, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../common/logger.js';
import { serviceName, servedName } from '../operator/api/names.js';
import { GROUP, PLURAL, VERSION } from '../operator/api/schema.js';
import { makeApiClient } from '../operator/kube/api-client.js';
import { DEFAULT_INFORMER_OPTIONS, ResilientInformer, describeError, type InformerOptions } from '../operator/kube/informer.js';
import type { Directory, ReadyCondition, Target, Upstream } from './directory.js';
import { SERVICE_NAME_LABEL, assignModels, readyConditionOf, readyEndpoints, type EndpointAddress, type EndpointSlice, type ShadowedModel } from './endpoints.js';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A ModelDeployment as the directory reads it (raw JSON from the API server; the spec may be invalid). */
export interface ModelDeploymentObject extends KubernetesObject {
  spec?: { replicas?: number; model?: { servedName?: string }; autoscaling?: { minReplicas?: number } };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

export interface ClusterDirectoryOptions {
  kubeConfig: KubeConfig;
  /** Watch these namespaces only; undefined or empty: all namespaces. */
  namespaces?: readonly string[];
  /** Deadline of every API request (lists and the /scale patch). */
  requestTimeoutMs: number;
  informer?: Partial<InformerOptions>;
  /** Keep-alive connections to each upstream. */
  agent?: AgentOptions;
  logger: Logger;
  /** Where the directory's metrics go (shadowed model names, activations, informer restarts). */
  registry?: Registry;
}

/** Scales a ModelDeployment through its /scale subresource. */
export type ScalePatcher = (namespace: string, name: string, replicas: number) => Promise<void>;

/** One ModelDeployment behind the gateway. */
export class ClusterTarget implements Target {
  private md: ModelDeploymentObject;
  private byAddress = new Map<string, Upstream>();
  private current: readonly Upstream[] = [];
  private patching = false;

  constructor(md: ModelDeploymentObject, private readonly scale: ScalePatcher, private readonly agentOptions: AgentOptions, private readonly onActivation: (result: 'patched' | 'failed' | 'skipped' | 'stopped') => void, private readonly log: Logger) {
    this.md = md;
  }

  get namespace(): string {
    return this.md.metadata!.namespace ?? 'default';
  }

  get name(): string {
    return this.md.metadata!.name!;
  }

  get model(): string {
    return modelOf(this.md);
  }

  /** metadata.creationTimestamp in one format (RFC 3339 with milliseconds), '' when unknown. */
  get created(): string {
    const ts = this.md.metadata?.creationTimestamp;
    return ts ? new Date(ts).toISOString() : '';
  }

  upstreams(): readonly Upstream[] {
    return this.current;
  }

  desiredReplicas(): number {
    const r = this.md.spec?.replicas;
    return typeof r === 'number' ? r : 1;
  }

  readyCondition(): ReadyCondition | undefined {
    return readyConditionOf(this.md);
  }

  /** Takes the latest object; true when what the gateway reads of it (replicas, Ready) changed. */
  setObject(md: ModelDeploymentObject): boolean {
    const before = JSON.stringify([this.desiredReplicas(), this.readyCondition()]);
    this.md = md;
    return before !== JSON.stringify([this.desiredReplicas(), this.readyCondition()]);
  }

  /** Takes the ready endpoints; an upstream whose address stays is kept as it is. True when the set changed. */
  setEndpoints(addresses: readonly EndpointAddress[]): boolean {
    const next = new Map<string, Upstream>();
    for (const a of addresses) {
      const key = `${a.host}:${a.port}:${a.grpcPort ?? ''}:${a.id}`;
      next.set(key, this.byAddress.get(key) ?? { id: a.id, host: a.host, port: a.port, ...(a.grpcPort !== undefined ? { grpcPort: a.grpcPort } : {}), inflight: 0, agent: new Agent({ keepAlive: true, ...this.agentOptions }) });
    }
    const changed = next.size !== this.byAddress.size || [...next.keys()].some((k) => !this.byAddress.has(k));
    for (const [key, up] of this.byAddress) if (!next.has(key)) retire(up.agent);
    this.byAddress = next;
    this.current = [...next.values()];
    return changed;
  }

  /**
   * Holds requests for a deployment on its way up (true), asks for its first replica when it is at zero and may scale
   * to zero (autoscaling.minReplicas 0), and refuses one stopped on purpose (spec.replicas 0 without it: false).
   */
  activate(): boolean {
    if (this.desiredReplicas() > 0) return true;
    if (this.md.spec?.autoscaling?.minReplicas !== 0) {
      this.onActivation('stopped');
      return false;
    }
    if (this.patching) {
      this.onActivation('skipped');
      return true;
    }
    this.patching = true;
    this.scale(this.namespace, this.name, 1).then(
      () => {
        this.log.info('scaled from zero to one replica for a held request', { namespace: this.namespace, name: this.name });
        this.onActivation('patched');
      },
      (err: unknown) => {
        // The hold queue asks again when the directory next changes, and every new request does.
        this.log.warn('scale from zero failed', { namespace: this.namespace, name: this.name, reason: describeError(err) });
        this.onActivation('failed');
      },
    ).finally(() => (this.patching = false));
    return true;
  }

  /** Closes the keep-alive connections to every upstream. */
  close(): void {
    for (const up of this.byAddress.values()) retire(up.agent);
    this.byAddress.clear();
    this.current = [];
  }
}

/**
 * Closes an agent's connections as they become idle: a replica that left (terminating, no longer ready) still finishes
 * the requests it was sent, as a draining pod does, and only its idle keep-alive connections are closed at once.
 */
export function retire(agent: Agent): void {
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  agent.on('free', (socket) => socket.destroy());
}

/** The model name a ModelDeployment serves under, also when its spec is invalid. */
export function modelOf(md: ModelDeploymentObject): string {
  return servedName({ metadata: md.metadata ?? {}, spec: { model: md.spec?.model ?? {} } });
}

interface DirectoryMetrics {
  shadowed: Gauge;
  activations: Counter<'result'>;
  informerRestarts: Counter<'informer' | 'reason'>;
}

function createDirectoryMetrics(registry: Registry | undefined): DirectoryMetrics {
  const registers = registry ? [registry] : [];
  return {
    shadowed: new Gauge({ name: 'modelplane_gateway_shadowed_models', help: 'ModelDeployments not routed to because one created earlier serves the same model name.', registers }),
    activations: new Counter({ name: 'modelplane_gateway_activations_total', help: 'Held requests asking for a first replica of a deployment at zero, by result (patched; failed; skipped: a patch already in flight; stopped: spec.replicas 0 without autoscaling.minReplicas 0, answered at once).', labelNames: ['result'], registers }),
    informerRestarts: new Counter({ name: 'modelplane_gateway_informer_restarts_total', help: 'Informer restarts after an error or a silent watch.', labelNames: ['informer', 'reason'], registers }),
  };
}

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** Every ModelDeployment of the watched namespaces as a Target, from informers. */
export class ClusterDirectory implements Directory {
  /** One informer of each kind per watched namespace (or one for all), by namespace ('' for all). */
  private readonly mds = new Map<string, ResilientInformer<ModelDeploymentObject>>();
  private readonly slices = new Map<string, ResilientInformer<EndpointSlice>>();
  private readonly targets = new Map<string, ClusterTarget>();
  private byModel = new Map<string, ClusterTarget>();
  private shadowed: ShadowedModel[] = [];
  private readonly listeners: Array<(t: Target) => void> = [];
  private readonly metrics: DirectoryMetrics;
  private readonly scale: ScalePatcher;

  constructor(private readonly opts: ClusterDirectoryOptions) {
    const { kubeConfig: kc, logger: log } = opts;
    const client = { timeoutMs: opts.requestTimeoutMs, userAgent: 'modelplane-gateway' };
    const custom = makeApiClient(kc, CustomObjectsApi, client);
    const discovery = makeApiClient(kc, DiscoveryV1Api, client);
    const iopts: InformerOptions = { ...DEFAULT_INFORMER_OPTIONS, ...opts.informer };
    this.metrics = createDirectoryMetrics(opts.registry);
    const restarts = (informer: string) => (reason: string) => this.metrics.informerRestarts.inc({ informer, reason: reason.split(':')[0] });
    const md = { group: GROUP, version: VERSION, plural: PLURAL };
    for (const ns of opts.namespaces?.length ? [...new Set(opts.namespaces)] : ['']) {
      const at = (path: string) => (ns ? path.replace(/\/([^/]+)$/, `/namespaces/${ns}/$1`) : path);
      const mds = new ResilientInformer<ModelDeploymentObject>(kc, 'modeldeployments', at(`/apis/${GROUP}/${VERSION}/${PLURAL}`),
        () => (ns ? custom.listNamespacedCustomObject({ ...md, namespace: ns }) : custom.listClusterCustomObject(md)) as Promise<KubernetesListObject<ModelDeploymentObject>>,
        undefined, iopts, log, restarts('modeldeployments'));
      // Every slice a Service controller wrote; those of Services that are no ModelDeployment's are skipped when read.
      const slices = new ResilientInformer<EndpointSlice>(kc, 'endpointslices', at('/apis/discovery.k8s.io/v1/endpointslices'),
        () => (ns ? discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: SERVICE_NAME_LABEL }) : discovery.listEndpointSliceForAllNamespaces({ labelSelector: SERVICE_NAME_LABEL })) as Promise<KubernetesListObject<EndpointSlice>>,
        SERVICE_NAME_LABEL, iopts, log, restarts('endpointslices'));
      for (const ev of ['add', 'update'] as const) mds.on(ev, (o) => this.upsert(o));
      mds.on('delete', (o) => this.remove(o));
      for (const ev of ['add', 'update', 'delete'] as const) slices.on(ev, (s) => this.sliceChanged(s));
      this.mds.set(ns, mds);
      this.slices.set(ns, slices);
    }
    this.scale = async (namespace, name, replicas) => {
      await custom.patchNamespacedCustomObjectScale({ ...md, namespace, name, body: { spec: { replicas } } }, MERGE);
    };
  }

  /** Starts the informers; resolves once each listed (or when stopped first). */
  async start(): Promise<void> {
    await Promise.all([...this.mds.values(), ...this.slices.values()].map((i) => i.start()));
  }

  /** Every informer has listed once: the directory knows every target (the gateway's readiness). */
  get synced(): boolean {
    return [...this.mds.values(), ...this.slices.values()].every((i) => i.hasSynced);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.mds.values(), ...this.slices.values()].map((i) => i.stop()));
    for (const t of this.targets.values()) t.close();
  }

  lookup(model: string): Target | undefined {
    return this.byModel.get(model);
  }

  list(): readonly Target[] {
    return [...this.byModel.values()];
  }

  subscribe(listener: (target: Target) => void): void {
    this.listeners.push(listener);
  }

  /** Deployments that serve a model name another one owns, for logs, metrics and status pages. */
  shadowedModels(): readonly ShadowedModel[] {
    return this.shadowed;
  }

  private upsert(md: ModelDeploymentObject): void {
    const key = keyOf(md);
    let target = this.targets.get(key);
    const created = !target;
    if (!target) {
      target = new ClusterTarget(md, this.scale, this.opts.agent ?? {}, (result) => this.metrics.activations.inc({ result }), this.opts.logger);
      this.targets.set(key, target);
    }
    const model = target.model;
    const changed = target.setObject(md);
    if (created || model !== target.model) this.reassign();
    const endpointsChanged = this.refreshEndpoints(target);
    if (changed || endpointsChanged) this.notify(target);
  }

  private remove(md: ModelDeploymentObject): void {
    const key = keyOf(md);
    const target = this.targets.get(key);
    if (!target) return;
    this.targets.delete(key);
    target.close();
    this.reassign();
    this.notify(target);
  }

  private sliceChanged(slice: EndpointSlice): void {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!service) return;
    for (const t of this.targets.values()) {
      if (t.namespace === (slice.metadata?.namespace ?? '') && serviceName({ metadata: { name: t.name } }) === service && this.refreshEndpoints(t)) this.notify(t);
    }
  }

  /** Reads the target's Service's slices again; true when its upstreams changed. */
  private refreshEndpoints(target: ClusterTarget): boolean {
    const service = serviceName({ metadata: { name: target.name } });
    const informer = this.slices.get(target.namespace) ?? this.slices.get('');
    const slices = (informer?.list(target.namespace) ?? []).filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === service);
    return target.setEndpoints(readyEndpoints(slices));
  }

  /** Decides again which deployment owns each model name, and reports the names served twice when that changed. */
  private reassign(): void {
    const claims = [...this.targets.values()].map((t) => ({ model: t.model, namespace: t.namespace, name: t.name, created: t.created }));
    const { owners, shadowed } = assignModels(claims);
    this.byModel = new Map([...owners].map(([model, c]) => [model, this.targets.get(`${c.namespace}/${c.name}`)!]));
    const before = JSON.stringify(this.shadowed);
    this.shadowed = shadowed;
    this.metrics.shadowed.set(shadowed.length);
    if (before !== JSON.stringify(shadowed)) {
      for (const s of shadowed) this.opts.logger.warn('model name served by an earlier ModelDeployment: not routed to', { reason: 'ModelNameTaken', model: s.model, namespace: s.namespace, name: s.name, ownedBy: s.ownedBy });
    }
  }

  private notify(target: Target): void {
    for (const l of this.listeners) {
      try {
        l(target);
      } catch (err) {
        this.opts.logger.error('directory listener failed', { error: (err as Error).message });
      }
    }
  }
}
