// /healthz, /readyz and /metrics on one port, for the kubelet's probes and Prometheus: an express app.
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthChecks {
  live(): boolean;
  ready(): boolean;
  /** Why the process is not live, for the /healthz body. */
  explain?(): string | undefined;
}

export function healthApp(checks: HealthChecks, registry: Registry): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const text = (res: express.Response, code: number, body: string) => res.status(code).type('text/plain; charset=utf-8').send(body);
  app.get('/healthz', (_req, res) => {
    if (checks.live()) return text(res, 200, 'ok\n');
    text(res, 500, `unhealthy${checks.explain?.() ? `: ${checks.explain()}` : ''}\n`);
  });
  app.get('/readyz', (_req, res) => (checks.ready() ? text(res, 200, 'ok\n') : text(res, 503, 'not ready\n')));
  app.get('/metrics', async (_req, res) => {
    try {
      const body = await registry.metrics();
      res.status(200).type(registry.contentType).send(body);
    } catch (err) {
      text(res, 500, `${(err as Error).message}\n`);
    }
  });
  app.use((_req, res) => text(res, 404, 'not found\n'));
  return app;
}

export class HealthServer {
  private server?: Server;
  constructor(private readonly checks: HealthChecks, private readonly registry: Registry) {}

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    const app = healthApp(this.checks, this.registry);
    await new Promise<void>((resolve, reject) => {
      const server = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve()));
      server.once('error', reject);
      this.server = server;
    });
    return (this.server!.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
