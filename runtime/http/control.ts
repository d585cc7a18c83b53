// The control surface as an express app: health, readiness, server and model metadata, Triton's model
// configuration and statistics, and Prometheus metrics. Inference requests never pass through here.
import express, { type NextFunction, type Request, type Response } from 'express';
import { RuntimeError } from '../errors.js';
import { statisticsResponse } from '../statistics.js';
import { EXTENSIONS, MODEL_VERSION, SERVER_NAME, lookupModel, repositoryIndex, modelConfig, modelMetadata, unknownModel, type ServedModel, type TransportDeps } from '../core.js';
import { decodeSegment, sendError, sendJson } from './respond.js';
import { readIndexRequest } from './index-request.js';

const methodNotAllowed = (allowed: string) => (req: Request, _res: Response, next: NextFunction) => {
  next(new RuntimeError('MethodNotAllowed', `${req.method} ${req.path}: use ${allowed}`));
};

/** The model a request's path names (express has already percent-decoded the parameters). */
function model(deps: TransportDeps, req: Request): ServedModel {
  const p = req.params as { name: string; version?: string };
  return lookupModel(deps, p.name, p.version);
}

export function createControlApp(deps: TransportDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  serverRoutes(app, deps);
  statisticsRoutes(app, deps);
  modelRoutes(app, deps);
  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new RuntimeError('NotFound', `no route for ${req.method} ${req.path}`));
  });
  app.use(errorHandler(deps));
  return app;
}

/** Liveness, readiness, server metadata and Prometheus metrics. */
function serverRoutes(app: express.Express, deps: TransportDeps): void {
  app.route('/v2/health/live')
    .get((_req, res) => sendJson(res, 200, { live: true }))
    .all(methodNotAllowed('GET'));

  app.route('/v2/health/ready')
    .get((_req, res) => {
      const state = deps.state();
      if (state === 'ready') return sendJson(res, 200, { ready: true });
      if (state === 'loading') throw new RuntimeError('NotReady', 'model is loading');
      throw new RuntimeError('ShuttingDown', 'server is shutting down');
    })
    .all(methodNotAllowed('GET'));

  app.route(['/v2', '/v2/'])
    .get((_req, res) => sendJson(res, 200, { name: SERVER_NAME, version: deps.version, extensions: EXTENSIONS }))
    .all(methodNotAllowed('GET'));

  app.route('/v2/repository/index')
    .post(async (req, res) => {
      const ask = await readIndexRequest(req);
      sendJson(res, 200, repositoryIndex(deps, ask));
    })
    .all(methodNotAllowed('POST'));

  app.route('/metrics')
    .get(async (_req, res) => {
      const m = deps.model();
      const text = m ? await m.metrics.registry.metrics() : '';
      res.writeHead(200, { 'Content-Type': m?.metrics.registry.contentType ?? 'text/plain; version=0.0.4' });
      res.end(text);
    })
    .all(methodNotAllowed('GET'));
}

/** The statistics extension: every model, then one model, optionally at one version. */
function statisticsRoutes(app: express.Express, deps: TransportDeps): void {
  app.route('/v2/models/stats')
    .get((_req, res) => sendJson(res, 200, statisticsResponse([deps.statistics])))
    .all(methodNotAllowed('GET'));
  app.route('/v2/models/:name{/versions/:version}/stats')
    .get((req, res) => {
      const p = req.params as { name: string; version?: string };
      if (p.name !== deps.modelName) throw unknownModel(p.name);
      if (p.version !== undefined && p.version !== MODEL_VERSION) {
        throw new RuntimeError('VersionNotFound', `model ${p.name} has no version "${p.version}"; it has version ${MODEL_VERSION}`);
      }
      sendJson(res, 200, statisticsResponse([deps.statistics], { name: p.name, version: p.version }));
    })
    .all(methodNotAllowed('GET'));
}

/** A model's readiness, configuration and metadata; any method but POST on its infer route. */
function modelRoutes(app: express.Express, deps: TransportDeps): void {
  app.route('/v2/models/:name{/versions/:version}/ready')
    .get((req, res) => {
      const m = model(deps, req);
      if (deps.state() === 'ready') return sendJson(res, 200, { name: m.name, ready: true });
      throw new RuntimeError('NotReady', `model ${m.name} is not ready`);
    })
    .all(methodNotAllowed('GET'));

  app.route('/v2/models/:name{/versions/:version}/config')
    .get((req, res) => sendJson(res, 200, modelConfig(model(deps, req))))
    .all(methodNotAllowed('GET'));

  // POST reaches the inference handler before express; any other method lands here.
  app.all('/v2/models/:name{/versions/:version}/infer', methodNotAllowed('POST'));

  app.route('/v2/models/:name{/versions/:version}')
    .get((req, res) => sendJson(res, 200, modelMetadata(model(deps, req))))
    .all(methodNotAllowed('GET'));
}

/** Every refusal in the protocol's error shape; a path that does not percent-decode names its segment. */
function errorHandler(deps: TransportDeps) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let e: RuntimeError;
    if (err instanceof RuntimeError) e = err;
    else if (err instanceof URIError || (err as { status?: number }).status === 400) e = pathError(req, err as Error);
    else {
      e = new RuntimeError('Internal', `internal error: ${(err as Error).message}`);
      deps.logger.error('request failed', { path: req.path, error: (err as Error).message });
    }
    if (res.headersSent) res.destroy();
    else sendError(res, e);
  };
}

/** The router could not percent-decode a path parameter: say which segment. */
function pathError(req: Request, err: Error): RuntimeError {
  const bad = req.path.split('/').find((s) => { try { decodeURIComponent(s); return false; } catch { return true; } }) ?? req.path;
  try {
    decodeSegment(bad, 'segment');
    return new RuntimeError('InvalidRequest', `request path: ${err.message}`);
  } catch (refusal) {
    return refusal as RuntimeError;
  }
}
