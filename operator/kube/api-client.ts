// Typed client-node APIs whose every request carries a deadline. client-node sets no request timeout, so a
// request the API server accepts and never answers would hang its caller for ever. Here the HTTP library
// behind the generated clients gives each request an AbortController that fires when the deadline passes
// (covering the response body too) or when the caller's signal aborts (leadership lost, shutdown), and
// releases its timer and listener as soon as the body is read. It also sets a User-Agent naming this
// process, so an API server's audit log tells replicas apart.
import {
  IsomorphicFetchHttpLibrary, Observable, ResponseContext, ServerConfiguration, createConfiguration,
  type ConfigurationOptions, type HttpLibrary, type KubeConfig, type ObservableMiddleware, type RequestContext,
} from '@kubernetes/client-node';

/** What a read returns, or undefined when the API server answers 404; any other failure is the caller's. */
export async function orAbsent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** Default deadline of one API request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface ApiClientOptions {
  /** Deadline of every request, in milliseconds, from sending it to reading the whole response. */
  timeoutMs?: number;
  /** Aborts every request in flight and every later one, e.g. when leadership is lost. */
  signal?: AbortSignal;
  /** User-Agent header of every request. */
  userAgent?: string;
  /** Told of every request the API server refuses with 403 (RBAC), whoever sent it. */
  onForbidden?: (request: ForbiddenRequest) => void;
}

/** A request the API server refused: what RBAC would have to grant, and the server's own words. */
export interface ForbiddenRequest {
  verb: string;
  /** `leases.coordination.k8s.io`, `pods`, `modeldeployments.serving.modelplane.io/status`. */
  resource: string;
  namespace?: string;
  name?: string;
  message: string;
}

/** The RBAC verb and resource of a request, read from its method and path as the API server's authorizer does. */
export function requestTarget(method: string, url: string): Omit<ForbiddenRequest, 'message'> {
  const u = new URL(url);
  const seg = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let rest = seg[0] === 'api' ? seg.slice(2) : seg.slice(3);
  const group = seg[0] === 'api' ? '' : seg[1] ?? '';
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural = '', name, subresource] = rest;
  const collection = name === undefined;
  const watch = u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1';
  const verbs: Record<string, string> = { GET: collection ? (watch ? 'watch' : 'list') : 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: collection ? 'deletecollection' : 'delete' };
  const resource = `${plural}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
  return { verb: verbs[method.toUpperCase()] ?? method.toLowerCase(), resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
}

export class RequestTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeoutMs: number, what: string) {
    super(`${what}: no complete answer within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

const fetchLibrary = new IsomorphicFetchHttpLibrary();

/** client-node's fetch library, with a deadline and an abort signal on every request. */
export class DeadlineHttpLibrary implements HttpLibrary {
  private readonly timeoutMs: number;
  constructor(private readonly opts: ApiClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  send(request: RequestContext): Observable<ResponseContext> {
    const { signal, userAgent } = this.opts;
    if (userAgent) request.setHeaderParam('User-Agent', userAgent);
    const controller = new AbortController();
    const what = `${request.getHttpMethod()} ${new URL(request.getUrl()).pathname}`;
    const timer = setTimeout(() => controller.abort(new RequestTimeoutError(this.timeoutMs, what)), this.timeoutMs);
    const onAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted) controller.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    request.setSignal(controller.signal as never);
    const settled = fetchLibrary.send(request).toPromise().then(
      async (response) => {
        if (response.httpStatusCode === 403 && this.opts.onForbidden) return this.forbidden(request, response, done);
        const read = <T>(body: () => Promise<T>) => () => body().finally(done);
        return new ResponseContext(response.httpStatusCode, response.headers, { text: read(() => response.body.text()), binary: read(() => response.body.binary()) });
      },
      (err: unknown) => {
        done();
        // node-fetch reports every abort alike; say which deadline or signal ended the request.
        throw controller.signal.aborted && controller.signal.reason instanceof Error ? controller.signal.reason : err;
      },
    );
    return new Observable(settled);
  }

  /** Reads a 403's Status, tells onForbidden, and hands the caller the same answer. */
  private async forbidden(request: RequestContext, response: ResponseContext, done: () => void): Promise<ResponseContext> {
    const text = await response.body.text().finally(done);
    let message = text;
    try {
      message = String((JSON.parse(text) as { message?: unknown }).message ?? text);
    } catch {
      // Not a Status: the text itself says why.
    }
    this.opts.onForbidden!({ ...requestTarget(request.getHttpMethod(), request.getUrl()), message: message.slice(0, 1024) });
    return new ResponseContext(response.httpStatusCode, response.headers, { text: async () => text, binary: async () => Buffer.from(text) });
  }
}

/**
 * Per-call options with a deadline of their own (shorter or longer than the client's), e.g. a lease renewal
 * that must end by the renew deadline. Other per-call options (a patch Content-Type) may be passed through.
 */
export function withDeadline(client: ApiClientOptions, opt?: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
  return { ...opt, httpApi: new DeadlineHttpLibrary(client) };
}

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

/** kc.makeApiClient with a deadline on every request. */
export function makeApiClient<T>(kc: KubeConfig, api: ApiConstructor<T>, opts: ApiClientOptions = {}): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no active cluster in the kubeconfig');
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    httpApi: new DeadlineHttpLibrary(opts),
  });
  return new api(config);
}
