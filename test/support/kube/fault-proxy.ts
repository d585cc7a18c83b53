// A small fault-injecting proxy in front of the real API server, for what the server cannot be told to do: requests
// that hang, answers with an error status, watches dropped mid-stream. Plain HTTP on a loopback port in, HTTPS with
// the cluster's CA out; the client's own credentials pass through, so RBAC still applies.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';

export type Match = (method: string, path: string, query: URLSearchParams) => boolean;

interface Rule {
  match: Match;
  remaining: number;
  action: 'hang' | number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  query: string;
  status: number;
}

export class FaultProxy {
  private readonly server: Server;
  private rules: Rule[] = [];
  private readonly open = new Set<{ res: ServerResponse; upstream?: { destroy(): void }; watch: boolean }>();
  private readonly ca: Buffer;
  /** Every request that passed through (or was faulted), in order. */
  readonly requests: ProxiedRequest[] = [];
  url = '';

  constructor(private readonly target: string, caFile: string) {
    this.ca = readFileSync(caFile);
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next `count` matching requests are read and never answered. */
  hang(count: number, match: Match): void {
    this.rules.push({ match, remaining: count, action: 'hang' });
  }

  /** The next `count` matching requests are answered with `status` and a Status body. */
  fail(count: number, status: number, match: Match): void {
    this.rules.push({ match, remaining: count, action: status });
  }

  clear(): void {
    this.rules = [];
  }

  /** Cuts every open watch, as a load balancer's idle timeout or an API server restart does. */
  dropWatches(): number {
    let n = 0;
    for (const o of [...this.open]) {
      if (!o.watch) continue;
      o.upstream?.destroy();
      o.res.destroy();
      this.open.delete(o);
      n++;
    }
    return n;
  }

  async stop(): Promise<void> {
    for (const o of this.open) {
      o.upstream?.destroy();
      o.res.destroy();
    }
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const record: ProxiedRequest = { method, path: url.pathname, query: url.search, status: 0 };
    this.requests.push(record);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const entry: { res: ServerResponse; upstream?: { destroy(): void }; watch: boolean } = { res, watch };
    this.open.add(entry);
    res.on('close', () => this.open.delete(entry));
    const rule = this.rules.find((r) => r.remaining > 0 && r.match(method, url.pathname, url.searchParams));
    if (rule) {
      rule.remaining--;
      if (rule.action === 'hang') {
        req.resume();
        return;
      }
      record.status = rule.action;
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `injected fault: ${rule.action}`, reason: 'InternalError', code: rule.action });
      req.resume();
      res.writeHead(rule.action, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const headers = { ...req.headers, host: new URL(this.target).host };
    const upstream = httpsRequest(new URL(req.url ?? '/', this.target), { method, headers, ca: this.ca }, (up) => {
      record.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    entry.upstream = upstream;
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
