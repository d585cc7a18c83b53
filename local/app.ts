// Everything on the router that is neither inference nor a list of the models (the gateway's, gateway/server.ts), as an
// express app: the dashboard and its data (with the generation figures of generative deployments, generation-meter.ts,
// and the gateway's cold starts), the ModelDeploymentList for programs, health, and on /metrics local mode's gauges, the
// gateway's per-model metrics, and the runtime's counters and histograms summed over the replicas (replica-metrics.ts).
import express, { type Express } from 'express';
import { serverReady } from '../gateway/directory.js';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../operator/api/schema.js';
import type { FieldError } from '../operator/api/validate.js';
import { DASHBOARD_HTML } from './dashboard.js';
import type { LocalDeployment } from './deployment.js';
import { GenerationStats, type GenerationSummary } from './generation-meter.js';
import { ReplicaMetrics, type ScrapeTarget } from './replica-metrics.js';

export interface LocalModeView {
  url(): string;
  deployments(): LocalDeployment[];
  invalid(): { source: string; name?: string; errors: FieldError[] }[];
  skipped(): { source: string; note: string }[];
  version: string;
  /** The gateway's per-model metrics, as Prometheus text. */
  gatewayMetrics(): string;
  /** A deployment's cold starts (from zero, with requests held) and the mean wait of their first request. */
  coldStarts(d: LocalDeployment): { count: number; meanSeconds?: number };
}

const EXTENSIONS = ['binary_tensor_data'];

function metricsText(view: LocalModeView): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: string, rows: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${x.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',');
      lines.push(`${name}{${l}} ${v}`);
    }
  };
  const deps = view.deployments();
  metric('modelplane_local_requests_in_flight', 'Requests the router is handling, per model.', 'gauge', deps.map((d) => [{ model: d.model }, d.meter.inflight]));
  metric('modelplane_local_replicas', 'Replica processes per ModelDeployment and phase.', 'gauge', deps.flatMap((d) => ['starting', 'ready', 'backoff', 'draining'].map((p) => [{ modeldeployment: d.name, phase: p }, d.replicas.filter((r) => r.phase === p).length] as [Record<string, string>, number])));
  metric('modelplane_local_desired_replicas', 'Replicas wanted (spec.replicas, or the autoscaler\'s decision).', 'gauge', deps.map((d) => [{ modeldeployment: d.name }, d.desired]));
  return `${lines.join('\n')}\n`;
}

/** The replica processes running now, to scrape. */
function scrapeTargets(view: LocalModeView): ScrapeTarget[] {
  return view.deployments().flatMap((d) => d.replicas
    .filter((r) => (r.phase === 'starting' || r.phase === 'ready' || r.phase === 'draining') && r.pid !== undefined && r.port !== undefined)
    .map((r) => ({ modelDeployment: d.name, model: d.model, replica: r.id, pid: r.pid!, port: r.port! })));
}

/**
 * What the dashboard shows of one deployment: its state, its replicas, its last events, its load over five minutes and,
 * for a generative model, its tokens per second, time to first token and sequences running.
 */
function dashboardDeployment(view: LocalModeView, d: LocalDeployment, now: number, generation: GenerationSummary | null) {
  const s = d.meter.summary(10, now);
  return {
    name: d.name,
    model: d.model,
    uri: d.md.spec.model.uri,
    source: d.source,
    generation: d.md.metadata.generation,
    desiredReplicas: d.desired,
    readyReplicas: d.readyCount(),
    conditions: d.status.conditions ?? [],
    autoscaler: d.autoscalerStatus() ?? null,
    inflight: d.meter.inflight,
    rate: s.rate,
    p50: s.p50 ?? null,
    p99: s.p99 ?? null,
    replicas: d.replicas.map((r) => ({ id: r.id, phase: r.phase, pid: r.pid ?? null, port: r.port ?? null, inflight: r.inflight, restarts: r.restarts, current: r.template === d.template })),
    events: d.events.slice(-10),
    history: d.meter.history(300, now),
    textGeneration: generation,
    scaledToZero: d.desired === 0,
    coldStarts: view.coldStarts(d),
  };
}

/** The dashboard's page and the data it polls. */
function dashboardRoutes(app: Express, view: LocalModeView): void {
  const generation = new GenerationStats();
  app.get('/', (_req, res) => {
    res.type('html').set('Cache-Control', 'no-store').send(DASHBOARD_HTML);
  });
  app.get('/api/local', async (_req, res) => {
    await generation.refresh(scrapeTargets(view));
    const now = Date.now();
    res.set('Cache-Control', 'no-store').json({
      router: view.url(),
      deployments: view.deployments().map((d) => dashboardDeployment(view, d, now, generation.summary(d.name, now))),
      invalid: view.invalid(),
      skipped: view.skipped(),
    });
  });
}

/** The ModelDeployments as the API server lists and gets them, for programs (and kubectl-like tools). */
function modelDeploymentRoutes(app: Express, view: LocalModeView): void {
  const list = (_req: express.Request, res: express.Response) => {
    res.json({ apiVersion: API_VERSION, kind: `${KIND}List`, metadata: {}, items: view.deployments().map((d) => d.toObject()) });
  };
  app.get(`/apis/${GROUP}/${VERSION}/${PLURAL}`, list);
  app.get(`/apis/${GROUP}/${VERSION}/namespaces/:namespace/${PLURAL}`, (req, res) => {
    res.json({ apiVersion: API_VERSION, kind: `${KIND}List`, metadata: {}, items: view.deployments().filter((d) => d.md.metadata.namespace === req.params.namespace).map((d) => d.toObject()) });
  });
  app.get(`/apis/${GROUP}/${VERSION}/namespaces/:namespace/${PLURAL}/:name`, (req, res) => {
    const d = view.deployments().find((x) => x.md.metadata.namespace === req.params.namespace && x.name === req.params.name);
    if (!d) {
      res.status(404).json({ apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: `${PLURAL}.${GROUP} "${req.params.name}" not found` });
      return;
    }
    res.json(d.toObject());
  });
}

/** The Open Inference Protocol's routes that are not about models: health, server metadata. */
function serverRoutes(app: Express, view: LocalModeView): void {
  app.get('/v2/health/live', (_req, res) => {
    res.status(200).end();
  });
  app.get('/v2/health/ready', (_req, res) => {
    res.status(serverReady(view.deployments()) ? 200 : 503).end();
  });
  app.get('/v2', (_req, res) => {
    res.json({ name: 'modelplane', version: view.version, extensions: EXTENSIONS });
  });
}

export function createApp(view: LocalModeView): Express {
  const app = express();
  const replicaMetrics = new ReplicaMetrics();
  app.disable('x-powered-by');
  app.set('etag', false);
  dashboardRoutes(app, view);
  modelDeploymentRoutes(app, view);
  serverRoutes(app, view);
  app.get('/metrics', async (_req, res) => {
    const replicas = await replicaMetrics.collect(scrapeTargets(view));
    res.type('text/plain; version=0.0.4').send(metricsText(view) + view.gatewayMetrics() + replicas);
  });
  app.use((req, res) => {
    res.status(404).json({ error: `no route for ${req.method} ${req.path}`, reason: 'NotFound' });
  });
  return app;
}
