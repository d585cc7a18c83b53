// The operator's status computation fed with what local mode observes: replica processes stand in for pods
// (a crashed runtime waiting to restart reads as CrashLoopBackOff, its termination message as the container's),
// a failed model fetch stands in for the fetch init container.
import type { V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { isoSeconds } from '../common/time.js';
import type { ModelDeploymentStatus } from '../operator/api/schema.js';
import { computeStatus } from '../operator/controller/status.js';
import { FETCH_CONTAINER, OPTIMIZE_CONTAINER, RUNTIME_CONTAINER } from '../operator/resources/deployment.js';
import type { ReplicaPhase, Termination } from './replica.js';

export interface ReplicaObservation {
  id: string;
  phase: ReplicaPhase;
  current: boolean;
  restarts: number;
  lastTermination?: Termination;
  /** The runtime's message when its warm-up on generated inputs failed. */
  warmupFailure?: string;
  createdAt: Date;
}

export interface LocalObservation {
  name: string;
  /** status.selector, as the operator serializes it. */
  selector: string;
  generation: number;
  desiredReplicas: number;
  replicas: ReplicaObservation[];
  /** The model could not be fetched or verified. */
  fetchFailure?: string;
  /** The optimise step's termination message (spec.optimization), as the operator reads it from the init container. */
  optimizationMessage?: string;
  /** Whether the spec asks for optimisation; false drops status.optimization. */
  optimizationRequested?: boolean;
  /** The model is still being fetched. */
  fetching?: boolean;
  url?: string;
  previous?: ModelDeploymentStatus;
  now: Date;
}

// The client's types say Date; the API server (and so the operator's status code) holds the string.
const iso = (d: Date) => isoSeconds(d) as unknown as Date;

export function podFor(r: ReplicaObservation): V1Pod {
  const terminated = r.lastTermination
    ? { terminated: { exitCode: r.lastTermination.exitCode, ...(r.lastTermination.signal ? { signal: 0, reason: r.lastTermination.signal } : { reason: 'Error' }), ...(r.lastTermination.message ? { message: r.lastTermination.message } : {}), finishedAt: iso(r.lastTermination.finishedAt) } }
    : undefined;
  const state: V1ContainerStatus['state'] = r.phase === 'backoff'
    ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${RUNTIME_CONTAINER}` } }
    : { running: { startedAt: iso(r.createdAt) } };
  const status: V1ContainerStatus = {
    name: RUNTIME_CONTAINER,
    image: 'modelplane-local',
    imageID: '',
    ready: r.phase === 'ready',
    restartCount: r.restarts,
    started: r.phase === 'ready' || r.phase === 'starting',
    state,
    ...(terminated ? { lastState: terminated } : {}),
  };
  return {
    metadata: { name: r.id, ...(r.phase === 'draining' || r.phase === 'stopped' ? { deletionTimestamp: iso(new Date()) } : {}) },
    status: { phase: 'Running', containerStatuses: [status] },
  };
}

/** The status the operator would write for a Deployment and pods in the same states. */
export function localStatus(o: LocalObservation): ModelDeploymentStatus {
  const live = o.replicas.filter((r) => r.phase !== 'draining' && r.phase !== 'stopped');
  const ready = live.filter((r) => r.phase === 'ready').length;
  const pods = live.map(podFor);
  if (o.fetchFailure) {
    pods.push({
      metadata: { name: `${o.name}-model` },
      status: { phase: 'Pending', initContainerStatuses: [{ name: FETCH_CONTAINER, image: 'modelplane-local', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, message: o.fetchFailure } } }] },
    });
  }
  if (o.optimizationMessage !== undefined) {
    pods.push({
      metadata: { name: `${o.name}-optimize` },
      status: { phase: 'Succeeded', initContainerStatuses: [{ name: OPTIMIZE_CONTAINER, image: 'modelplane-local', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, message: o.optimizationMessage } } }] },
    });
  }
  const deployment: V1Deployment | undefined = o.fetching && !o.replicas.length
    ? undefined
    : {
        metadata: { name: o.name, generation: o.generation },
        status: {
          observedGeneration: o.generation,
          replicas: live.length,
          readyReplicas: ready,
          availableReplicas: ready,
          updatedReplicas: live.filter((r) => r.current).length,
        },
      };
  return computeStatus({
    generation: o.generation,
    desiredReplicas: o.desiredReplicas,
    deployment,
    pods,
    selector: o.selector,
    warmupFailures: live.filter((r) => r.phase === 'ready' && r.warmupFailure).map((r) => ({ pod: r.id, message: r.warmupFailure! })),
    ...(o.url ? { url: o.url } : {}),
    ...(o.previous ? { previous: o.previous } : {}),
    ...(o.optimizationRequested !== undefined ? { optimizationRequested: o.optimizationRequested } : {}),
    now: o.now,
  });
}
