// One ModelDeployment in local mode: its model fetched into the cache, its replicas as processes, rolled one at
// a time when the spec changes what the runtime runs, scaled by spec.replicas or by the operator's autoscaler
// decision fed with the router's measurements, and its status computed as the operator computes it.
import { createHash } from 'node:crypto';
import type { Logger } from '../common/logger.js';
import type { ReadyCondition, Target, Upstream } from '../gateway/directory.js';
import { isoSeconds } from '../common/time.js';
import type { ModelDeployment, ModelDeploymentStatus } from '../operator/api/schema.js';
import { averageField, decide, initialState, policyFor, type AutoscalerPolicy, type AutoscalerState, type Decision, type PolicyTuning } from '../operator/autoscaler/decision.js';
import { selectorFor } from '../operator/resources/labels.js';
import { LoadMeter } from './load-meter.js';
import { servedName } from './manifests.js';
import { cacheModel, cacheSamples } from './model-cache.js';
import { optimizationSamples } from '../operator/resources/samples.js';
import { optimizeForLocal } from './model-optimizer.js';
import { Replica } from './replica.js';
import { replicaArgs } from './replica-args.js';
import { planReplicas } from './rollout.js';
import { localStatus } from './status.js';
import { count } from './words.js';

/** Autoscaler windows for local mode (tests and demos shorten them); the operator's defaults otherwise. */
export type AutoscalerTuning = Partial<Pick<PolicyTuning, 'stableWindowSeconds' | 'panicWindowSeconds'>>;

export interface DeploymentContext {
  cacheDir: string;
  runDir: string;
  logger: Logger;
  /** node and bin/modelplane.js */
  command: string;
  cliPath: string;
  /** The router's base URL, for status.url. */
  routerUrl: () => string;
  /** Something about `deployment` changed (a replica's phase, the desired count): the gateway and status hear of it. */
  onChange: (deployment: LocalDeployment) => void;
  tuning: AutoscalerTuning;
  /** Longest wait for in-flight requests before a drained replica gets SIGTERM. */
  drainMs: number;
  /** Replicas serve gRPC too (local mode's gateway has a gRPC port). */
  grpc?: boolean;
}

export interface DeploymentEvent {
  time: string;
  type: 'ScaledUp' | 'ScaledDown' | 'ScaledToZero' | 'ColdStart' | 'RollingUpdate' | 'RolloutComplete' | 'ModelFetchFailed' | 'ModelOptimized' | 'ModelNotOptimized' | 'SpecUpdated';
  message: string;
}

/** status.autoscaler as the operator writes it in mode builtin, plus the panic side of the last decision. */
export type AutoscalerStatus = NonNullable<ModelDeploymentStatus['autoscaler']> & {
  desiredReplicas: number;
  panicConcurrency?: number;
  panicking: boolean;
  reason: string;
};

const MAX_EVENTS = 30;
const round2 = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 100) / 100);

/** Spec fields that need new replicas when they change (everything serve's flags and the model come from). */
function templateOf(argv: string[], md: ModelDeployment): string {
  return createHash('sha256').update(JSON.stringify([argv, md.spec.model])).digest('hex').slice(0, 8);
}

export class LocalDeployment implements Target {
  md: ModelDeployment;
  source: string;
  readonly meter = new LoadMeter();
  replicas: Replica[] = [];
  desired: number;
  template?: string;
  argv?: string[];
  fetchFailure?: string;
  /** The optimise step's termination message (its summary line), with spec.optimization. */
  optimizationMessage?: string;
  fetching = false;
  events: DeploymentEvent[] = [];
  status: ModelDeploymentStatus = {};
  autoscaler?: { policy: AutoscalerPolicy; state: AutoscalerState; last?: Decision; lastScaleTime?: string };
  private seq = 0;
  private prepareSeq = 0;
  private fetchRetry?: NodeJS.Timeout;
  private fetchBackoffMs = 2000;
  private removed = false;
  private rolling = false;

  constructor(md: ModelDeployment, source: string, private readonly ctx: DeploymentContext) {
    this.md = { ...md, metadata: { namespace: 'default', ...md.metadata, generation: 1, creationTimestamp: isoSeconds(Date.now()) as unknown as Date } };
    this.source = source;
    this.desired = md.spec.replicas;
    this.configureAutoscaler(undefined);
  }

  get name(): string {
    return this.md.metadata.name!;
  }

  get model(): string {
    return servedName(this.md);
  }

  get namespace(): string {
    return this.md.metadata.namespace ?? 'default';
  }

  /** The router's meter hears of every exchange (the autoscaler's concurrency, held requests included). */
  get observer(): LoadMeter {
    return this.meter;
  }

  /** The ready replicas, as the gateway routes to them: recomputed when a replica changes, not per request. */
  private ready: Upstream[] = [];

  upstreams(): readonly Upstream[] {
    return this.ready;
  }

  desiredReplicas(): number {
    return this.desired;
  }

  readyCondition(): ReadyCondition | undefined {
    return this.status.conditions?.find((c) => c.type === 'Ready');
  }

  /**
   * A request is held: at zero, one replica starts now (the autoscaler takes it from there, held requests as its load).
   * Only a deployment that may scale to zero (autoscaling.minReplicas 0) starts on demand; spec.replicas 0 stays 0.
   */
  activate(): boolean {
    if (this.desired > 0) return true;
    if (this.removed || !this.autoscaler || this.autoscaler.policy.minReplicas > 0) return false;
    this.desired = 1;
    this.autoscaler.lastScaleTime = isoSeconds(Date.now());
    this.event('ColdStart', `${this.name}: 0 -> 1 replica (a request is waiting)`);
    this.reconcile();
    this.ctx.onChange(this);
    return true;
  }

  private configureAutoscaler(previousSpec: ModelDeployment['spec'] | undefined): void {
    const a = this.md.spec.autoscaling;
    if (!a) {
      this.autoscaler = undefined;
      return;
    }
    const policy: AutoscalerPolicy = policyFor(a, this.ctx.tuning);
    const hi = Math.max(policy.minReplicas, policy.maxReplicas);
    // Like the operator's: the autoscaler clamps spec.replicas into its bounds.
    if (!previousSpec || previousSpec.replicas !== this.md.spec.replicas) this.desired = this.md.spec.replicas;
    this.desired = Math.min(hi, Math.max(policy.minReplicas, this.desired));
    this.autoscaler = { policy, state: this.autoscaler?.state ?? initialState(Date.now()), ...(this.autoscaler?.lastScaleTime ? { lastScaleTime: this.autoscaler.lastScaleTime } : {}) };
  }

  private event(type: DeploymentEvent['type'], message: string): void {
    this.events.push({ time: new Date().toISOString(), type, message });
    if (this.events.length > MAX_EVENTS) this.events.shift();
    this.ctx.logger.info(message, { modelDeployment: this.name, event: type });
  }

  /** Fetches the model and renders the replicas' arguments; replicas follow in reconcile(). */
  async prepare(): Promise<void> {
    const seq = ++this.prepareSeq;
    clearTimeout(this.fetchRetry);
    this.fetching = true;
    this.ctx.onChange(this);
    try {
      const path = await cacheModel(this.md, this.ctx.cacheDir, this.ctx.logger);
      if (seq !== this.prepareSeq || this.removed) return;
      this.fetchFailure = undefined;
      this.fetchBackoffMs = 2000;
      const warmup = this.md.spec.runtime.warmup;
      const warmupPath = warmup ? await cacheSamples(warmup, this.ctx.cacheDir, this.ctx.logger) : undefined;
      const gateSamples = optimizationSamples(this.md.spec);
      const samplesPath = this.md.spec.optimization && gateSamples ? (gateSamples === warmup ? warmupPath : await cacheSamples(gateSamples, this.ctx.cacheDir, this.ctx.logger)) : undefined;
      if (seq !== this.prepareSeq || this.removed) return;
      let optimizedDir: string | undefined;
      if (this.md.spec.optimization) {
        const step = await optimizeForLocal(this.md, path, this.ctx.cacheDir, { command: this.ctx.command, cliPath: this.ctx.cliPath }, samplesPath);
        if (seq !== this.prepareSeq || this.removed) return;
        optimizedDir = step.dir;
        if (step.message !== this.optimizationMessage) {
          const applied = step.summary?.applied === true;
          this.event(applied ? 'ModelOptimized' : 'ModelNotOptimized', `${this.name}: ${step.message}`);
        }
        this.optimizationMessage = step.message;
      } else {
        this.optimizationMessage = undefined;
      }
      const argv = replicaArgs(this.md, path, undefined, optimizedDir, warmupPath, this.ctx.grpc);
      const template = templateOf(argv, this.md);
      if (this.template && template !== this.template && this.replicas.length) this.rolling = true;
      if (this.template && template !== this.template) this.event('RollingUpdate', `rolling ${this.name} to template ${template}, one replica at a time`);
      this.argv = argv;
      this.template = template;
    } catch (err) {
      if (seq !== this.prepareSeq || this.removed) return;
      this.fetchFailure = (err as Error).message;
      this.event('ModelFetchFailed', this.fetchFailure);
      this.fetchRetry = setTimeout(() => void this.prepare(), this.fetchBackoffMs);
      this.fetchBackoffMs = Math.min(60_000, this.fetchBackoffMs * 2);
    } finally {
      if (seq === this.prepareSeq) this.fetching = false;
    }
    this.reconcile();
  }

  /** A new spec from the files. Returns whether anything changed. */
  async update(md: ModelDeployment, source: string): Promise<boolean> {
    this.source = source;
    if (JSON.stringify(md.spec) === JSON.stringify(this.md.spec) && JSON.stringify(md.metadata.labels ?? {}) === JSON.stringify(this.md.metadata.labels ?? {})) return false;
    const previous = this.md.spec;
    this.md = { ...md, metadata: { ...this.md.metadata, ...md.metadata, namespace: md.metadata.namespace ?? 'default', generation: (this.md.metadata.generation ?? 1) + 1, creationTimestamp: this.md.metadata.creationTimestamp } };
    if (!md.spec.autoscaling || previous.replicas !== md.spec.replicas) this.desired = md.spec.replicas;
    this.configureAutoscaler(previous);
    this.event('SpecUpdated', `${this.name}: spec changed (generation ${this.md.metadata.generation})`);
    await this.prepare();
    return true;
  }

  private newReplica(): Replica {
    const id = `${this.name}-${this.template}-${(++this.seq).toString(36)}`;
    return new Replica({
      id,
      template: this.template!,
      command: this.ctx.command,
      cliPath: this.ctx.cliPath,
      argv: this.argv!,
      model: this.model,
      runDir: this.ctx.runDir,
      logger: this.ctx.logger,
      onChange: () => this.onReplicaChange(),
      grpc: this.ctx.grpc ?? false,
    });
  }

  private onReplicaChange(): void {
    this.ready = this.replicas.filter((r) => r.phase === 'ready' && r.port !== undefined) as Upstream[];
    this.reconcile();
    this.ctx.onChange(this);
  }

  /** Starts and drains replicas toward the wanted count and template. */
  reconcile(): void {
    if (this.removed || !this.template) return;
    const live = this.replicas.filter((r) => r.phase !== 'draining' && r.phase !== 'stopped');
    const plan = planReplicas(this.desired, live.map((r) => ({ id: r.id, current: r.template === this.template, ready: r.phase === 'ready', createdAt: r.createdAt.getTime() })));
    for (const id of plan.drain) {
      const r = this.replicas.find((x) => x.id === id)!;
      void this.retire(r);
    }
    for (let i = 0; i < plan.start; i++) {
      const r = this.newReplica();
      this.replicas.push(r);
      r.start();
    }
    if (this.rolling && this.replicas.every((r) => r.template === this.template) && this.readyCount() >= this.desired) {
      this.rolling = false;
      this.event('RolloutComplete', `${this.name}: every replica runs template ${this.template}`);
    }
  }

  private async retire(r: Replica): Promise<void> {
    if (r.phase === 'draining' || r.phase === 'stopped') return;
    r.markDraining();
    await r.stop(this.ctx.drainMs);
    this.replicas = this.replicas.filter((x) => x !== r);
    this.onReplicaChange();
  }

  readyCount(): number {
    return this.replicas.filter((r) => r.phase === 'ready').length;
  }

  /** One autoscaler step: the router's sample of the last interval into the operator's decision function. */
  autoscale(now: number = Date.now()): void {
    const sample = this.meter.sample(now);
    const as = this.autoscaler;
    if (!as || this.removed) return;
    const live = this.replicas.filter((r) => r.phase !== 'draining' && r.phase !== 'stopped');
    const ready = live.filter((r) => r.phase === 'ready').length;
    const { decision, state } = decide(as.policy, as.state, { now, current: this.desired, ready, notReady: live.length - ready, sample });
    as.state = state;
    as.last = decision;
    if (decision.desired !== this.desired) {
      const from = this.desired;
      this.desired = decision.desired;
      as.lastScaleTime = isoSeconds(now);
      const type = decision.desired > from ? 'ScaledUp' : decision.desired === 0 ? 'ScaledToZero' : 'ScaledDown';
      this.event(type, `${this.name}: ${from} -> ${count(decision.desired, 'replica')} (${decision.reason})`);
      this.reconcile();
      this.ctx.onChange(this);
    }
  }

  autoscalerStatus(): AutoscalerStatus | undefined {
    const as = this.autoscaler;
    if (!as) return undefined;
    return {
      mode: 'builtin',
      desiredReplicas: this.desired,
      // For metric sequences the router's requests in flight stand in for sequences: one request is one sequence.
      ...(as.last?.stableConcurrency !== undefined ? { [averageField(as.policy)]: round2(as.last.stableConcurrency) } : {}),
      ...(as.last?.panicConcurrency !== undefined ? { panicConcurrency: round2(as.last.panicConcurrency) } : {}),
      panicking: as.last?.panicking ?? false,
      reason: as.last?.reason ?? 'no decision yet',
      ...(as.lastScaleTime ? { lastScaleTime: as.lastScaleTime } : {}),
    };
  }

  /** Recomputes status; returns it. */
  refreshStatus(now: Date = new Date()): ModelDeploymentStatus {
    this.meter.noteReplicas(this.readyCount(), now.getTime());
    this.status = localStatus({
      name: this.name,
      selector: selectorFor(this.md),
      generation: this.md.metadata.generation ?? 1,
      desiredReplicas: this.desired,
      replicas: this.replicas.map((r) => ({ id: r.id, phase: r.phase, current: r.template === this.template, restarts: r.restarts, ...(r.lastTermination ? { lastTermination: r.lastTermination } : {}), ...(r.warmupFailure ? { warmupFailure: r.warmupFailure } : {}), createdAt: r.createdAt })),
      ...(this.fetchFailure ? { fetchFailure: this.fetchFailure } : {}),
      ...(this.optimizationMessage !== undefined ? { optimizationMessage: this.optimizationMessage } : {}),
      optimizationRequested: this.md.spec.optimization !== undefined,
      fetching: this.fetching || !this.template,
      url: `${this.ctx.routerUrl()}/v2/models/${this.model}`,
      previous: this.status,
      now,
    });
    return this.status;
  }

  /** The object as `GET .../modeldeployments` returns it: spec.replicas is what the autoscaler wrote. */
  toObject(): ModelDeployment & { status: Omit<ModelDeploymentStatus, 'autoscaler'> & { autoscaler?: AutoscalerStatus } } {
    const autoscaler = this.autoscalerStatus();
    const { autoscaler: _previous, ...status } = this.status;
    return {
      ...this.md,
      spec: { ...this.md.spec, replicas: this.desired },
      status: { ...status, ...(autoscaler ? { autoscaler } : {}) },
    };
  }

  /** Drains every replica and stops it. */
  async remove(): Promise<void> {
    this.removed = true;
    clearTimeout(this.fetchRetry);
    this.ready = [];
    await Promise.all(this.replicas.map((r) => r.stop(this.ctx.drainMs)));
    this.replicas = [];
  }

  kill(): void {
    this.removed = true;
    clearTimeout(this.fetchRetry);
    for (const r of this.replicas) r.kill();
  }
}
