// `modelplane local`: ModelDeployments from files, run on this machine. The router listens first (a port in use
// is reported before anything starts), then every valid ModelDeployment gets its model and replicas; the files
// are watched; a stop drains the router, then the replicas.
import { existsSync, mkdtempSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import { ConnectionLedger } from '../common/connection-ledger.js';
import type { Directory, Target } from '../gateway/directory.js';
import type { GrpcGateway } from '../gateway/grpc-proxy.js';
import { createGateway, type Gatekeeper, type Gateway } from '../gateway/server.js';
import type { AutoscalerTuning, DeploymentContext } from './deployment.js';
import { formatErrors, type FieldError } from '../operator/api/validate.js';
import { createApp } from './app.js';
import { LocalDeployment } from './deployment.js';
import { ManifestPathError, manifestFiles, readManifests, type ManifestEntry } from './manifests.js';
import { LocalModeError } from './model-cache.js';
import { renderTable, rowFor, tableKey } from './table.js';

export interface LocalModeOptions {
  /** Manifest files and directories of them (-f, --filename). */
  paths: readonly string[];
  port: number;
  host: string;
  cacheDir: string;
  logger: Logger;
  /** What people read: URLs, problems, the table. */
  print: (text: string) => void;
  version: string;
  /** node and bin/modelplane.js, to start replicas. */
  command: string;
  cliPath: string;
  autoscaleIntervalMs: number;
  tuning: AutoscalerTuning;
  drainMs: number;
  maxBodyBytes: number;
  /** Longest a request waits for a replica of a deployment coming up from zero. */
  activationTimeoutMs: number;
  /** Requests held at once, over every deployment. */
  maxHeldRequests: number;
  /** API keys (--api-keys): callers must present one. */
  keys?: Gatekeeper;
  /** The gateway's gRPC port (0: any free one); undefined: no gRPC, and replicas listen on HTTP only. */
  grpcPort?: number;
  /** Print the status table when it changes. */
  table: boolean;
}

/** A document refused (invalid, or clashing with another), with every field and reason. */
export interface Refused {
  source: string;
  name?: string;
  errors: FieldError[];
}

/** A document of another kind, skipped. */
export interface Skipped {
  source: string;
  note: string;
}

type DeploymentEntry = Extract<ManifestEntry, { kind: 'deployment' }>;
type InvalidEntry = Extract<ManifestEntry, { kind: 'invalid' }>;
type SkippedEntry = Extract<ManifestEntry, { kind: 'skipped' }>;

export interface ManifestPlan {
  /** ModelDeployments in the files: started when new, given their spec when running. */
  run: DeploymentEntry[];
  /** Running ModelDeployments no longer in the files, in the order they were started. */
  remove: string[];
  /** Refused documents, each with the line that says so. */
  refused: { entry: InvalidEntry; line: string }[];
  skips: SkippedEntry[];
  /** What LocalMode.invalid() and the dashboard show. */
  invalid: Refused[];
  skipped: Skipped[];
}

/** A -f path as given, resolved, and whether it is a directory (watched itself) or a file (watched through its directory). */
interface WatchedPath {
  given: string;
  path: string;
  isDir: boolean;
}

export interface LocalMode {
  url: string;
  port: number;
  /** The gateway's gRPC port, when it serves gRPC. */
  grpcPort?: number;
  deployments(): LocalDeployment[];
  /** Documents refused (invalid, or clashing with another), with every field and reason. */
  invalid(): Refused[];
  /** Settles when every ModelDeployment read at start has a ready replica (or failed for good: never). */
  allReady(): Promise<void>;
  /** Stop accepting, finish in-flight requests, drain and stop every replica. */
  stop(): Promise<void>;
  /** Ends every replica process at once. */
  kill(): void;
}

const WATCH_DEBOUNCE_MS = 250;
const STATUS_PERIOD_MS = 500;

/** Listens; a port in use or one that needs privileges is said in words with what to do. */
function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((res, rej) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') rej(new LocalModeError('PortInUse', `port ${port} on ${host} is already in use: stop what listens there, or choose another port with --port (0 picks a free one)`));
      else if (err.code === 'EACCES') rej(new LocalModeError('PortDenied', `port ${port} on ${host} needs privileges: choose a port above 1023 with --port`));
      else rej(new LocalModeError('ListenFailed', `cannot listen on ${host}:${port}: ${err.message}`));
    };
    const onListening = () => {
      server.off('error', onError);
      res((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * What keeps a deployment from being ready now, `REASON: message` (a message that starts with its reason, as the
 * runtime's termination messages do, is not repeated); undefined when nothing fails (it may still be loading).
 */
export function currentFailure(d: Pick<LocalDeployment, 'status'>): string | undefined {
  const ready = d.status.conditions?.find((c) => c.type === 'Ready');
  const f = d.status.lastFailure;
  if (!ready || ready.status !== 'False' || !f || f.reason !== ready.reason || f.message !== ready.message) return undefined;
  return f.message.startsWith(`${f.reason}: `) ? f.message : `${f.reason}: ${f.message}`;
}

function describeProblem(e: Refused): string {
  return `${e.name ? `ModelDeployment ${e.name}` : 'a document'} in ${e.source} is invalid and does not run: ${formatErrors(e.errors)}`;
}

/** The paths to watch, each there and readable at start (a typo is not a directory being filled later). */
function watchedPaths(paths: readonly string[]): WatchedPath[] {
  if (!paths.length) throw new LocalModeError('NoManifests', '-f, --filename: name at least one manifest file or directory');
  try {
    manifestFiles(paths);
  } catch (err) {
    if (err instanceof ManifestPathError) throw new LocalModeError('NotFound', err.message);
    throw err;
  }
  return paths.map((p) => ({ given: p, path: resolve(p), isDir: statSync(resolve(p)).isDirectory() }));
}

/** The router's address as a person can paste it: a wildcard host reads 127.0.0.1, an IPv6 one is bracketed. */
export function routerUrl(host: string, port: number): string {
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${port}`;
}

/**
 * What the documents read mean for the ModelDeployments running (named by `running`): which run (started when new,
 * given the new spec otherwise), which are removed from the files, which documents are refused and which skipped.
 * A running ModelDeployment whose new spec is refused keeps its previous spec.
 */
export function planManifests(entries: readonly ManifestEntry[], running: Iterable<string>): ManifestPlan {
  const names = new Set(running);
  const run = entries.filter((e): e is DeploymentEntry => e.kind === 'deployment');
  const bad = entries.filter((e): e is InvalidEntry => e.kind === 'invalid');
  const skips = entries.filter((e): e is SkippedEntry => e.kind === 'skipped');
  const keep = new Set([...run.map((e) => e.md.metadata.name!), ...bad.filter((e) => e.name && names.has(e.name)).map((e) => e.name!)]);
  return {
    run,
    remove: [...names].filter((name) => !keep.has(name)),
    refused: bad.map((entry) => ({ entry, line: `${describeProblem(entry)}${entry.name && names.has(entry.name) ? ' (the previous spec keeps running)' : ''}` })),
    skips,
    invalid: bad.map(({ source, name, errors }) => ({ source, ...(name ? { name } : {}), errors })),
    skipped: skips.map(({ source, note }) => ({ source, note })),
  };
}

/** What a person reads as the deployments change: each one's first ready replica, each new failure, the table. */
class ConsoleReport {
  private readonly announced = new Set<string>();
  /** The failure last printed for each deployment, until it is ready again. */
  private readonly failurePrinted = new Map<string, string>();
  private lastTable = '';

  constructor(private readonly print: (text: string) => void) {}

  /** "ready" once, with a request to try; "failing" with each failure not printed since it was last ready. */
  deployment(d: LocalDeployment, url: string): void {
    if (!this.announced.has(d.name) && d.readyCount() > 0) {
      this.announced.add(d.name);
      this.print(`ready: ${d.name} serves model "${d.model}": curl -s ${url}/v2/models/${encodeURIComponent(d.model)}`);
    }
    const failure = currentFailure(d);
    if (!failure) {
      if (d.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) this.failurePrinted.delete(d.name);
    } else if (this.failurePrinted.get(d.name) !== failure) {
      this.failurePrinted.set(d.name, failure);
      this.print(`failing: ${d.name}: ${failure}`);
    }
  }

  /** The status table, when what it shows changed. */
  table(deployments: LocalDeployment[], now: Date): void {
    const rows = deployments.map((d) => rowFor(d.toObject()));
    const key = tableKey(rows);
    if (key === this.lastTable) return;
    this.lastTable = key;
    this.print(`\n${renderTable(rows, now.getTime())}\n`);
  }
}

/** The router listens first (a port in use fails the start before anything runs); then the files are read and watched. */
export async function startLocalMode(opts: LocalModeOptions): Promise<LocalMode> {
  const supervisor = new Supervisor(opts, watchedPaths(opts.paths));
  await supervisor.listen();
  return supervisor.start();
}

/**
 * Local mode while it runs: the ModelDeployments from the files (by name, and by model for the gateway: it is the
 * gateway's Directory), the documents that do not run, the gateway in front of them, the watch on the files, and the
 * timers that keep status current.
 */
class Supervisor implements Directory {
  private readonly deployments = new Map<string, LocalDeployment>();
  /** The router's lookup by served model name, rebuilt whenever the deployments change. */
  private readonly byModel = new Map<string, LocalDeployment>();
  private invalid: Refused[] = [];
  private skipped: Skipped[] = [];
  /** Problems and skips already said: each is said once. */
  private readonly reported = new Set<string>();
  private readonly listeners: ((target: Target) => void)[] = [];
  private readonly runDir: string;
  private readonly gateway: Gateway;
  private readonly server: Server;
  private readonly connections: ConnectionLedger;
  private grpc: GrpcGateway | undefined;
  private grpcPort: number | undefined;
  private readonly report: ConsoleReport;
  private readonly context: DeploymentContext;
  private readonly watchers: FSWatcher[] = [];
  private url = '';
  private port = 0;
  private stopping = false;
  private autoscaleTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private tickSoon: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LocalModeOptions, private readonly watched: readonly WatchedPath[]) {
    this.runDir = mkdtempSync(join(tmpdir(), 'modelplane-local-'));
    this.gateway = this.createGateway();
    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 300_000 }, this.gateway.handle);
    this.connections = new ConnectionLedger(this.server);
    this.report = new ConsoleReport(opts.print);
    this.context = {
      cacheDir: opts.cacheDir,
      runDir: this.runDir,
      logger: opts.logger,
      command: opts.command,
      cliPath: opts.cliPath,
      routerUrl: () => this.url,
      onChange: (d) => {
        this.notify(d);
        this.tickSoonAfterChange();
      },
      tuning: opts.tuning,
      drainMs: opts.drainMs,
      grpc: opts.grpcPort !== undefined,
    };
  }

  /** The gateway, with this supervisor as its directory and local mode's app for the routes that are not the gateway's. */
  private createGateway(): Gateway {
    const { opts } = this;
    const app = createApp({
      url: () => this.url,
      deployments: () => this.list(),
      invalid: () => this.invalid,
      skipped: () => this.skipped,
      version: opts.version,
      gatewayMetrics: () => this.gateway.metricsText(),
      coldStarts: (d) => this.gateway.stats.coldStarts(d),
    });
    return createGateway({
      directory: this,
      maxBodyBytes: opts.maxBodyBytes,
      upstreamTimeoutMs: 300_000,
      activationTimeoutMs: opts.activationTimeoutMs,
      maxHeldRequests: opts.maxHeldRequests,
      ...(opts.keys ? { keys: opts.keys } : {}),
      version: opts.version,
      onActivation: (target, event) => {
        if (event.kind === 'held') opts.print(`cold start: ${target.name} is scaled to zero; starting a replica for a waiting request`);
        else if (event.kind === 'released') opts.print(`cold start: ${target.name} answered ${event.count === 1 ? 'its waiting request' : `${event.count} waiting requests`} after ${(event.waitedMs / 1000).toFixed(2)} s`);
        else opts.print(`cold start: ${target.name}: a request waited ${Math.round(opts.activationTimeoutMs / 1000)} s (--activation-timeout) with no replica ready and was answered 503`);
      },
      fallback: app,
    });
  }

  lookup(model: string): Target | undefined {
    return this.byModel.get(model);
  }

  subscribe(listener: (target: Target) => void): void {
    this.listeners.push(listener);
  }

  /** Tells the gateway that `d`'s replicas or Ready condition changed. */
  private notify(d: LocalDeployment): void {
    for (const l of this.listeners) l(d);
  }

  async listen(): Promise<void> {
    this.port = await listenOn(this.server, this.opts.port, this.opts.host);
    this.url = routerUrl(this.opts.host, this.port);
    if (this.opts.grpcPort !== undefined) await this.listenGrpc(this.opts.grpcPort);
  }

  /** The gateway's gRPC path on its own port (Gateway.grpc: the HTTP path's hold queue, key check and counts). */
  private async listenGrpc(port: number): Promise<void> {
    const { opts } = this;
    this.grpc = this.gateway.grpc({ logger: opts.logger });
    try {
      this.grpcPort = await this.grpc.listen(port, opts.host);
    } catch (err) {
      this.server.close();
      const code = (err as NodeJS.ErrnoException).code;
      throw new LocalModeError(code === 'EADDRINUSE' ? 'PortInUse' : 'ListenFailed', `--grpc-port ${port} on ${opts.host}: ${code === 'EADDRINUSE' ? 'already in use: choose another (0 picks a free one)' : (err as Error).message}`);
    }
  }

  /** The timers and the watch start, the files are read and applied; returns what the caller holds. */
  start(): LocalMode {
    const { opts, url } = this;
    this.autoscaleTimer = setInterval(() => this.autoscale(), opts.autoscaleIntervalMs);
    this.statusTimer = setInterval(() => this.tick(), STATUS_PERIOD_MS);
    this.watch();
    opts.print(`modelplane local: router on ${url}  dashboard ${url}/  status ${url}/apis/serving.modelplane.io/v1alpha1/modeldeployments`);
    if (this.grpcPort !== undefined) opts.print(`modelplane local: gRPC on ${routerUrl(opts.host, this.grpcPort).replace('http://', '')}`);
    const ready = this.apply(this.readFiles()).then(() => this.untilAllReady());
    this.tick();
    return {
      url,
      port: this.port,
      ...(this.grpcPort !== undefined ? { grpcPort: this.grpcPort } : {}),
      deployments: () => this.list(),
      invalid: () => this.invalid,
      allReady: () => ready,
      stop: () => this.stop(),
      kill: () => this.kill(),
    };
  }

  list(): LocalDeployment[] {
    return [...this.deployments.values()];
  }

  private readFiles(): ManifestEntry[] {
    return readManifests(this.watched.map((w) => w.path));
  }

  /** Brings what runs in line with the documents read (planManifests), and settles when every change has. */
  private async apply(entries: ManifestEntry[]): Promise<void> {
    const plan = planManifests(entries, this.deployments.keys());
    this.invalid = plan.invalid;
    this.skipped = plan.skipped;
    this.reportDocuments(plan);
    const work = [...this.removeAll(plan.remove), ...this.runAll(plan.run)];
    this.rebuildIndex();
    await Promise.all(work);
    this.rebuildIndex();
  }

  /** Each refused document printed once; other kinds (a Secret, a ConfigMap) are expected: logged at info, once each. */
  private reportDocuments(plan: ManifestPlan): void {
    const { logger } = this.opts;
    for (const { entry: e, line } of plan.refused) {
      if (!this.firstReport(line)) continue;
      logger.info('invalid ModelDeployment', { source: e.source, name: e.name, errors: e.errors });
      this.opts.print(`error: ${line}`);
    }
    for (const e of plan.skips) {
      if (!this.firstReport(`${e.source}: ${e.note}`)) continue;
      logger.info('skipped a document that is not a ModelDeployment', { source: e.source, ...e.document });
    }
  }

  /** True the first time `key` is reported, false after. */
  private firstReport(key: string): boolean {
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    return true;
  }

  /** The ModelDeployments removed from the files leave the router at once, then drain their replicas and stop. */
  private removeAll(names: readonly string[]): Promise<unknown>[] {
    const { opts } = this;
    return names.map((name) => {
      const d = this.deployments.get(name)!;
      this.deployments.delete(name);
      opts.print(`ModelDeployment ${name} was removed from the files: draining its replicas`);
      return d.remove().then(() => opts.print(`ModelDeployment ${name} stopped`));
    });
  }

  /** New ModelDeployments get their model and replicas; running ones are given their spec. */
  private runAll(entries: readonly DeploymentEntry[]): Promise<unknown>[] {
    return entries.map((e) => {
      const name = e.md.metadata.name!;
      const existing = this.deployments.get(name);
      if (existing) return existing.update(e.md, e.source);
      const d = new LocalDeployment(e.md, e.source, this.context);
      this.deployments.set(name, d);
      return d.prepare();
    });
  }

  private rebuildIndex(): void {
    this.byModel.clear();
    for (const d of this.deployments.values()) this.byModel.set(d.model, d);
  }

  /** Settles once every ModelDeployment has the ready replicas it wants, or local mode stops. */
  private async untilAllReady(): Promise<void> {
    for (;;) {
      if (this.list().every((d) => d.readyCount() >= d.desired)) return;
      await new Promise((r) => setTimeout(r, 100));
      if (this.stopping) return;
    }
  }

  private autoscale(): void {
    for (const d of this.deployments.values()) d.autoscale();
  }

  /** A replica's change recomputes status (and the table) soon, without waiting for the next period. */
  private tickSoonAfterChange(): void {
    if (this.tickSoon || this.stopping) return;
    this.tickSoon = setTimeout(() => {
      this.tickSoon = undefined;
      this.tick();
    }, 20);
  }

  /** Status recomputed for every deployment, and what a person reads about it. */
  private tick(): void {
    const now = new Date();
    for (const d of this.deployments.values()) {
      const before = d.readyCondition();
      d.refreshStatus(now);
      const after = d.readyCondition();
      // The Directory's promise: a changed Ready condition is heard (held requests of a deployment that now fails are answered).
      if (before?.status !== after?.status || before?.reason !== after?.reason) this.notify(d);
      this.report.deployment(d, this.url);
    }
    if (this.opts.table && !this.stopping) this.report.table(this.list(), now);
  }

  /** Each directory itself, or a file's directory filtered to the file (editors replace files on save). */
  private watch(): void {
    for (const w of this.watched) {
      try {
        this.watchers.push(watch(w.isDir ? w.path : dirname(w.path), (_event, file) => {
          if (!w.isDir && file && file !== basename(w.path)) return;
          clearTimeout(this.reloadTimer);
          this.reloadTimer = setTimeout(() => this.reload(), WATCH_DEBOUNCE_MS);
        }));
      } catch (err) {
        this.opts.print(`warning: cannot watch ${w.given} for changes: ${(err as Error).message}`);
      }
    }
  }

  /** The files read and applied again, after any reload under way. */
  private reload(): void {
    this.reloading = this.reloading.then(() => this.reloadOnce());
  }

  /** A watched path that is gone keeps what runs (a directory being replaced, a file saved by rename). */
  private async reloadOnce(): Promise<void> {
    if (this.stopping) return;
    const gone = this.watched.filter((w) => !existsSync(w.path));
    if (gone.length) {
      for (const w of gone) this.opts.print(`warning: ${w.given} is gone; keeping what runs until it is back`);
      return;
    }
    try {
      await this.apply(this.readFiles());
    } catch (err) {
      this.opts.logger.error('reload failed', { error: (err as Error).message });
    }
  }

  /** LocalMode.stop: the router stops accepting and finishes what it accepted, then every replica drains. */
  private async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const w of this.watchers) w.close();
    clearTimeout(this.reloadTimer);
    // Idle connections close at once, the others as their last answer is written out.
    const closing = this.connections.closeListener();
    // No new gRPC connection; calls in flight on open ones are counted with the HTTP requests and finish first.
    this.grpc?.server.close();
    this.gateway.close();
    const drainDeadline = Date.now() + this.opts.drainMs;
    await this.finishInflight(drainDeadline);
    const grpcClosed = this.grpc?.close();
    await this.reloading;
    await Promise.all(this.list().map((d) => d.remove()));
    clearInterval(this.autoscaleTimer);
    clearInterval(this.statusTimer);
    clearTimeout(this.tickSoon);
    // Past the drain deadline, what is still open is cut.
    await closing.within(drainDeadline);
    await grpcClosed;
    rmSync(this.runDir, { recursive: true, force: true });
  }

  private async finishInflight(deadline: number): Promise<void> {
    while (this.gateway.inflight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** LocalMode.kill: every replica process ends at once. */
  private kill(): void {
    for (const d of this.deployments.values()) d.kill();
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
