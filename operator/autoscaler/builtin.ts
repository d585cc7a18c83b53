// The built-in autoscaler's loop (spec.autoscaling.mode builtin), run by the leader only: every interval it
// scrapes /metrics of each ready runtime pod (pod IP, the container's `http` port, a short timeout, bounded
// parallelism), turns two successive scrapes into a LoadSample, asks the pure decider, and writes spec.replicas
// through the scale subresource only when the decision changes it, with an Event saying why. The operator runs
// it as a leader-only loop (builtinAutoscalerLoop): it starts once the leader's caches sync, its API calls carry
// the operator's deadline and the term's signal, and it stops when the term ends. With a gateway selector it also
// scrapes the gateway pods each step: their requests in flight and held per ModelDeployment join its load, which is
// what wakes a deployment at zero.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { fetchMetricsText } from '../../common/prometheus-text.js';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type ModelDeployment } from '../api/schema.js';
import { validateModelDeployment } from '../api/validate.js';
import { RUNTIME_CONTAINER } from '../resources/deployment.js';
import { selectorLabels } from '../resources/labels.js';
import { averageField, decide, initialState, loadSignal, policyFor, round1, type AutoscalerState, type LoadSignal, type PolicyTuning } from './decision.js';
import type { AutoscalerStatus } from './scalers.js';
import {
  gatewayKey, loadSample, nextBaseline, parseGatewayMetrics, parseRuntimeMetrics, RUNNING_SEQUENCES_SERIES, sequencesSample, sumGatewayLoads, withGatewayLoad,
  type GatewayLoad, type PodScrape,
} from './signal.js';
import type { LeaderLoop } from '../kube/leader-loop.js';
import { makeApiClient } from '../kube/api-client.js';
import { isoSeconds } from '../../common/time.js';

export interface BuiltinAutoscalerOptions {
  /** Time between decisions (--autoscale-interval). */
  intervalMs: number;
  /** Deadline of one pod's /metrics scrape. */
  scrapeTimeoutMs: number;
  /** Pods scraped at once, over all ModelDeployments. */
  parallelism: number;
  /** Windows and rates of the decider (tests shorten them). */
  tuning?: Partial<PolicyTuning>;
  /** status.autoscaler is rewritten at most this often when only the measured concurrency moved. */
  statusRefreshMs: number;
  /** The gateway pods to scrape (--gateway-namespace, --gateway-selector); none: the runtime pods alone. */
  gateway?: GatewayPods;
}

/** Where the gateway pods are: a namespace and a label selector. */
export interface GatewayPods {
  namespace: string;
  selector: string;
}

export const DEFAULT_BUILTIN_OPTIONS: BuiltinAutoscalerOptions = {
  intervalMs: 2000,
  scrapeTimeoutMs: 1000,
  parallelism: 16,
  statusRefreshMs: 30_000,
};

/** What the loop reads: the informers' view of ModelDeployments and their pods. */
export interface AutoscalerSource {
  modelDeployments(): ModelDeployment[];
  pods(namespace: string, labels: Record<string, string>): V1Pod[];
  /** The gateway pods, listed from the API server with a deadline; absent: no gateway is scraped. */
  gatewayPods?(): Promise<V1Pod[]>;
}

/** What the loop writes. */
export interface ScaleWriter {
  /** spec.replicas through the scale subresource. */
  scale(md: ModelDeployment, replicas: number): Promise<void>;
  /** status.autoscaler alone, through the status subresource. */
  writeStatus(md: ModelDeployment, autoscaler: AutoscalerStatus): Promise<void>;
  event(md: ModelDeployment, reason: string, message: string, type?: 'Normal' | 'Warning'): void;
}

/** Reads one URL's body within the deadline; throws on any failure. */
export type MetricsReader = (url: string, timeoutMs: number) => Promise<string>;

export const fetchMetrics: MetricsReader = fetchMetricsText;

interface Tracked {
  uid: string;
  state: AutoscalerState;
  baseline: Map<string, PodScrape>;
  lastScaleTime?: string;
  written?: { status: AutoscalerStatus; at: number };
  /** Since when ready pods have existed and none of their metrics could be read (undefined while reads succeed). */
  unscrapedSince?: number;
  /** When the last step decided: a gauge sample (metric sequences) weighs the time since. */
  lastStep?: number;
}

const isReady = (p: V1Pod) => !p.metadata?.deletionTimestamp && !!p.status?.podIP && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const podKey = (p: V1Pod) => `${p.metadata?.name}/${p.metadata?.uid ?? ''}`;

/** The runtime's metrics URL in a pod: its IP and the runtime container's port named http. */
export function metricsUrl(pod: V1Pod): string | undefined {
  return podUrl(pod, 'http', RUNTIME_CONTAINER);
}

/** A gateway's metrics URL: its pod IP and the container port named metrics. */
export function gatewayMetricsUrl(pod: V1Pod): string | undefined {
  return podUrl(pod, 'metrics');
}

/** http://<pod IP>:<the port named portName>/metrics, the named container's ports first. */
function podUrl(pod: V1Pod, portName: string, container?: string): string | undefined {
  const containers = pod.spec?.containers ?? [];
  const ordered = [...containers.filter((c) => c.name === container), ...containers.filter((c) => c.name !== container)];
  const port = ordered.flatMap((c) => c.ports ?? []).find((p) => p.name === portName)?.containerPort;
  const ip = pod.status?.podIP;
  if (!port || !ip) return undefined;
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}/metrics`;
}

/** Runs at most `n` of the tasks at once. */
async function bounded<T>(n: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return out;
}

export class BuiltinAutoscaler {
  private readonly tracked = new Map<string, Tracked>();
  /** Pods whose last scrape failed, with why: a failure is logged at warn when it starts, and when it ends. */
  private readonly failing = new Map<string, string>();
  /** Validated specs by uid and generation: validation costs about half a millisecond, far too much every step. */
  private readonly specs = new Map<string, { generation: number | undefined; spec?: ModelDeployment['spec'] }>();
  /** What last went wrong reading the gateway pods (undefined while they answer): logged at warn when it starts. */
  private gatewayProblem?: string;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private started = false;
  private stopped = false;

  constructor(
    private readonly source: AutoscalerSource,
    private readonly writer: ScaleWriter,
    private readonly log: Logger,
    private readonly opts: BuiltinAutoscalerOptions = DEFAULT_BUILTIN_OPTIONS,
    private readonly read: MetricsReader = fetchMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule();
  }

  /** Stops deciding; resolves once a step in progress has finished (at once with `wait` false). */
  async stop(wait = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (wait) await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.step()
        .catch((err: unknown) => {
          this.log.warn('autoscaler step failed', { error: (err as Error).message });
        })
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.opts.intervalMs);
    this.timer.unref?.();
  }

  /** One round over every ModelDeployment in mode builtin. */
  async step(): Promise<void> {
    const now = this.now();
    const wanted: Array<{ key: string; md: ModelDeployment }> = [];
    const uids = new Set<string>();
    for (const raw of this.source.modelDeployments()) {
      const uid = raw.metadata.uid ?? '';
      uids.add(uid);
      const autoscaling = (raw.spec as { autoscaling?: { mode?: unknown } } | undefined)?.autoscaling;
      if (raw.metadata.deletionTimestamp || !autoscaling || (autoscaling.mode ?? 'builtin') !== 'builtin') continue;
      let cached = this.specs.get(uid);
      if (!cached || cached.generation !== raw.metadata.generation) {
        const v = validateModelDeployment(raw);
        cached = { generation: raw.metadata.generation, spec: v.ok ? v.value.spec : undefined };
        this.specs.set(uid, cached);
      }
      if (!cached.spec) continue;
      // Replicas always from the live object: they are what this loop and kubectl scale change.
      const replicas = (raw.spec as { replicas?: unknown }).replicas;
      const spec = { ...cached.spec, replicas: typeof replicas === 'number' ? replicas : cached.spec.replicas };
      wanted.push({ key: `${raw.metadata.namespace}/${raw.metadata.name}`, md: { ...raw, spec } });
    }
    for (const uid of this.specs.keys()) if (!uids.has(uid)) this.specs.delete(uid);
    const keys = new Set(wanted.map((w) => w.key));
    for (const key of this.tracked.keys()) if (!keys.has(key)) this.tracked.delete(key);

    // Scrape every ready pod of every ModelDeployment, bounded overall; a pod that does not answer is skipped.
    const perMd = wanted.map(({ key, md }) => {
      const pods = this.source.pods(md.metadata.namespace!, selectorLabels(md)).filter((p) => !p.metadata?.deletionTimestamp);
      return { key, md, ready: pods.filter(isReady) };
    });
    const tasks = perMd.flatMap(({ key, md, ready }) => ready.map((pod) => async () => ({ key, scrape: await this.scrape(pod, loadSignal(md.spec.autoscaling!)) })));
    const byKey = new Map<string, PodScrape[]>();
    const [scraped, gateway] = await Promise.all([bounded(this.opts.parallelism, tasks), wanted.length ? this.scrapeGateways() : undefined]);
    for (const r of scraped) if (r.scrape) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.scrape]);
    for (const { key, md, ready } of perMd) {
      const scrapes = byKey.get(key) ?? [];
      const atGateway = gateway && (gateway.get(gatewayKey(md.metadata.namespace!, md.metadata.name!)) ?? { inFlight: 0, held: 0 });
      await this.decideOne(key, md, ready, scrapes, now, atGateway).catch((err: unknown) =>
        this.log.warn('autoscaler decision not applied', { modelDeployment: key, error: (err as Error).message }));
    }
  }

  /**
   * Every ready gateway pod's load per ModelDeployment, summed; undefined without a gateway, or when the gateway pods
   * could not be listed or none answered (then the runtime pods alone are the load, as without a gateway).
   */
  private async scrapeGateways(): Promise<Map<string, GatewayLoad> | undefined> {
    if (!this.source.gatewayPods) return undefined;
    let pods: V1Pod[];
    try {
      pods = (await this.source.gatewayPods()).filter(isReady);
    } catch (err) {
      this.gatewayFailing('gateway pods could not be listed', (err as Error).message);
      return undefined;
    }
    const loads = await bounded(this.opts.parallelism, pods.map((pod) => async () => {
      const url = gatewayMetricsUrl(pod);
      if (!url) return { pod, error: 'it has no container port named metrics' };
      try {
        return { pod, load: parseGatewayMetrics(await this.read(url, this.opts.scrapeTimeoutMs)) };
      } catch (err) {
        return { pod, error: `its metrics did not answer: ${(err as Error).message}` };
      }
    }));
    const answered = loads.filter((l) => l.load).map((l) => l.load!);
    const errors = loads.filter((l) => l.error).map((l) => `${l.pod.metadata?.name}: ${l.error}`);
    if (answered.length === 0) {
      this.gatewayFailing('no gateway pod answered', errors.join('; ') || 'no ready gateway pod');
      return undefined;
    }
    if (errors.length) this.log.debug('gateway pods skipped by the autoscaler', { error: errors.join('; ') });
    if (this.gatewayProblem !== undefined) this.log.info('gateway metrics answer again', { pods: answered.length });
    this.gatewayProblem = undefined;
    return sumGatewayLoads(answered);
  }

  /** Logs a gateway problem at warn when it starts or changes, at debug while it lasts. */
  private gatewayFailing(what: string, error: string): void {
    const fields = { error, ...this.opts.gateway };
    if (this.gatewayProblem !== what) this.log.warn(`${what}; deciding on the runtime pods alone`, fields);
    else this.log.debug(what, fields);
    this.gatewayProblem = what;
  }

  private async scrape(pod: V1Pod, signal: LoadSignal): Promise<PodScrape | undefined> {
    const url = metricsUrl(pod);
    if (!url) return undefined;
    let why: string;
    try {
      const counters = parseRuntimeMetrics(await this.read(url, this.opts.scrapeTimeoutMs));
      if (counters && (signal === 'concurrency' || counters.sequences !== undefined)) {
        if (this.failing.delete(podKey(pod))) this.log.info('pod metrics answer again', { pod: pod.metadata?.name, url });
        return { pod: podKey(pod), time: this.now(), ...counters };
      }
      why = counters ? `its metrics lack ${RUNNING_SEQUENCES_SERIES} (metric sequences needs a generative model)` : 'its metrics lack the concurrency counter';
    } catch (err) {
      why = `its metrics did not answer: ${(err as Error).message}`;
    }
    const fields = { pod: pod.metadata?.name, namespace: pod.metadata?.namespace, url, error: why };
    if (!this.failing.has(podKey(pod))) this.log.warn('pod skipped by the autoscaler', fields);
    else this.log.debug('pod skipped by the autoscaler', fields);
    this.failing.set(podKey(pod), `${pod.metadata?.name}: ${why}`);
    return undefined;
  }

  /**
   * Whether the ModelDeployment has gone a whole stable window with ready pods and not one metrics read: then the
   * autoscaler decides blind, and says so (status.autoscaler.unscrapedSince, an Event, the Autoscaling condition).
   */
  private blind(t: Tracked, ready: V1Pod[], scrapes: PodScrape[], now: number, stableWindowSeconds: number): boolean {
    if (ready.length === 0 || scrapes.length > 0) {
      t.unscrapedSince = undefined;
      return false;
    }
    t.unscrapedSince ??= now;
    return now - t.unscrapedSince >= stableWindowSeconds * 1000;
  }

  private async decideOne(key: string, md: ModelDeployment, ready: V1Pod[], scrapes: PodScrape[], now: number, gateway?: GatewayLoad): Promise<void> {
    const uid = md.metadata.uid ?? '';
    let t = this.tracked.get(key);
    if (!t || t.uid !== uid) {
      t = { uid, state: initialState(now), baseline: new Map() };
      this.tracked.set(key, t);
    }
    const policy = policyFor(md.spec.autoscaling!, this.opts.tuning);
    const seconds = (now - (t.lastStep ?? now - this.opts.intervalMs)) / 1000;
    const podSample = policy.signal === 'sequences' ? sequencesSample(t.baseline, scrapes, ready.length, now, seconds) : loadSample(t.baseline, scrapes, ready.length, now);
    const sample = withGatewayLoad(podSample, gateway, now, seconds);
    t.baseline = nextBaseline(t.baseline, scrapes, new Set(ready.map(podKey)));
    t.lastStep = now;
    const current = md.spec.replicas;
    const { decision, state } = decide(policy, t.state, { now, current, ready: ready.length, notReady: Math.max(0, current - ready.length), sample });
    t.state = state;
    // Leadership may have ended while this step scraped: a former leader writes nothing.
    if (this.stopped) return;
    if (decision.desired !== current) {
      await this.writer.scale(md, decision.desired);
      t.lastScaleTime = isoSeconds(now);
      const message = `scaled ${current} -> ${decision.desired}: ${decision.reason}`;
      this.log.info('autoscaler scaled', { modelDeployment: key, from: current, to: decision.desired, reason: decision.reason });
      if (decision.desired === 0) {
        const delay = `scaleToZeroDelaySeconds ${policy.scaleToZeroDelaySeconds}`;
        this.writer.event(md, 'ScaledToZero', `${message} (${delay}); the gateway starts a replica on the next request`);
      } else {
        this.writer.event(md, 'Scaled', message);
      }
    }
    const blind = this.blind(t, ready, scrapes, now, policy.stableWindowSeconds);
    const why = blind ? `no ready runtime pod's metrics could be read for ${Math.round((now - t.unscrapedSince!) / 1000)} s (${ready.map((p) => this.failing.get(podKey(p))).filter(Boolean).join('; ')})` : '';
    if (blind && !md.status?.autoscaler?.unscrapedSince && !t.written?.status.unscrapedSince) this.writer.event(md, 'NoMetrics', why.slice(0, 1024), 'Warning');
    const average = averageField(policy);
    const status: AutoscalerStatus = {
      mode: 'builtin',
      ...(decision.stableConcurrency !== undefined ? { [average]: round1(decision.stableConcurrency) } : {}),
      desiredReplicas: decision.desired,
      ...(t.lastScaleTime ?? md.status?.autoscaler?.lastScaleTime ? { lastScaleTime: t.lastScaleTime ?? md.status!.autoscaler!.lastScaleTime } : {}),
      reason: (blind ? why : decision.reason).slice(0, 1024),
      ...(blind ? { unscrapedSince: isoSeconds(t.unscrapedSince!) } : {}),
    };
    const live = md.status?.autoscaler;
    const prev = t.written?.status ?? live;
    const essential = (s: AutoscalerStatus | undefined) => JSON.stringify([s?.mode, s?.desiredReplicas, s?.lastScaleTime, s?.unscrapedSince]);
    const changed = JSON.stringify(prev) !== JSON.stringify(status);
    const due = !t.written || now - t.written.at >= this.opts.statusRefreshMs || essential(live) !== essential(t.written.status);
    if (changed && (essential(prev) !== essential(status) || due)) {
      await this.writer.writeStatus(md, status);
      t.written = { status, at: now };
    }
  }
}

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * The scale and status writes through a client whose every request has a deadline (a leadership term's client:
 * cancelled when the term ends), and Events through the recorder.
 */
export function scaleWriter(custom: CustomObjectsApi, events: Record<'normal' | 'warning', (obj: KubernetesObject, reason: string, message: string) => void>): ScaleWriter {
  const at = (md: ModelDeployment) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: md.metadata.namespace!, name: md.metadata.name! });
  return {
    async scale(md, replicas) {
      await custom.patchNamespacedCustomObjectScale({ ...at(md), body: { spec: { replicas } } }, MERGE);
    },
    async writeStatus(md, autoscaler) {
      // A merge patch keeps keys it does not name: name the ones this status lacks, as null.
      const body = { averageConcurrency: null, averageSequences: null, desiredReplicas: null, lastScaleTime: null, reason: null, unscrapedSince: null, ...autoscaler };
      await custom.patchNamespacedCustomObjectStatus({ ...at(md), body: { status: { autoscaler: body } } }, MERGE);
    },
    event(md, reason, message, type = 'Normal') {
      events[type === 'Warning' ? 'warning' : 'normal']({ apiVersion: API_VERSION, kind: KIND, metadata: md.metadata }, reason, message);
    },
  };
}

/**
 * Lists the gateway pods. The client's deadline is the autoscale interval, shorter than the operator's API
 * deadline, so a slow answer delays one step at most by an interval; the scrapes then have their own.
 */
export function gatewayPodLister(core: CoreV1Api, gateway: GatewayPods): () => Promise<V1Pod[]> {
  return async () => (await core.listNamespacedPod({ namespace: gateway.namespace, labelSelector: gateway.selector })).items;
}

/**
 * The built-in autoscaler as a leader-only loop: one BuiltinAutoscaler per leadership term, reading the term's
 * caches and writing through the term's client and event recorder. stop(true) lets a step in flight finish;
 * stop(false) (leadership lost) returns at once, and the aborted term cancels any write still in flight.
 */
export function builtinAutoscalerLoop(options: Partial<BuiltinAutoscalerOptions> = {}): LeaderLoop<AutoscalerSource> {
  let current: BuiltinAutoscaler | undefined;
  return {
    name: 'autoscaler',
    start(term) {
      const opts = { ...DEFAULT_BUILTIN_OPTIONS, ...options };
      const source: AutoscalerSource = { modelDeployments: () => term.cache.modelDeployments(), pods: (namespace, labels) => term.cache.pods(namespace, labels) };
      if (opts.gateway) source.gatewayPods = gatewayPodLister(makeApiClient(term.kubeConfig, CoreV1Api, { timeoutMs: opts.intervalMs, signal: term.signal, userAgent: 'modelplane-operator (autoscaler)' }), opts.gateway);
      const autoscaler = new BuiltinAutoscaler(source, scaleWriter(term.apiClient(CustomObjectsApi), term.events), term.log, opts);
      current = autoscaler;
      if (term.signal.aborted) return void autoscaler.stop(false);
      term.signal.addEventListener('abort', () => void autoscaler.stop(false), { once: true });
      autoscaler.start();
    },
    async stop(drain) {
      const autoscaler = current;
      current = undefined;
      await autoscaler?.stop(drain);
    },
  };
}
