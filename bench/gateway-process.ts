// The gateway as bench:gateway measures it: createGateway's handler in a process of its own (so its CPU per request
// reads from /proc/<pid>/stat), in front of one upstream, through a static Directory of one Target ("simple"). Its
// /metrics is the gateway's metricsText(). Started at zero (--zero), the target has no upstream until a POST
// /bench/ready, which hands it the upstream and tells the directory's subscribers (held requests are released then).
// Usage: node gateway-process.js <upstream port> [--zero] [--api-keys <key file>]
import { Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Directory, Target, Upstream } from '../gateway/directory.js';
import { gatekeeperFor } from '../gateway/gatekeeper.js';
import { KeyStore, loadApiKeys } from '../gateway/keys.js';
import { createGateway } from '../gateway/server.js';

const MODEL = 'simple';

interface BenchArgs {
  upstreamPort: number;
  zero: boolean;
  apiKeys?: string;
}

function parseArgs(argv: readonly string[]): BenchArgs {
  const upstreamPort = Number(argv[0]);
  if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) throw new Error(`upstream port: must be a port number, got ${JSON.stringify(argv[0])}`);
  const keysAt = argv.indexOf('--api-keys');
  return { upstreamPort, zero: argv.includes('--zero'), ...(keysAt >= 0 ? { apiKeys: argv[keysAt + 1] } : {}) };
}

/** One Target whose upstream list is empty until ready() is called (or from the start, when not at zero). */
function staticDirectory(upstream: Upstream, zero: boolean): Directory & { ready(): void } {
  let upstreams: readonly Upstream[] = zero ? [] : [upstream];
  const listeners: Array<(t: Target) => void> = [];
  const target: Target = {
    namespace: 'default',
    name: MODEL,
    model: MODEL,
    upstreams: () => upstreams,
    desiredReplicas: () => upstreams.length,
    readyCondition: () => undefined,
    activate: () => true,
  };
  return {
    lookup: (model) => (model === MODEL ? target : undefined),
    list: () => [target],
    subscribe: (listener) => listeners.push(listener),
    ready: () => {
      upstreams = [upstream];
      for (const l of listeners) l(target);
    },
  };
}

const args = parseArgs(process.argv.slice(2));
const upstream: Upstream = {
  id: 'bench-upstream',
  host: '127.0.0.1',
  port: args.upstreamPort,
  inflight: 0,
  // As local mode's replicas have it.
  agent: new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000, timeout: 300_000 }),
};
const directory = staticDirectory(upstream, args.zero);
const gateway = createGateway({
  directory,
  maxBodyBytes: 64 * 1024 * 1024,
  upstreamTimeoutMs: 300_000,
  activationTimeoutMs: 300_000,
  maxHeldRequests: 1000,
  ...(args.apiKeys ? { keys: gatekeeperFor(new KeyStore(loadApiKeys(args.apiKeys))) } : {}),
  version: 'bench',
  fallback: (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (req.url === '/metrics') res.writeHead(200, ['Content-Type', 'text/plain; version=0.0.4']).end(gateway.metricsText());
    else if (req.url === '/bench/ready' && req.method === 'POST') {
      directory.ready();
      res.writeHead(204).end();
    } else res.writeHead(404).end();
  },
});
const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 300_000 }, gateway.handle);
server.listen(0, '127.0.0.1', () => console.log(`gateway on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => {
  gateway.close();
  server.close();
  server.closeAllConnections();
  upstream.agent.destroy();
});
