// /healthz, /readyz and /metrics on one port, for the kubelet's probes and Prometheus.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthChecks {
  live(): boolean;
  ready(): boolean;
}

export class HealthServer {
  private server?: Server;
  constructor(private readonly checks: HealthChecks, private readonly registry: Registry) {}

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const reply = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      };
      if (path === '/healthz') return reply(this.checks.live() ? 200 : 500, this.checks.live() ? 'ok\n' : 'unhealthy\n');
      if (path === '/readyz') return reply(this.checks.ready() ? 200 : 503, this.checks.ready() ? 'ok\n' : 'not ready\n');
      if (path === '/metrics') {
        this.registry.metrics().then((text) => reply(200, text, this.registry.contentType), (err: Error) => reply(500, err.message));
        return;
      }
      reply(404, 'not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, resolve);
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
