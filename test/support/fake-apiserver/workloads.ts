// What a cluster's Deployment controller, scheduler and kubelet would write, for tests to set on purpose:
// Deployment status and Pods in given states (unschedulable, image pull failures, crash loops, ready).
import { isoSeconds } from '../../../common/time.js';
import type { FakeApiServer } from './server.js';
import { findResource } from './resources.js';
import type { Json, JsonObject } from './fields.js';
import { createHash } from 'node:crypto';
import { ApiError, type KObject } from './store.js';

const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const PODS = findResource('', 'v1', 'pods')!;
const MANAGER = 'kube-controller-manager';

const now = () => isoSeconds(Date.now());

export interface RolloutState {
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
}

/** Sets a Deployment's status as the Deployment controller would after observing its current generation. */
export function setDeploymentStatus(server: FakeApiServer, namespace: string, name: string, state: RolloutState = {}): KObject {
  const d = server.store.mustGet(DEPLOYMENTS, namespace, name);
  const want = ((d.spec as JsonObject)?.replicas as number | undefined) ?? 1;
  const replicas = state.replicas ?? want;
  const ready = state.readyReplicas ?? replicas;
  const available = state.availableReplicas ?? ready;
  const status: JsonObject = {
    observedGeneration: d.metadata.generation as number,
    replicas, updatedReplicas: state.updatedReplicas ?? replicas, readyReplicas: ready, availableReplicas: available,
    ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
    conditions: [
      { type: 'Available', status: available >= want ? 'True' : 'False', reason: available >= want ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: '', lastUpdateTime: now(), lastTransitionTime: now() },
      { type: 'Progressing', status: 'True', reason: ready >= want ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: '', lastUpdateTime: now(), lastTransitionTime: now() },
    ],
  };
  return server.store.patch(DEPLOYMENTS, namespace, name, { status } as Json, 'application/merge-patch+json', { subresource: 'status', manager: MANAGER });
}

export type PodState =
  | { phase: 'Running'; ready: boolean }
  | { phase: 'Unschedulable'; message: string }
  | { phase: 'ImagePullBackOff'; container?: string; message?: string }
  | { phase: 'CrashLoopBackOff'; container?: string; exitCode?: number; message?: string }
  | { phase: 'InitFailed'; container?: string; exitCode?: number; message?: string };

/** A Pod status as the scheduler and kubelet report the given state. */
export function podStatus(state: PodState, containers: { init: string[]; main: string[] }): JsonObject {
  const t = now();
  const waiting = (name: string, reason: string, message = '') => ({ name, ready: false, restartCount: 0, image: 'img', imageID: '', started: false, state: { waiting: { reason, message } } });
  const running = (name: string, ready: boolean) => ({ name, ready, restartCount: 0, image: 'img', imageID: '', started: true, state: { running: { startedAt: t } } });
  const initDone = (name: string) => ({ name, ready: true, restartCount: 0, image: 'img', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: t, finishedAt: t } } });
  switch (state.phase) {
    case 'Unschedulable':
      return { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: state.message, lastTransitionTime: t }] };
    case 'Running':
      return {
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
          { type: 'Ready', status: state.ready ? 'True' : 'False', lastTransitionTime: t },
        ],
        initContainerStatuses: containers.init.map(initDone),
        containerStatuses: containers.main.map((c) => running(c, state.ready)),
      };
    case 'ImagePullBackOff': {
      const target = state.container ?? containers.main[0];
      const msg = state.message ?? `Back-off pulling image "img"`;
      return {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: t }],
        initContainerStatuses: containers.init.map((c) => (c === target ? waiting(c, 'ImagePullBackOff', msg) : initDone(c))),
        containerStatuses: containers.main.map((c) => (c === target ? waiting(c, 'ImagePullBackOff', msg) : waiting(c, 'PodInitializing'))),
      };
    }
    case 'CrashLoopBackOff': {
      const target = state.container ?? containers.main[0];
      return {
        phase: 'Running',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: t }, { type: 'Ready', status: 'False', lastTransitionTime: t }],
        initContainerStatuses: containers.init.map(initDone),
        containerStatuses: containers.main.map((c) => c !== target ? running(c, false) : {
          ...waiting(c, 'CrashLoopBackOff', `back-off 40s restarting failed container=${c}`),
          restartCount: 3,
          lastState: { terminated: { exitCode: state.exitCode ?? 1, reason: 'Error', ...(state.message ? { message: state.message } : {}), startedAt: t, finishedAt: t } },
        }),
      };
    }
    case 'InitFailed': {
      const target = state.container ?? containers.init[0];
      return {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: t }],
        initContainerStatuses: containers.init.map((c) => c !== target ? initDone(c) : {
          ...waiting(c, 'CrashLoopBackOff', `back-off 20s restarting failed container=${c}`),
          restartCount: 2,
          lastState: { terminated: { exitCode: state.exitCode ?? 1, reason: 'Error', ...(state.message ? { message: state.message } : {}), startedAt: t, finishedAt: t } },
        }),
        containerStatuses: containers.main.map((c) => waiting(c, 'PodInitializing')),
      };
    }
  }
}

export interface PodNetwork {
  /** status.podIP, as the kubelet reports it. */
  podIP?: string;
  /** Container ports to set by name (e.g. { http: 41234 }), where the template names them. */
  ports?: Record<string, number>;
}

/** Creates (or replaces) a Pod of a Deployment, labelled from its template, in the given state. */
export function putDeploymentPod(server: FakeApiServer, namespace: string, deploymentName: string, podName: string, state: PodState, network: PodNetwork = {}): KObject {
  const d = server.store.mustGet(DEPLOYMENTS, namespace, deploymentName) as JsonObject;
  const template = ((d.spec as JsonObject).template ?? {}) as JsonObject;
  const tmd = (template.metadata ?? {}) as JsonObject;
  const tspec = (template.spec ?? {}) as JsonObject;
  const names = (list: unknown) => ((list as Array<{ name: string }> | undefined) ?? []).map((c) => c.name);
  const containers = { init: names(tspec.initContainers), main: names(tspec.containers) };
  const spec = JSON.parse(JSON.stringify(tspec)) as JsonObject;
  for (const c of (spec.containers as Array<{ ports?: Array<{ name?: string; containerPort: number }> }> | undefined) ?? []) {
    for (const p of c.ports ?? []) if (p.name && network.ports?.[p.name] !== undefined) p.containerPort = network.ports[p.name];
  }
  if (server.store.get(PODS, namespace, podName)) server.store.delete(PODS, namespace, podName);
  try {
    // As the ReplicaSet controller names them: the ReplicaSet's name (Deployment and template hash), then a suffix.
    const generateName = `${deploymentName}-${createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 9)}-`;
    server.store.create(PODS, namespace, { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, generateName, labels: tmd.labels ?? {} }, spec } as Json, { manager: MANAGER });
  } catch (err) {
    if (err instanceof ApiError && err.code === 403) setReplicaFailure(server, namespace, deploymentName, err.message);
    throw err;
  }
  const status = { ...podStatus(state, containers), ...(network.podIP ? { podIP: network.podIP, podIPs: [{ ip: network.podIP }] } : {}) };
  return server.store.patch(PODS, namespace, podName, { status } as Json, 'application/merge-patch+json', { subresource: 'status', manager: 'kubelet' });
}

/**
 * What the ReplicaSet and Deployment controllers write when the API server refuses a pod at admission (a missing
 * RuntimeClass, a ResourceQuota): a ReplicaFailure condition, reason FailedCreate, with the server's message.
 */
export function setReplicaFailure(server: FakeApiServer, namespace: string, name: string, message: string): KObject {
  const d = server.store.mustGet(DEPLOYMENTS, namespace, name);
  const conditions = (((d.status as JsonObject | undefined)?.conditions as JsonObject[] | undefined) ?? []).filter((c) => c.type !== 'ReplicaFailure');
  conditions.push({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message, lastUpdateTime: now(), lastTransitionTime: now() });
  const status: JsonObject = { observedGeneration: d.metadata.generation as number, ...((d.status as JsonObject | undefined) ?? {}), conditions };
  return server.store.patch(DEPLOYMENTS, namespace, name, { status } as Json, 'application/merge-patch+json', { subresource: 'status', manager: MANAGER });
}
