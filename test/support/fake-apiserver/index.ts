export { FakeApiServer, startFakeApiServer, type FakeApiServerOptions, type RequestRecord } from './server.js';
export { ApiError, ObjectStore, type KObject } from './store.js';
export { RESOURCE_TYPES, findResource, resourceForKind, type ResourceType } from './resources.js';
export { parseLabelSelector, matchesSelector } from './selectors.js';
export { setDeploymentStatus, setReplicaFailure, putDeploymentPod, podStatus, type PodNetwork, type PodState, type RolloutState } from './workloads.js';
