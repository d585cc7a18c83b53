// The ClusterIP Service in front of the runtime pods: the address in status.url.
import type { V1Service } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/schema.js';
import type { ResolvedConfig } from './config.js';
import { GRPC_PORT, HTTP_PORT, runtimeImageFor } from './deployment.js';
import { labelsFor, selectorLabels } from './labels.js';
import { childMetadata } from './owner.js';

export function buildService(md: ModelDeployment, cfg: ResolvedConfig): V1Service & { apiVersion: 'v1'; kind: 'Service' } {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(md, labelsFor(md, runtimeImageFor(md.spec, cfg))),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(md),
      ports: [
        { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        // gRPC is HTTP/2 without TLS: Kubernetes' name for that protocol, which meshes and gateways route as gRPC.
        { name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    },
  };
}

/** In-cluster URL of the model's Open Inference Protocol endpoint. */
export function serviceUrl(md: ModelDeployment): string {
  const name = md.metadata.name!;
  const ns = md.metadata.namespace ?? 'default';
  return `http://${name}.${ns}.svc:${HTTP_PORT}/v2/models/${encodeURIComponent(md.spec.model.servedName ?? name)}`;
}
