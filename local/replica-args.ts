// The one place local mode asks the operator's builder for `modelplane serve` flags: a replica process runs with
// exactly the arguments a runtime pod's container gets, except where it listens (a free loopback port).
import type { ModelDeployment } from '../operator/api/schema.js';
import { resolveConfig, type ResolvedConfig } from '../operator/resources/config.js';
import { serveSettings } from '../operator/resources/deployment.js';
import { serveArgv } from '../common/serve-contract.js';

/** The operator's defaults; the image is never pulled in local mode, only named. */
export const LOCAL_CONFIG: ResolvedConfig = resolveConfig({ runtimeImage: 'modelplane-local', logLevel: 'info' });

/**
 * `modelplane serve` arguments for one replica of `md` serving the cached model at `modelPath`: the operator's
 * settings, listening on the loopback interface on port 0 (the runtime logs the port it bound), with a gRPC listener
 * on a free port only when local mode's gateway serves gRPC (`grpc`), and no drain window. With spec.optimization, the
 * runtime looks for the optimised model in `optimizedModelDir`; with spec.runtime.warmup, it warms up on the local copy
 * of the samples, `warmupPath`.
 */
export function replicaArgs(md: ModelDeployment, modelPath: string, cfg: ResolvedConfig = LOCAL_CONFIG, optimizedModelDir?: string, warmupPath?: string, grpc = false): string[] {
  const settings = serveSettings(md, { kind: 'image', fetch: false, modelPath }, cfg);
  // The pod's optimise step writes into an emptyDir; local mode's writes into its cache (see model-optimizer.ts).
  if (settings.optimizedModelDir !== undefined) settings.optimizedModelDir = optimizedModelDir;
  // The pod reads its samples where an init container or a downward API volume put them; local mode, from its cache.
  if (settings.warmup !== undefined) settings.warmup = warmupPath;
  // The router stops sending to a replica before it stops it, so no drain window is needed (pods keep one for
  // endpoints that still send).
  return serveArgv({ ...settings, host: '127.0.0.1', httpPort: 0, grpcPort: grpc ? 'any' : undefined, drainSeconds: 0 });
}
