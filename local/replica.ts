// One replica: a `modelplane serve` child process standing in for a runtime pod. It finds the port the runtime
// bound (the runtime logs it), probes readiness the way the kubelet would, restarts a crashed runtime with
// exponential backoff, and keeps the runtime's termination message for status.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Logger } from '../common/logger.js';
import type { Upstream } from '../gateway/directory.js';

export type ReplicaPhase = 'starting' | 'ready' | 'backoff' | 'draining' | 'stopped';

export interface ReplicaOptions {
  id: string;
  /** Which template (serve arguments) it runs: a rollout replaces replicas of older templates. */
  template: string;
  /** The node binary and the `modelplane` entry point. */
  command: string;
  cliPath: string;
  argv: string[];
  /** The model it serves, whose metadata says how its warm-up went. */
  model: string;
  runDir: string;
  logger: Logger;
  onChange: () => void;
  /** It serves gRPC too (`--grpc-port any`): it is ready only once its gRPC port is known, so no call finds none. */
  grpc?: boolean;
  /** Probe period once ready; checks while starting are faster. */
  probePeriodMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface Termination {
  exitCode: number;
  signal?: string;
  /** The runtime's termination message, else its last error log line. */
  message?: string;
  finishedAt: Date;
}

const PROBE_TIMEOUT_MS = 1000;
const STARTING_PROBE_MS = 100;
/** A replica that stayed ready this long has its crash backoff reset (the kubelet uses 10 minutes). */
const BACKOFF_RESET_MS = 60_000;

/** A replica process; once ready (with its port known) it is one of its deployment's gateway upstreams. */
export class Replica implements Partial<Upstream> {
  readonly id: string;
  readonly host = '127.0.0.1';
  readonly template: string;
  readonly createdAt = new Date();
  phase: ReplicaPhase = 'starting';
  port?: number;
  /** Its gRPC port, when local mode's gateway serves gRPC. */
  grpcPort?: number;
  pid?: number;
  restarts = 0;
  /** Requests the router has sent here that have not finished. */
  inflight = 0;
  lastTermination?: Termination;
  readySince?: number;
  /** Its warm-up on generated inputs failed (the model is served all the same): the runtime's message. */
  warmupFailure?: string;
  readonly agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000, timeout: 300_000 });
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private probeTimer?: NodeJS.Timeout;
  private backoffTimer?: NodeJS.Timeout;
  private probeFailures = 0;
  private crashStreak = 0;
  private lastError?: string;
  private stopping = false;

  constructor(private readonly opts: ReplicaOptions) {
    this.id = opts.id;
    this.template = opts.template;
  }

  get terminationLog(): string {
    return join(this.opts.runDir, `${this.id}.termination-log`);
  }

  start(): void {
    if (this.stopping) return;
    // The runtime writes its termination message only where the file exists, as the kubelet provides it.
    writeFileSync(this.terminationLog, '');
    this.phase = 'starting';
    this.port = undefined;
    this.grpcPort = undefined;
    this.warmupFailure = undefined;
    this.lastError = undefined;
    this.probeFailures = 0;
    const child = spawn(this.opts.command, [this.opts.cliPath, ...this.opts.argv], {
      env: replicaEnv(this.terminationLog),
      // The IPC channel is how the replica learns that local mode is gone, even after a SIGKILL: it closes (cli/parent.ts).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    this.pid = child.pid;
    const onLine = (line: string) => {
      if (!line.startsWith('{')) return;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.message === 'listening' && entry.protocol === 'grpc' && typeof entry.port === 'number') {
        this.grpcPort = entry.port;
        return;
      }
      if (entry.message === 'listening' && typeof entry.port === 'number' && this.port === undefined) {
        this.port = entry.port;
        this.schedule(0);
      }
      if (entry.level === 'error') this.lastError = `${typeof entry.reason === 'string' ? `${entry.reason}: ` : ''}${String(entry.message)}`;
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) if (l) onLine(l);
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.onExit(code, signal);
        resolve();
      });
    });
    child.once('error', (err) => {
      this.lastError = `cannot start ${this.opts.command}: ${err.message}`;
    });
    this.opts.logger.info('replica starting', { replica: this.id, pid: child.pid, restarts: this.restarts });
    this.opts.onChange();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(this.probeTimer);
    this.child = undefined;
    this.agent.destroy();
    let message: string | undefined;
    try {
      message = readFileSync(this.terminationLog, 'utf8').trim() || undefined;
    } catch {
      message = undefined;
    }
    message ??= this.lastError;
    const wasReady = this.readySince !== undefined && Date.now() - this.readySince >= BACKOFF_RESET_MS;
    this.readySince = undefined;
    if (this.stopping) {
      this.phase = 'stopped';
      this.opts.onChange();
      return;
    }
    this.lastTermination = { exitCode: code ?? 128 + (signal ? signalNumber(signal) : 0), ...(signal ? { signal } : {}), ...(message ? { message } : {}), finishedAt: new Date() };
    if (wasReady) this.crashStreak = 0;
    const base = this.opts.backoffBaseMs ?? 1000;
    const delay = Math.min(this.opts.backoffMaxMs ?? 60_000, this.crashStreak === 0 ? 0 : base * 2 ** (this.crashStreak - 1));
    this.crashStreak++;
    this.restarts++;
    this.phase = 'backoff';
    this.opts.logger.warn('replica exited; restarting', { replica: this.id, exitCode: code, signal, error: message, restartInMs: delay });
    this.opts.onChange();
    this.backoffTimer = setTimeout(() => this.start(), delay);
  }

  private schedule(ms: number): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => void this.probe(), ms);
  }

  /** Readiness as the kubelet probes it: ready on the first success, unready after two failures. */
  private async probe(): Promise<void> {
    if (this.port === undefined || !this.child || this.phase === 'draining' || this.phase === 'stopped') return;
    let ok = false;
    try {
      const r = await fetch(`http://127.0.0.1:${this.port}/v2/health/ready`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      ok = r.status === 200 && (!this.opts.grpc || this.grpcPort !== undefined);
      await r.body?.cancel();
    } catch {
      ok = false;
    }
    if (!this.child || this.leaving()) return;
    if (ok) {
      this.probeFailures = 0;
      if (this.phase !== 'ready') {
        this.phase = 'ready';
        this.readySince = Date.now();
        this.opts.logger.info('replica ready', { replica: this.id, port: this.port, pid: this.pid });
        this.opts.onChange();
        void this.readWarmup(this.port);
      }
    } else if (this.phase === 'ready' && ++this.probeFailures >= 2) {
      this.phase = 'starting';
      this.readySince = undefined;
      this.opts.logger.warn('replica not ready', { replica: this.id });
      this.opts.onChange();
    }
    this.schedule(this.phase === 'ready' ? (this.opts.probePeriodMs ?? 1000) : STARTING_PROBE_MS);
  }

  /**
   * How the warm-up went, from the model's metadata, once ready (as the operator asks a ready pod): a failure on
   * generated inputs becomes the status' WarmUpFailed note. A replica that cannot say is taken at its word.
   */
  private async readWarmup(port: number): Promise<void> {
    if (this.warmupFailure !== undefined) return;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/models/${encodeURIComponent(this.opts.model)}`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const warmup = r.ok ? ((await r.json()) as { warmup?: { status?: string; message?: string } }).warmup : undefined;
      if (warmup?.status !== 'failed' || this.port !== port) return;
      this.warmupFailure = warmup.message ?? 'no message';
      this.opts.onChange();
    } catch {
      // not answering: nothing to report
    }
  }

  /** Draining or stopped: no longer probed or routed to. */
  leaving(): boolean {
    return this.phase === 'draining' || this.phase === 'stopped';
  }

  /** Taken out of routing; the caller waits for in-flight requests, then stops it. */
  markDraining(): void {
    if (this.phase === 'stopped') return;
    this.phase = 'draining';
    clearTimeout(this.probeTimer);
    clearTimeout(this.backoffTimer);
    this.opts.onChange();
  }

  /**
   * Drains: waits until no request the router sent here is in flight (at most `drainMs`), then SIGTERM (the
   * runtime finishes what it accepted and exits), SIGKILL after `killAfterMs`.
   */
  async stop(drainMs = 60_000, killAfterMs = 60_000): Promise<void> {
    this.markDraining();
    this.stopping = true;
    const deadline = Date.now() + drainMs;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const child = this.child;
    if (child && this.exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.phase = 'stopped';
    this.agent.destroy();
    rmSync(this.terminationLog, { force: true });
    this.opts.onChange();
  }

  /** Ends the process now (a second Ctrl-C). */
  kill(): void {
    this.stopping = true;
    clearTimeout(this.backoffTimer);
    this.child?.kill('SIGKILL');
  }
}

/**
 * This process's environment without MODELPLANE_* settings, which `modelplane serve` would read as flags: a replica
 * runs with the operator's flags only. Its termination message goes to a file of its own.
 */
function replicaEnv(terminationLog: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MODELPLANE_')) env[k] = v;
  env.MODELPLANE_TERMINATION_LOG = terminationLog;
  return env;
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}
