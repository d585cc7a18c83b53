// client-node's informer, made to keep going: it stops for good on any error but 410 Gone, a restart does not
// re-announce cached objects, and a watch can go silent without an error. This wrapper asks the API server to
// end each watch after a timeout and to send bookmarks, so a quiet watch still shows signs of life and is
// resumed from its last resourceVersion without a re-list; it restarts a fresh informer with exponential
// backoff and jitter after an error, restarts a watch that stayed silent for longer than the server timeout
// plus some slack (a dead connection), and reports objects that vanished while it was down, so handlers see
// every add, update and delete. Cached objects are kept without managedFields and the last-applied annotation:
// the controller never reads them and they are most of an object's size.
import { ListWatch, Watch, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { backoffDelay } from './workqueue.js';

export interface InformerOptions {
  /** Server-side timeout of each watch request (timeoutSeconds): the server ends it and it is resumed. */
  watchTimeoutSeconds: number;
  /** A watch silent (no event, no bookmark, no reconnect) for the server timeout plus this long is restarted. */
  watchdogSlackMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_INFORMER_OPTIONS: InformerOptions = { watchTimeoutSeconds: 300, watchdogSlackMs: 60_000, backoffBaseMs: 500, backoffMaxMs: 30_000 };

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Drops what the cache never needs: managedFields and kubectl's copy of the whole object. */
export function slim<T extends KubernetesObject>(obj: T): T {
  const md = obj?.metadata;
  if (!md) return obj;
  delete md.managedFields;
  if (md.annotations && LAST_APPLIED in md.annotations) {
    delete md.annotations[LAST_APPLIED];
    if (Object.keys(md.annotations).length === 0) delete md.annotations;
  }
  return obj;
}

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/** client-node's Watch, asking for bookmarks and a server-side timeout, and reporting every sign of life. */
class BookmarkedWatch {
  private readonly inner: Watch;
  constructor(kc: KubeConfig, private readonly timeoutSeconds: number, private readonly alive: () => void) {
    this.inner = new Watch(kc);
  }

  watch(path: string, queryParams: Record<string, unknown>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController> {
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: Math.max(1, Math.round(this.timeoutSeconds)) };
    return this.inner.watch(path, params, (phase, obj, raw) => {
      this.alive();
      if (phase !== 'BOOKMARK' && phase !== 'ERROR') slim(obj as KubernetesObject);
      callback(phase, obj, raw);
    }, done);
  }
}

type Handler<T> = (obj: T) => void;
type Event = 'add' | 'update' | 'delete';

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class ResilientInformer<T extends KubernetesObject> {
  private readonly handlers: Record<Event, Handler<T>[]> = { add: [], update: [], delete: [] };
  private current?: Informer<T> & ObjectCache<T>;
  /** The cache reads are served from: the last informer that finished a list. */
  private readable?: ObjectCache<T>;
  private generation = 0;
  private failures = 0;
  private lastActivity = Date.now();
  private restartTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private stopped = true;
  private syncedOnce = false;
  private readonly syncWaiters: Array<() => void> = [];
  restarts = 0;

  constructor(
    private readonly kc: KubeConfig,
    readonly name: string,
    private readonly path: string,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    private readonly labelSelector: string | undefined,
    private readonly opts: InformerOptions,
    private readonly log: Logger,
    private readonly onRestart: (reason: string) => void = () => undefined,
  ) {}

  on(event: Event, handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** Starts watching; resolves after the first complete list (or when stopped first). */
  start(): Promise<void> {
    this.stopped = false;
    this.spawn();
    const silentMs = this.silenceLimitMs;
    const tick = Math.max(50, Math.min(silentMs / 4, 30_000));
    this.watchdog = setInterval(() => {
      if (!this.stopped && Date.now() - this.lastActivity > silentMs) {
        this.log.warn('watch silent, restarting it', { informer: this.name, silentMs: Date.now() - this.lastActivity });
        this.restart('silent', 0);
      }
    }, tick);
    return this.waitForSync();
  }

  /** How long a watch may stay silent before it is taken for dead. */
  get silenceLimitMs(): number {
    return this.opts.watchTimeoutSeconds * 1000 + this.opts.watchdogSlackMs;
  }

  waitForSync(): Promise<void> {
    if (this.syncedOnce || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const inf = this.current;
    this.current = undefined;
    for (const w of this.syncWaiters.splice(0)) w();
    if (inf) await inf.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.readable?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.readable?.list(namespace) ?? [];
  }

  private emit(event: Event, obj: T): void {
    for (const h of this.handlers[event]) {
      try {
        h(obj);
      } catch (err) {
        this.log.error('informer handler failed', { informer: this.name, error: (err as Error).message });
      }
    }
  }

  private spawn(): void {
    const gen = ++this.generation;
    const live = () => gen === this.generation && !this.stopped;
    this.lastActivity = Date.now();
    const watch = new BookmarkedWatch(this.kc, this.opts.watchTimeoutSeconds, () => {
      if (live()) this.lastActivity = Date.now();
    });
    const inf: Informer<T> & ObjectCache<T> = new ListWatch<T>(this.path, watch as unknown as Watch, async () => {
      const list = await this.listFn();
      for (const item of list.items ?? []) slim(item);
      if (live()) this.lastActivity = Date.now();
      // The informer fills its cache right after this promise settles; the next macrotask sees it complete.
      setImmediate(() => {
        if (live()) this.listed(inf);
      });
      return list;
    }, false, this.labelSelector);
    this.current = inf;
    const forward = (event: Event) => (obj: T) => {
      if (!live()) return;
      this.lastActivity = Date.now();
      if (this.readable === inf) this.emit(event, obj);
    };
    inf.on('add', forward('add'));
    inf.on('update', forward('update'));
    inf.on('delete', forward('delete'));
    inf.on('connect', () => {
      if (live()) this.lastActivity = Date.now();
    });
    inf.on('error', (err: unknown) => {
      if (!live()) return;
      this.failures++;
      const delay = backoffDelay(this.failures - 1, this.opts.backoffBaseMs, this.opts.backoffMaxMs, 0.5);
      const fields = { informer: this.name, error: describeError(err), retryInMs: delay, failures: this.failures };
      // A refused watch (403) will not heal by retrying: the role lacks `watch` on this resource.
      if (errorCode(err) === 403) this.log.error('informer refused by the API server: the operator\'s role does not grant list and watch here', fields);
      else this.log.warn('informer failed, restarting after backoff', fields);
      this.restart('error', delay);
    });
    inf.start().catch((err: unknown) => {
      if (live()) this.restart(`start failed: ${describeError(err)}`, backoffDelay(this.failures++, this.opts.backoffBaseMs, this.opts.backoffMaxMs, 0.5));
    });
  }

  /** A fresh informer finished its list: announce what disappeared meanwhile, then serve reads from it. */
  private listed(inf: Informer<T> & ObjectCache<T>): void {
    this.failures = 0;
    const previous = this.readable;
    this.readable = inf;
    if (previous && previous !== inf) {
      const now = new Set(inf.list().map(keyOf));
      for (const obj of previous.list()) if (!now.has(keyOf(obj))) this.emit('delete', obj);
      // Objects the fresh list found were announced as adds while the old cache still served reads.
      for (const obj of inf.list()) this.emit('update', obj);
    } else {
      for (const obj of inf.list()) this.emit('add', obj);
    }
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private restart(reason: string, delayMs: number): void {
    this.generation++;
    this.restarts++;
    this.onRestart(reason);
    const old = this.current;
    this.current = undefined;
    void old?.stop();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) this.spawn();
    }, delayMs);
  }
}

/** The HTTP status (or error code) an API error carries. */
export function errorCode(err: unknown): unknown {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  return e.code ?? e.statusCode;
}

export function describeError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown };
    const code = errorCode(err);
    return `${code !== undefined ? `${String(code)} ` : ''}${String(e.message ?? err)}`.slice(0, 500);
  }
  return String(err);
}
