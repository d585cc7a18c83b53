// The process around local mode: logging, what a person reads, signals (the first Ctrl-C or SIGTERM drains and
// exits 0, a second one ends the replicas at once), and a clear line and exit code when it cannot start.
import { createLogger } from '../common/logger.js';
import { gatekeeperFor } from '../gateway/gatekeeper.js';
import { DEFAULT_HOLD } from '../gateway/hold.js';
import { ApiKeysError, KeyStore } from '../gateway/keys.js';
import type { AutoscalerTuning } from './deployment.js';
import { startLocalMode, type LocalMode } from './local-mode.js';
import { defaultCacheDir, LocalModeError } from './model-cache.js';
import { count } from './words.js';

/** What local mode runs with, as its flags decide it. */
export interface LocalSettings {
  /** Manifest files and directories (-f, --filename). */
  paths: readonly string[];
  port: number;
  /** The router's gRPC port (0: any free one); undefined: no gRPC. */
  grpcPort?: number;
  host: string;
  cacheDir?: string;
  logLevel: string;
  table: boolean;
  autoscaleIntervalMs: number;
  tuning: AutoscalerTuning;
  drainMs: number;
  /** --activation-timeout and --max-held-requests; the gateway's defaults when not given. */
  activationTimeoutMs?: number;
  maxHeldRequests?: number;
  apiKeysPath?: string;
}

export interface RunLocalOptions extends LocalSettings {
  version: string;
  cliPath: string;
  /** Called once every ModelDeployment read at start has a ready replica. */
  onReady?: (mode: LocalMode) => void;
}

/** Largest request body the router accepts: the runtime's own default limit. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export async function runLocal(o: RunLocalOptions): Promise<void> {
  const logger = createLogger('local', o.logLevel);
  const print = (text: string) => process.stdout.write(`${text}\n`);
  let mode: LocalMode;
  try {
    const keys = o.apiKeysPath ? gatekeeperFor(KeyStore.watch(o.apiKeysPath, { log: logger })) : undefined;
    mode = await startLocalMode({
      ...(keys ? { keys } : {}),
      paths: o.paths,
      port: o.port,
      ...(o.grpcPort !== undefined ? { grpcPort: o.grpcPort } : {}),
      host: o.host,
      cacheDir: o.cacheDir ?? defaultCacheDir(),
      logger,
      print,
      version: o.version,
      command: process.execPath,
      cliPath: o.cliPath,
      autoscaleIntervalMs: o.autoscaleIntervalMs,
      tuning: o.tuning,
      drainMs: o.drainMs,
      maxBodyBytes: MAX_BODY_BYTES,
      activationTimeoutMs: o.activationTimeoutMs ?? DEFAULT_HOLD.activationTimeoutMs,
      maxHeldRequests: o.maxHeldRequests ?? DEFAULT_HOLD.maxHeldRequests,
      table: o.table,
    });
  } catch (err) {
    const flag = err instanceof ApiKeysError ? '--api-keys: ' : '';
    process.stderr.write(`modelplane local: ${flag}${(err as Error).message}\n`);
    process.exit(err instanceof LocalModeError || err instanceof ApiKeysError ? 1 : 70);
  }
  // Replicas never outlive this process, whatever ends it.
  process.on('exit', () => mode.kill());
  let stops = 0;
  const stop = (signal: string) => {
    stops++;
    if (stops > 1) {
      print(`${signal} again: stopping the replicas now`);
      mode.kill();
      process.exit(130);
    }
    print(`${signal}: the router stops accepting, in-flight requests finish, replicas drain (again to force)`);
    mode.stop().then(
      () => {
        print('stopped');
        process.exit(0);
      },
      (err: Error) => {
        logger.error('stop failed', { error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  void mode.allReady().then(() => {
    if (stops) return;
    print(readySummary(mode.deployments().length, mode.invalid(), mode.url));
    o.onReady?.(mode);
  });
}

/**
 * The line local mode prints once every ModelDeployment it runs has its replicas: "all ... ready" only when none
 * was rejected (a failing one never gets this far).
 */
export function readySummary(running: number, rejected: readonly { source: string; name?: string }[], url: string): string {
  const where = `Router ${url}  dashboard ${url}/  index: curl -s -X POST ${url}/v2/repository/index`;
  if (rejected.length) {
    const names = rejected.map((r) => r.name ?? r.source).join(', ');
    return `${count(running, 'ModelDeployment')} ready; ${rejected.length} rejected (${names}): see the errors above, fix and save (the files are watched). ${where}`;
  }
  if (running === 0) return `no ModelDeployment in the files yet (they are watched). ${where}`;
  return `all ModelDeployments ready. ${where}`;
}
