// The one place local mode asks the operator's builder for `modelplane serve` flags: a replica process runs with
// exactly the arguments a runtime pod's container gets, except where it listens (a free loopback port, and no
// gRPC port: the router speaks HTTP, and replicas sharing one machine cannot share the pod's fixed gRPC port).
import type { ModelDeployment } from '../operator/api/schema.js';
import { resolveConfig, type ResolvedConfig } from '../operator/resources/config.js';
import { serveArgs } from '../operator/resources/deployment.js';

/** The operator's defaults; the image is never pulled in local mode, only named. */
export const LOCAL_CONFIG: ResolvedConfig = resolveConfig({ runtimeImage: 'modelplane-local', logLevel: 'info' });

/** `argv` with `flag`'s value replaced, or the flag appended when absent. */
export function withFlag(argv: readonly string[], flag: string, value: string): string[] {
  const out = [...argv];
  const i = out.indexOf(flag);
  if (i >= 0 && i + 1 < out.length) out[i + 1] = value;
  else out.push(flag, value);
  return out;
}

/**
 * `modelplane serve` arguments for one replica of `md` serving the cached model at `modelPath`: the operator's
 * rendering, then HTTP port 0 (the runtime logs the port it bound) on the loopback interface, gRPC off.
 */
export function replicaArgs(md: ModelDeployment, modelPath: string, cfg: ResolvedConfig = LOCAL_CONFIG): string[] {
  const argv = serveArgs(md, { kind: 'image', fetch: false, modelPath }, cfg);
  return withFlag(withFlag(withFlag(argv, '--http-port', '0'), '--grpc-port', '0'), '--host', '127.0.0.1');
}
