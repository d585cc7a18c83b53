// Typed client-node APIs whose every request carries a deadline. client-node sets no request timeout, so a
// request the API server accepts and never answers would hang its caller for ever; here each request gets an
// AbortSignal that fires after the timeout, joined with an optional signal of the caller (leadership lost,
// shutdown), and a User-Agent naming this process so an API server's audit log tells replicas apart.
import {
  Observable, ServerConfiguration, createConfiguration, type ConfigurationOptions, type KubeConfig, type ObservableMiddleware, type RequestContext, type ResponseContext,
} from '@kubernetes/client-node';

const of = <T>(value: T): Observable<T> => new Observable(Promise.resolve(value));

/** Default deadline of one API request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface ApiClientOptions {
  /** Deadline of every request, in milliseconds. */
  timeoutMs?: number;
  /** Aborts every request in flight and every later one, e.g. when leadership is lost. */
  signal?: AbortSignal;
  /** User-Agent header of every request. */
  userAgent?: string;
}

/** The signal a request should carry: the deadline, joined with the caller's signal when there is one. */
export function deadlineSignal(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, Math.round(timeoutMs)));
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** A middleware that puts a fresh deadline (and the user agent) on each request as it is sent. */
export function deadlineMiddleware(opts: ApiClientOptions): ObservableMiddleware {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    pre: (request: RequestContext) => {
      request.setSignal(deadlineSignal(timeoutMs, opts.signal) as never);
      if (opts.userAgent) request.setHeaderParam('User-Agent', opts.userAgent);
      return of(request);
    },
    post: (response: ResponseContext) => of(response),
  };
}

/**
 * Per-call options with a deadline of their own (shorter or longer than the client's), to append to
 * other per-call options such as a patch Content-Type.
 */
export function withDeadline(timeoutMs: number, signal?: AbortSignal, opt?: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
  return { ...opt, middleware: [...(opt?.middleware ?? []), deadlineMiddleware({ timeoutMs, signal })], middlewareMergeStrategy: 'append' };
}

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

/** kc.makeApiClient with a deadline on every request. */
export function makeApiClient<T>(kc: KubeConfig, api: ApiConstructor<T>, opts: ApiClientOptions = {}): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no active cluster in the kubeconfig');
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    middleware: [deadlineMiddleware(opts)],
  });
  return new api(config);
}
