// Kubernetes Events about a ModelDeployment: what the operator created or changed, and what failed, so
// `kubectl describe mdp` tells the story. Recording never blocks or fails a reconcile.
import { CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../common/logger.js';
import { describeError } from './informer.js';

export const EVENT_SOURCE = 'modelplane-operator';

export interface EventRecorder {
  normal(obj: KubernetesObject, reason: string, message: string): void;
  warning(obj: KubernetesObject, reason: string, message: string): void;
  /** Resolves once every event sent so far is written (or has failed). */
  flush(): Promise<void>;
}

export function eventRecorder(kc: KubeConfig, log: Logger, host = process.env.HOSTNAME ?? ''): EventRecorder {
  const core = kc.makeApiClient(CoreV1Api);
  const pending = new Set<Promise<void>>();
  const record = (obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string) => {
    const namespace = obj.metadata?.namespace ?? 'default';
    const now = new Date();
    const p: Promise<void> = core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${obj.metadata?.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
          involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata?.name, namespace, uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion },
          reason,
          message: message.slice(0, 1024),
          type,
          source: { component: EVENT_SOURCE, ...(host ? { host } : {}) },
          reportingComponent: EVENT_SOURCE,
          reportingInstance: host || EVENT_SOURCE,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .then(
        () => undefined,
        (err: unknown) => {
          log.warn('recording an event failed', { reason, object: `${namespace}/${obj.metadata?.name}`, error: describeError(err) });
        },
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  return {
    normal: (obj, reason, message) => record(obj, 'Normal', reason, message),
    warning: (obj, reason, message) => record(obj, 'Warning', reason, message),
    flush: async () => {
      await Promise.all([...pending]);
    },
  };
}
