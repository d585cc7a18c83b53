// A fake Kubernetes API server on 127.0.0.1 for tests and the operator benchmark: real HTTP, driven by
// the real @kubernetes/client-node, with the semantics a controller depends on and hooks to inject faults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, ObjectStore, parseBody, parseFieldSelector, parseSelector, type FieldSelector, type KObject, type WatchEventType, type WatchSubscriber } from './store.js';
import { apiVersionOf, RESOURCE_TYPES, resourceId, type ResourceType } from './resources.js';
import type { Json } from './fields.js';
import { CustomResources, runtimeClassAdmission } from './admission.js';
import { buildCrd } from '../../../operator/api/crd.js';

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  status: number;
  fieldManager?: string;
  contentType?: string;
  /** The User-Agent header: who sent the request (the operator puts its identity there). */
  userAgent?: string;
  /** When the request arrived; for a write, when it took effect (the fake applies a write as it arrives). */
  time: number;
}

/** Decides whether a fault applies to a request. */
export type RequestMatcher = (method: string, path: string, userAgent?: string) => boolean;

interface FaultRule {
  remaining: number;
  status: number;
  reason: string;
  /** Read the request, then never answer it (a connection that hangs). */
  hang?: boolean;
  match: RequestMatcher;
}

interface OpenWatch {
  res: ServerResponse;
  silenced: boolean;
  unsubscribe: () => void;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface FakeApiServerOptions {
  /** Watch events kept for resuming watches before older versions answer 410 Gone. */
  historyLimit?: number;
  /**
   * Install the ModelDeployment CRD (as `kubectl apply -f crds/` would) when the server starts; default true.
   * Without it, ModelDeployments are not served until a test creates the CRD.
   */
  installCrds?: boolean;
}

const CRDS = RESOURCE_TYPES.find((t) => t.kind === 'CustomResourceDefinition')!;
const RUNTIME_CLASSES = RESOURCE_TYPES.find((t) => t.kind === 'RuntimeClass')!;

export class FakeApiServer {
  readonly store: ObjectStore;
  readonly requests: RequestRecord[] = [];
  private readonly server: Server;
  private readonly watches = new Set<OpenWatch>();
  private faults: FaultRule[] = [];
  private readonly hung = new Set<ServerResponse>();
  private silent = false;
  private recordRequests = true;
  private readonly unserved = new Set<string>();
  /** The kinds this server knows: the built-in ones, then those CRDs define. */
  private readonly types: ResourceType[] = [...RESOURCE_TYPES];
  readonly customResources = new CustomResources(this.types);
  url = '';

  constructor(private readonly opts: FakeApiServerOptions = {}) {
    this.store = new ObjectStore(opts.historyLimit);
    for (const rt of this.types) this.store.registerType(rt);
    this.store.addAdmission((rt, next, before) => this.customResources.admit(rt, next, before));
    this.store.addAdmission(runtimeClassAdmission((name) => this.store.get(RUNTIME_CLASSES, undefined, name) !== undefined));
    this.followCrds();
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
  }

  async start(): Promise<this> {
    if (this.opts.installCrds !== false) this.store.create(CRDS, undefined, buildCrd() as unknown as Json, { manager: 'kubectl-client-side-apply' });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** What the apiextensions controllers do: serve the kinds a stored CRD defines, and delete their objects with it. */
  private followCrds(): void {
    this.store.watch({
      rid: resourceId(CRDS),
      selector: parseSelector(undefined),
      send: (type, crd) => {
        if (type !== 'DELETED') {
          for (const rt of this.customResources.install(crd)) this.store.registerType(rt);
          return;
        }
        for (const rt of this.customResources.uninstall(crd)) {
          for (const obj of this.store.list(rt).items) this.store.delete(rt, obj.metadata.namespace as string | undefined, String(obj.metadata.name));
        }
      },
    }, undefined);
  }

  /** Whether requests for this kind are served: its group version is, and a custom kind's CRD exists. */
  private served(rt: ResourceType): boolean {
    return !this.unserved.has(apiVersionOf(rt)) && this.customResources.served(rt);
  }

  async stop(): Promise<void> {
    this.dropWatches();
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A kubeconfig (YAML text) pointing at this server. */
  kubeconfigYaml(namespace = 'default'): string {
    return [
      'apiVersion: v1', 'kind: Config', 'current-context: fake',
      'clusters:', `- name: fake`, `  cluster: { server: "${this.url}", insecure-skip-tls-verify: true }`,
      'users:', '- name: fake', '  user: { token: fake }',
      'contexts:', `- name: fake`, `  context: { cluster: fake, user: fake, namespace: ${namespace} }`, '',
    ].join('\n');
  }

  /** Writes the kubeconfig to a temporary file and returns its path. */
  writeKubeconfig(namespace = 'default'): string {
    const dir = mkdtempSync(join(tmpdir(), 'modelplane-fake-kube-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, this.kubeconfigYaml(namespace));
    return file;
  }

  // --- fault injection --------------------------------------------------------------------------

  /** The next `count` requests (matching `match`, default all) answer with `status` (default 500). */
  failNext(count: number, status = 500, match: RequestMatcher = () => true): void {
    this.faults.push({ remaining: count, status, reason: status === 409 ? 'Conflict' : status === 500 ? 'InternalError' : 'Failure', match });
  }

  /**
   * The next `count` matching requests are read in full and then never answered: nothing is applied and the
   * connection stays open until the client gives up (or the server stops), as behind a hung proxy.
   */
  hangNext(count: number, match: RequestMatcher = () => true): void {
    this.faults.push({ remaining: count, status: 0, reason: 'Hang', hang: true, match });
  }

  /** Requests held open by hangNext and not yet given up by their client. */
  get hungRequests(): number {
    return this.hung.size;
  }

  /** The next `count` writes answer 409 Conflict. */
  conflictStorm(count: number, match: RequestMatcher = () => true): void {
    this.failNext(count, 409, (method, path) => WRITE_METHODS.has(method) && match(method, path));
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Ends every open watch, as an API server restart or a load balancer timeout does. */
  dropWatches(): void {
    for (const w of [...this.watches]) {
      w.unsubscribe();
      this.watches.delete(w);
      w.res.end();
    }
  }

  /** Keeps open watches (and new ones) connected but sends them nothing until `resume()`. */
  goSilent(): void {
    this.silent = true;
    for (const w of this.watches) w.silenced = true;
  }

  /** New watches get events again; watches silenced earlier stay silent, like a dead connection. */
  resume(): void {
    this.silent = false;
  }

  /** Forgets the watch history: resuming from an older resourceVersion now answers 410 Gone. */
  compact(): void {
    this.store.compact();
  }

  get openWatches(): number {
    return this.watches.size;
  }

  /** Serves an API group version or stops serving it (as when a CRD like KEDA's is not installed): discovery and requests follow. */
  serveApi(groupVersion: string, served: boolean): void {
    if (served) this.unserved.delete(groupVersion);
    else this.unserved.add(groupVersion);
  }

  setRecording(on: boolean): void {
    this.recordRequests = on;
  }

  /** Writes seen since the log was last cleared, optionally only those whose path matches. */
  writes(pathPattern?: RegExp): RequestRecord[] {
    return this.requests.filter((r) => WRITE_METHODS.has(r.method) && r.status < 400 && (!pathPattern || pathPattern.test(r.path)));
  }

  /** Reads of one named object (GET, not a list or watch) seen since the log was last cleared, whose path matches. */
  reads(pathPattern: RegExp): RequestRecord[] {
    return this.requests.filter((r) => r.method === 'GET' && !/(^|&)watch=/.test(r.query) && pathPattern.test(r.path));
  }

  clearRequestLog(): void {
    this.requests.length = 0;
  }

  // --- HTTP -------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const record: RequestRecord = {
      method, path: url.pathname, query: url.search, status: 0, time: Date.now(),
      fieldManager: url.searchParams.get('fieldManager') ?? undefined, contentType: req.headers['content-type'], userAgent: req.headers['user-agent'],
    };
    const isWatch = method === 'GET' && (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1');
    try {
      const body = WRITE_METHODS.has(method) ? await readBody(req) : '';
      const fault = this.faults.find((f) => f.remaining > 0 && f.match(method, url.pathname, record.userAgent));
      if (fault) {
        fault.remaining--;
        this.faults = this.faults.filter((f) => f.remaining > 0);
        if (fault.hang) {
          this.hung.add(res);
          res.on('close', () => this.hung.delete(res));
          return;
        }
        throw new ApiError(fault.status, fault.reason, `injected fault: ${fault.status}`);
      }
      const route = parseRoute(url.pathname, this.types);
      if (route.kind === 'discovery') return this.send(res, record, 200, discovery(url.pathname, this.types.filter((t) => this.served(t))));
      if (route.kind === 'namespace') return this.send(res, record, 200, namespaceObject(route.name));
      const { rt, namespace, name, subresource } = route;
      if (!this.served(rt)) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      if (isWatch) return this.watch(res, record, rt, namespace, name, url);
      const manager = url.searchParams.get('fieldManager') ?? undefined;
      const contentType = req.headers['content-type'] ?? 'application/json';
      const parsed = (): Json => parseBody(body, contentType);
      if (!name) {
        if (method === 'GET') {
          const { items, resourceVersion } = this.store.list(rt, namespace, url.searchParams.get('labelSelector') ?? undefined, url.searchParams.get('fieldSelector') ?? undefined);
          return this.send(res, record, 200, { apiVersion: apiVersionOf(rt), kind: `${rt.kind}List`, metadata: { resourceVersion }, items });
        }
        if (method === 'POST') return this.send(res, record, 201, this.store.create(rt, namespace, parsed(), { manager }));
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on a collection`);
      }
      if (subresource === 'scale') {
        if (method === 'GET') return this.send(res, record, 200, this.store.getScale(rt, namespace, name));
        if (method === 'PUT') return this.send(res, record, 200, this.store.updateScale(rt, namespace, name, parsed(), undefined, manager));
        if (method === 'PATCH') return this.send(res, record, 200, this.store.updateScale(rt, namespace, name, parsed(), contentType, manager));
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on scale`);
      }
      if (subresource && subresource !== 'status') throw new ApiError(404, 'NotFound', `unknown subresource ${subresource}`);
      if (subresource === 'status' && !rt.status) throw new ApiError(404, 'NotFound', `${rt.plural} has no status subresource`);
      const sub = subresource === 'status' ? 'status' : '';
      switch (method) {
        case 'GET':
          return this.send(res, record, 200, this.store.mustGet(rt, namespace, name));
        case 'PUT':
          return this.send(res, record, 200, this.store.replace(rt, namespace, name, parsed(), { subresource: sub, manager }));
        case 'PATCH': {
          const existed = this.store.get(rt, namespace, name) !== undefined;
          const out = this.store.patch(rt, namespace, name, parsed(), contentType, { subresource: sub, manager, force: url.searchParams.get('force') === 'true' });
          return this.send(res, record, existed ? 200 : 201, out);
        }
        case 'DELETE': {
          const opts = parsed() as { propagationPolicy?: string } | null;
          const policy = url.searchParams.get('propagationPolicy') ?? opts?.propagationPolicy ?? 'Background';
          return this.send(res, record, 200, this.store.delete(rt, namespace, name, policy));
        }
        default:
          throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
      }
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message);
      this.send(res, record, apiErr.code, apiErr.toStatus());
    }
  }

  private send(res: ServerResponse, record: RequestRecord, status: number, body: unknown): void {
    record.status = status;
    if (this.recordRequests) this.requests.push(record);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private watch(res: ServerResponse, record: RequestRecord, rt: ResourceType, namespace: string | undefined, name: string | undefined, url: URL): void {
    let selector: ReturnType<typeof parseSelector>;
    let fields: FieldSelector;
    try {
      selector = parseSelector(url.searchParams.get('labelSelector') ?? undefined);
      fields = parseFieldSelector(url.searchParams.get('fieldSelector'));
    } catch (err) {
      const apiErr = err as ApiError;
      return this.send(res, record, apiErr.code, apiErr.toStatus());
    }
    record.status = 200;
    if (this.recordRequests) this.requests.push(record);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const open: OpenWatch = { res, silenced: this.silent, unsubscribe: () => undefined };
    const subscriber: WatchSubscriber = {
      rid: resourceId(rt),
      namespace,
      selector,
      fields,
      send: (type: WatchEventType, obj: KObject) => {
        if (open.silenced || (name && obj.metadata.name !== name)) return;
        res.write(`${JSON.stringify({ type, object: obj })}\n`);
      },
    };
    try {
      open.unsubscribe = this.store.watch(subscriber, url.searchParams.get('resourceVersion') ?? undefined);
    } catch (err) {
      // A real API server answers an expired resourceVersion with 200 and one ERROR event carrying the Status.
      const apiErr = err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message);
      res.end(`${JSON.stringify({ type: 'ERROR', object: apiErr.toStatus() })}\n`);
      return;
    }
    this.watches.add(open);
    // The server-side timeout ends the watch normally, after a bookmark when the client asked for bookmarks.
    // A silenced watch stands for a dead connection: it never ends by itself.
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const timer = timeoutSeconds > 0
      ? setTimeout(() => {
          if (open.silenced) return;
          if (bookmarks) res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { apiVersion: apiVersionOf(rt), kind: rt.kind, metadata: { resourceVersion: String(this.store.resourceVersion) } } })}\n`);
          res.end();
        }, timeoutSeconds * 1000)
      : undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      open.unsubscribe();
      this.watches.delete(open);
    };
    res.on('close', cleanup);
  }
}

type Route =
  | { kind: 'discovery' }
  | { kind: 'namespace'; name: string }
  | { kind: 'resource'; rt: ResourceType; namespace?: string; name?: string; subresource?: string };

function parseRoute(pathname: string, types: ResourceType[]): Route {
  const seg = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (seg[0] === 'api') {
    if (seg.length <= 2) return { kind: 'discovery' };
    [group, version, rest] = ['', seg[1], seg.slice(2)];
  } else if (seg[0] === 'apis') {
    if (seg.length <= 3) return { kind: 'discovery' };
    [group, version, rest] = [seg[1], seg[2], seg.slice(3)];
  } else {
    throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  } else if (rest[0] === 'namespaces' && rest.length === 2 && group === '') {
    return { kind: 'namespace', name: rest[1] };
  }
  const rt = types.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
  if (!rt) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
  return { kind: 'resource', rt, namespace, name: rest[1], subresource: rest[2] };
}

/** Discovery documents listing the kinds served. */
function discovery(pathname: string, served: ResourceType[]): unknown {
  const seg = pathname.split('/').filter(Boolean);
  if (seg.length === 1 && seg[0] === 'api') return { kind: 'APIVersions', versions: ['v1'] };
  if (seg.length === 1) {
    const groups = [...new Set(served.filter((t) => t.group).map((t) => `${t.group}/${t.version}`))];
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((gv) => ({ name: gv.split('/')[0], versions: [{ groupVersion: gv, version: gv.split('/')[1] }], preferredVersion: { groupVersion: gv, version: gv.split('/')[1] } })) };
  }
  const gv = seg[0] === 'api' ? seg[1] : `${seg[1]}/${seg[2]}`;
  if (!served.some((t) => apiVersionOf(t) === gv)) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
  const resources = served.filter((t) => apiVersionOf(t) === gv).flatMap((t) => [
    { name: t.plural, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
    ...(t.status ? [{ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] }] : []),
    ...(t.scale ? [{ name: `${t.plural}/scale`, singularName: '', namespaced: t.namespaced, kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] }] : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

function namespaceObject(name: string): unknown {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: `namespace-${name}`, resourceVersion: '1' }, status: { phase: 'Active' } };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts a fake API server on a free loopback port. */
export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  return new FakeApiServer(opts).start();
}
