// Names a ModelDeployment gives what it serves, read alike by the operator (Deployment flags, Service, status.url),
// the gateway (which model a request asks for, which EndpointSlices hold its pods) and local mode.
import type { ModelDeployment } from './schema.js';

/** The model name clients ask for (/v2/models/{name}, OpenAI's `model`): spec.model.servedName, else metadata.name. */
export function servedName(md: Pick<ModelDeployment, 'metadata'> & { spec: { model: { servedName?: string } } }): string {
  return md.spec.model.servedName ?? md.metadata.name!;
}

/** The name of the Service in front of a ModelDeployment's pods (its EndpointSlices carry it in kubernetes.io/service-name). */
export function serviceName(md: Pick<ModelDeployment, 'metadata'>): string {
  return md.metadata.name!;
}

/** Names of the Service's ports (and of the runtime container's ports they target). */
export const SERVICE_HTTP_PORT_NAME = 'http';
export const SERVICE_GRPC_PORT_NAME = 'grpc';
