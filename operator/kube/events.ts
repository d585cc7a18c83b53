// Kubernetes Events about a ModelDeployment: what the operator created or changed, and what failed, so
// `kubectl describe mdp` tells the story. Recording never blocks or fails a reconcile. Like client-go's
// recorder, an Event repeated for the same object with the same type, reason and message within ten minutes
// bumps the count and lastTimestamp of the Event already written instead of adding a new one.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../common/logger.js';
import { makeApiClient, type ApiClientOptions } from './api-client.js';
import { describeError } from './informer.js';

export const EVENT_SOURCE = 'modelplane-operator';
/** How long a repeated Event is folded into the one already written (client-go's correlator uses ten minutes). */
export const EVENT_DEDUP_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED = 4096;
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface EventRecorder {
  normal(obj: KubernetesObject, reason: string, message: string): void;
  warning(obj: KubernetesObject, reason: string, message: string): void;
  /** Resolves once every event sent so far is written (or has failed). */
  flush(): Promise<void>;
}

export interface EventRecorderOptions {
  host?: string;
  client?: ApiClientOptions;
  now?: () => number;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: Date;
  lastSeen: number;
  /** The write of this Event in flight; a repeat waits for it so it knows what to patch. */
  written: Promise<boolean>;
}

/** The key client-go's correlator folds repeats by: the object, the type, the reason and the message. */
export function eventKey(obj: KubernetesObject, type: string, reason: string, message: string): string {
  const md = obj.metadata ?? {};
  return [obj.apiVersion, obj.kind, md.namespace ?? '', md.name ?? '', md.uid ?? '', type, reason, message].join('\u0000');
}

export function eventRecorder(kc: KubeConfig, log: Logger, opts: EventRecorderOptions = {}): EventRecorder {
  const events = new FoldingRecorder(makeApiClient(kc, CoreV1Api, opts.client), log, opts.host ?? process.env.HOSTNAME ?? '', opts.now ?? Date.now);
  return {
    normal: (obj, reason, message) => events.record(obj, 'Normal', reason, message),
    warning: (obj, reason, message) => events.record(obj, 'Warning', reason, message),
    flush: () => events.flush(),
  };
}

/** One Event to record. */
interface Occurrence {
  obj: KubernetesObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  at: Date;
}

/** The Event as written first: count 1, from this operator (and its pod, when known). */
function eventBody(ev: Occurrence, name: string, namespace: string, host: string): CoreV1Event {
  const { obj, at } = ev;
  return {
    metadata: { name, namespace },
    involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata?.name, namespace, uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion },
    reason: ev.reason,
    message: ev.message,
    type: ev.type,
    source: { component: EVENT_SOURCE, ...(host ? { host } : {}) },
    reportingComponent: EVENT_SOURCE,
    reportingInstance: host || EVENT_SOURCE,
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}

/** Writes Events in the background, folding a repeat within the window into the Event already written. */
class FoldingRecorder {
  /** Writes not finished yet, for flush. */
  private readonly pending = new Set<Promise<void>>();
  /** The Events written, by eventKey, oldest first; at most MAX_TRACKED of them. */
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly core: CoreV1Api, private readonly log: Logger, private readonly host: string, private readonly now: () => number) {}

  record(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, rawMessage: string): void {
    const message = rawMessage.slice(0, 1024);
    const key = eventKey(obj, type, reason, message);
    const t = this.now();
    const ev: Occurrence = { obj, type, reason, message, at: new Date(t) };
    const prev = this.seen.get(key);
    const written = prev && t - prev.lastSeen <= EVENT_DEDUP_WINDOW_MS ? this.repeat(prev, ev, t) : this.first(key, ev, t);
    const tracked: Promise<void> = written.then(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** A repeat: once the Event is written, its count and lastTimestamp are patched (or it is written afresh when gone). */
  private repeat(prev: Seen, ev: Occurrence, t: number): Promise<boolean> {
    prev.count++;
    prev.lastSeen = t;
    const count = prev.count;
    const before = prev.written;
    prev.written = before.then(async (exists) => {
      if (!exists) return false;
      try {
        await this.core.patchNamespacedEvent({ name: prev.name, namespace: prev.namespace, body: { count, lastTimestamp: ev.at } }, MERGE);
        return true;
      } catch (err) {
        // Gone (expired, deleted): write it afresh.
        if ((err as { code?: number }).code !== 404) throw err;
        const fresh = await this.create(ev);
        Object.assign(prev, fresh, { count: 1, firstTimestamp: ev.at });
        return true;
      }
    }).catch((err: unknown) => {
      this.failed(ev, err);
      return false;
    });
    return prev.written;
  }

  /** A new Event: written, and remembered under its key (forgotten again when the write fails). */
  private first(key: string, ev: Occurrence, t: number): Promise<boolean> {
    const entry: Seen = { name: '', namespace: '', count: 1, firstTimestamp: ev.at, lastSeen: t, written: Promise.resolve(false) };
    entry.written = this.create(ev).then(
      (ref) => {
        Object.assign(entry, ref);
        return true;
      },
      (err: unknown) => {
        if (this.seen.get(key) === entry) this.seen.delete(key);
        this.failed(ev, err);
        return false;
      },
    );
    this.seen.delete(key);
    this.seen.set(key, entry);
    this.forgetBeyondLimit(t);
    return entry.written;
  }

  /** Keeps at most MAX_TRACKED keys: expired ones go first, then the oldest. */
  private forgetBeyondLimit(t: number): void {
    const { seen } = this;
    if (seen.size <= MAX_TRACKED) return;
    for (const [k, v] of seen) {
      if (seen.size <= MAX_TRACKED || t - v.lastSeen <= EVENT_DEDUP_WINDOW_MS) break;
      seen.delete(k);
    }
    if (seen.size > MAX_TRACKED) seen.delete(seen.keys().next().value as string);
  }

  private async create(ev: Occurrence): Promise<{ name: string; namespace: string }> {
    const namespace = ev.obj.metadata?.namespace ?? 'default';
    const name = `${ev.obj.metadata?.name}.${ev.at.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
    await this.core.createNamespacedEvent({ namespace, body: eventBody(ev, name, namespace, this.host) });
    return { name, namespace };
  }

  private failed(ev: Occurrence, err: unknown): void {
    this.log.warn('recording an event failed', { reason: ev.reason, object: `${ev.obj.metadata?.namespace}/${ev.obj.metadata?.name}`, error: describeError(err) });
  }
}
