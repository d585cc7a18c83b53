// `modelplane local`: ModelDeployments from files, run on this machine. The router listens first (a port in use
// is reported before anything starts), then every valid ModelDeployment gets its model and replicas; the files
// are watched; a stop drains the router, then the replicas.
import { existsSync, mkdtempSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import type { AutoscalerTuning } from './deployment.js';
import { formatErrors, type FieldError } from '../operator/api/validate.js';
import { createApp } from './app.js';
import { LocalDeployment } from './deployment.js';
import { ManifestPathError, manifestFiles, readManifests, type ManifestEntry } from './manifests.js';
import { LocalModeError } from './model-cache.js';
import { createProxy } from './proxy.js';
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

function listen(server: Server, port: number, host: string): Promise<number> {
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

export async function startLocalMode(opts: LocalModeOptions): Promise<LocalMode> {
  const watched = watchedPaths(opts.paths);
  const deployments = new Map<string, LocalDeployment>();
  const byModel = new Map<string, LocalDeployment>();
  let invalid: Refused[] = [];
  let skipped: Skipped[] = [];
  const reported = new Set<string>();
  const inflight = { count: 0 };
  const runDir = mkdtempSync(join(tmpdir(), 'modelplane-local-'));
  let url = '';
  let stopping = false;

  const proxy = createProxy({ lookup: (m) => byModel.get(m), maxBodyBytes: opts.maxBodyBytes, upstreamTimeoutMs: 300_000, inflight });
  const app = createApp({
    url: () => url,
    deployments: () => [...deployments.values()],
    invalid: () => invalid,
    skipped: () => skipped,
    version: opts.version,
  });
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 300_000 }, (req, res) => {
    if (req.url?.startsWith('/v2/models/')) proxy(req, res);
    else {
      inflight.count++;
      res.once('close', () => inflight.count--);
      app(req, res);
    }
  });
  const port = await listen(server, opts.port, opts.host);
  url = routerUrl(opts.host, port);

  let statusTimer: NodeJS.Timeout | undefined;
  const report = new ConsoleReport(opts.print);
  let tickSoon: NodeJS.Timeout | undefined;
  // A replica's change recomputes status (and the table) soon, without waiting for the next period.
  const onChange = () => {
    if (tickSoon || stopping) return;
    tickSoon = setTimeout(() => {
      tickSoon = undefined;
      tick();
    }, 20);
  };
  const ctx = {
    cacheDir: opts.cacheDir,
    runDir,
    logger: opts.logger,
    command: opts.command,
    cliPath: opts.cliPath,
    routerUrl: () => url,
    onChange,
    tuning: opts.tuning,
    drainMs: opts.drainMs,
  };

  const rebuildIndex = () => {
    byModel.clear();
    for (const d of deployments.values()) byModel.set(d.model, d);
  };

  const apply = async (entries: ManifestEntry[]) => {
    const plan = planManifests(entries, deployments.keys());
    invalid = plan.invalid;
    skipped = plan.skipped;
    for (const { entry: e, line } of plan.refused) {
      if (reported.has(line)) continue;
      reported.add(line);
      opts.logger.info('invalid ModelDeployment', { source: e.source, name: e.name, errors: e.errors });
      opts.print(`error: ${line}`);
    }
    // Other kinds are expected beside ModelDeployments (a Secret, a ConfigMap): said at info level, once each.
    for (const e of plan.skips) {
      const key = `${e.source}: ${e.note}`;
      if (reported.has(key)) continue;
      reported.add(key);
      opts.logger.info('skipped a document that is not a ModelDeployment', { source: e.source, ...e.document });
    }
    const work: Promise<unknown>[] = [];
    for (const name of plan.remove) {
      const d = deployments.get(name)!;
      deployments.delete(name);
      opts.print(`ModelDeployment ${name} was removed from the files: draining its replicas`);
      work.push(d.remove().then(() => opts.print(`ModelDeployment ${name} stopped`)));
    }
    for (const e of plan.run) {
      const name = e.md.metadata.name!;
      const existing = deployments.get(name);
      if (existing) work.push(existing.update(e.md, e.source));
      else {
        const d = new LocalDeployment(e.md, e.source, ctx);
        deployments.set(name, d);
        work.push(d.prepare());
      }
    }
    rebuildIndex();
    await Promise.all(work);
    rebuildIndex();
  };

  const tick = () => {
    const now = new Date();
    for (const d of deployments.values()) {
      d.refreshStatus(now);
      report.deployment(d, url);
    }
    if (opts.table && !stopping) report.table([...deployments.values()], now);
  };

  const autoscaleTimer = setInterval(() => {
    for (const d of deployments.values()) d.autoscale();
  }, opts.autoscaleIntervalMs);
  statusTimer = setInterval(tick, STATUS_PERIOD_MS);

  // Watch: each directory itself, or a file's directory filtered to the file (editors replace files on save).
  let reloadTimer: NodeJS.Timeout | undefined;
  let reloading: Promise<void> = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      if (stopping) return;
      const gone = watched.filter((w) => !existsSync(w.path));
      if (gone.length) {
        for (const w of gone) opts.print(`warning: ${w.given} is gone; keeping what runs until it is back`);
        return;
      }
      try {
        await apply(readManifests(watched.map((w) => w.path)));
      } catch (err) {
        opts.logger.error('reload failed', { error: (err as Error).message });
      }
    });
  };
  const watchers: FSWatcher[] = [];
  for (const w of watched) {
    try {
      watchers.push(watch(w.isDir ? w.path : dirname(w.path), (_event, file) => {
        if (!w.isDir && file && file !== basename(w.path)) return;
        clearTimeout(reloadTimer);
        reloadTimer = setTimeout(reload, WATCH_DEBOUNCE_MS);
      }));
    } catch (err) {
      opts.print(`warning: cannot watch ${w.given} for changes: ${(err as Error).message}`);
    }
  }

  opts.print(`modelplane local: router on ${url}  dashboard ${url}/  status ${url}/apis/serving.modelplane.io/v1alpha1/modeldeployments`);
  const initial = readManifests(watched.map((w) => w.path));
  const ready = apply(initial).then(async () => {
    for (;;) {
      const deps = [...deployments.values()];
      if (deps.every((d) => d.readyCount() >= d.desired)) return;
      await new Promise((r) => setTimeout(r, 100));
      if (stopping) return;
    }
  });
  tick();

  const closeServer = async () => {
    await new Promise<void>((res) => {
      server.close(() => res());
      server.closeIdleConnections();
      // Keep-alive connections close as their requests finish; idle ones at once.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.once('close', () => clearInterval(sweep));
    });
  };

  return {
    url,
    port,
    deployments: () => [...deployments.values()],
    invalid: () => invalid,
    allReady: () => ready,
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const w of watchers) w.close();
      clearTimeout(reloadTimer);
      const closed = closeServer();
      const deadline = Date.now() + opts.drainMs;
      while (inflight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await reloading;
      await Promise.all([...deployments.values()].map((d) => d.remove()));
      clearInterval(autoscaleTimer);
      clearInterval(statusTimer);
      clearTimeout(tickSoon);
      server.closeAllConnections();
      await closed;
      rmSync(runDir, { recursive: true, force: true });
    },
    kill() {
      for (const d of deployments.values()) d.kill();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
