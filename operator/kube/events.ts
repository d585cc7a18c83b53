// Kubernetes Events about a ModelDeployment: what the operator created or changed, and what failed, so
// `kubectl describe mdp` tells the story. Recording never blocks or fails a reconcile. Like client-go's
// recorder, an Event repeated for the same object with the same type, reason and message within ten minutes
// bumps the count and lastTimestamp of the Event already written instead of adding a new one.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
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
  const host = opts.host ?? process.env.HOSTNAME ?? '';
  const now = opts.now ?? Date.now;
  const core = makeApiClient(kc, CoreV1Api, opts.client);
  const pending = new Set<Promise<void>>();
  const seen = new Map<string, Seen>();

  const create = async (obj: KubernetesObject, type: string, reason: string, message: string, at: Date): Promise<{ name: string; namespace: string }> => {
    const namespace = obj.metadata?.namespace ?? 'default';
    const name = `${obj.metadata?.name}.${at.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
    await core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata?.name, namespace, uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion },
        reason,
        message,
        type,
        source: { component: EVENT_SOURCE, ...(host ? { host } : {}) },
        reportingComponent: EVENT_SOURCE,
        reportingInstance: host || EVENT_SOURCE,
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      },
    });
    return { name, namespace };
  };

  const record = (obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, rawMessage: string) => {
    const message = rawMessage.slice(0, 1024);
    const key = eventKey(obj, type, reason, message);
    const t = now();
    const at = new Date(t);
    const prev = seen.get(key);
    const fail = (err: unknown) => log.warn('recording an event failed', { reason, object: `${obj.metadata?.namespace}/${obj.metadata?.name}`, error: describeError(err) });
    let p: Promise<void>;
    if (prev && t - prev.lastSeen <= EVENT_DEDUP_WINDOW_MS) {
      prev.count++;
      prev.lastSeen = t;
      const count = prev.count;
      const before = prev.written;
      prev.written = before.then(async (exists) => {
        if (!exists) return false;
        try {
          await core.patchNamespacedEvent({ name: prev.name, namespace: prev.namespace, body: { count, lastTimestamp: at } }, MERGE);
          return true;
        } catch (err) {
          // Gone (expired, deleted): write it afresh.
          if ((err as { code?: number }).code !== 404) throw err;
          const fresh = await create(obj, type, reason, message, at);
          Object.assign(prev, fresh, { count: 1, firstTimestamp: at });
          return true;
        }
      }).catch((err: unknown) => {
        fail(err);
        return false;
      });
      p = prev.written.then(() => undefined);
    } else {
      const entry: Seen = { name: '', namespace: '', count: 1, firstTimestamp: at, lastSeen: t, written: Promise.resolve(false) };
      entry.written = create(obj, type, reason, message, at).then(
        (ref) => {
          Object.assign(entry, ref);
          return true;
        },
        (err: unknown) => {
          if (seen.get(key) === entry) seen.delete(key);
          fail(err);
          return false;
        },
      );
      seen.delete(key);
      seen.set(key, entry);
      if (seen.size > MAX_TRACKED) {
        for (const [k, v] of seen) {
          if (seen.size <= MAX_TRACKED || t - v.lastSeen <= EVENT_DEDUP_WINDOW_MS) break;
          seen.delete(k);
        }
        if (seen.size > MAX_TRACKED) seen.delete(seen.keys().next().value as string);
      }
      p = entry.written.then(() => undefined);
    }
    const tracked: Promise<void> = p.finally(() => pending.delete(tracked));
    pending.add(tracked);
  };
  return {
    normal: (obj, reason, message) => record(obj, 'Normal', reason, message),
    warning: (obj, reason, message) => record(obj, 'Warning', reason, message),
    flush: async () => {
      await Promise.all([...pending]);
    },
  };
}
