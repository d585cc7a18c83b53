// The ClusterIP Service in front of the runtime pods: the address in status.url.
import type { V1Service } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { GRPC_PORT, HTTP_PORT, runtimeImageFor } from './deployment.js';
import { labelsFor, selectorLabels } from './labels.js';
import { childMetadata } from './owner.js';
import { SERVICE_GRPC_PORT_NAME, SERVICE_HTTP_PORT_NAME, serviceName, servedName } from '../api/names.js';

export function buildService(md: ModelDeployment, cfg: ResolvedConfig): V1Service & { apiVersion: 'v1'; kind: 'Service' } {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(md, labelsFor(md, runtimeImageFor(md.spec, cfg)), serviceName(md)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(md),
      ports: [
        { name: SERVICE_HTTP_PORT_NAME, port: HTTP_PORT, targetPort: SERVICE_HTTP_PORT_NAME, protocol: 'TCP', appProtocol: 'http' },
        // gRPC is HTTP/2 without TLS: Kubernetes' name for that protocol, which meshes and gateways route as gRPC.
        { name: SERVICE_GRPC_PORT_NAME, port: GRPC_PORT, targetPort: SERVICE_GRPC_PORT_NAME, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    },
  };
}

/** In-cluster URL of the model's Open Inference Protocol endpoint. */
export function serviceUrl(md: ModelDeployment): string {
  const ns = md.metadata.namespace ?? 'default';
  return `http://${serviceName(md)}.${ns}.svc:${HTTP_PORT}/v2/models/${encodeURIComponent(servedName(md))}`;
}
