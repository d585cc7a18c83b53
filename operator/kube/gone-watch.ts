// Watches single objects until they are deleted. An object in the way of a child (a user's Deployment of the same
// name) carries none of the operator's labels, so no informer sees it go; a watch on that one name, from the
// version the operator read, tells the moment it is deleted, and the ModelDeployment is looked at again at once
// instead of at its next periodic retry.
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { describeError } from './informer.js';

/** One object, by kind and name. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** The version last read, where one was. */
  resourceVersion?: string;
}

/** Where each kind a ModelDeployment owns is served. */
const COLLECTIONS: Record<string, string> = {
  'apps/v1/Deployment': '/apis/apps/v1/namespaces/{ns}/deployments',
  'v1/Service': '/api/v1/namespaces/{ns}/services',
  'policy/v1/PodDisruptionBudget': '/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets',
};

export interface GoneWatchOptions {
  /** Server-side timeout of one watch request; it is renewed while the object stands. */
  watchTimeoutSeconds: number;
  /** Longest an object is watched; the caller's periodic retry covers the rest. */
  maxWatchMs: number;
  /** Pause before a failed watch is tried again. */
  retryMs: number;
}

export const DEFAULT_GONE_WATCH_OPTIONS: GoneWatchOptions = { watchTimeoutSeconds: 300, maxWatchMs: 30 * 60_000, retryMs: 5_000 };

interface Watched {
  callbacks: Set<() => void>;
  /** Where the watch resumes: the version read, then the last one seen, so a deletion in between is not missed. */
  resourceVersion?: string;
  until: number;
  controller?: AbortController;
  timer?: NodeJS.Timeout;
}

export class GoneWatcher {
  private readonly watched = new Map<string, Watched>();
  private readonly watch: Watch;
  private stopped = false;

  constructor(kc: KubeConfig, private readonly log: Logger, private readonly opts: GoneWatchOptions = DEFAULT_GONE_WATCH_OPTIONS) {
    this.watch = new Watch(kc);
  }

  /**
   * Calls `onGone` once when the object is deleted after `ref.resourceVersion` (the version the caller read), or when
   * that can no longer be told; one watch per object however many ask.
   */
  untilGone(ref: ObjectRef, onGone: () => void): void {
    const collection = COLLECTIONS[`${ref.apiVersion}/${ref.kind}`];
    if (!collection || this.stopped) return;
    const id = `${ref.apiVersion}/${ref.kind}/${ref.namespace}/${ref.name}`;
    const existing = this.watched.get(id);
    if (existing) {
      existing.callbacks.add(onGone);
      return;
    }
    const entry: Watched = { callbacks: new Set([onGone]), until: Date.now() + this.opts.maxWatchMs, resourceVersion: ref.resourceVersion };
    this.watched.set(id, entry);
    void this.open(id, entry, collection.replace('{ns}', encodeURIComponent(ref.namespace)), ref.name);
  }

  /** Objects being watched now. */
  get size(): number {
    return this.watched.size;
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.watched.values()) this.close(entry);
    this.watched.clear();
  }

  private async open(id: string, entry: Watched, path: string, name: string): Promise<void> {
    const gone = () => {
      if (this.watched.get(id) !== entry) return;
      this.watched.delete(id);
      this.close(entry);
      for (const cb of entry.callbacks) cb();
    };
    const again = (err: unknown) => {
      if (this.stopped || this.watched.get(id) !== entry) return;
      if (Date.now() >= entry.until) {
        this.watched.delete(id);
        return;
      }
      if (err) this.log.debug('watch on an object in the way failed, retrying', { object: id, error: describeError(err) });
      entry.timer = setTimeout(() => void this.open(id, entry, path, name), err ? this.opts.retryMs : 0);
    };
    try {
      entry.controller = await this.watch.watch(
        path,
        { fieldSelector: `metadata.name=${name}`, resourceVersion: entry.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds },
        (phase, obj) => {
          const o = obj as KubernetesObject | undefined;
          // An ERROR (the version expired: 410 Gone) leaves no way to know what happened since: let the caller look.
          if (phase === 'ERROR' || (phase === 'DELETED' && o?.metadata?.name === name)) return gone();
          if (o?.metadata?.resourceVersion) entry.resourceVersion = o.metadata.resourceVersion;
        },
        again,
      );
    } catch (err) {
      again(err ?? new Error('watch failed'));
    }
  }

  private close(entry: Watched): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.controller?.abort();
  }
}
