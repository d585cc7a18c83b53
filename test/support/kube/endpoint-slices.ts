// What kube-controller-manager's EndpointSlice controller writes for a Service, as a pure function for the fake API
// server's stand-in: one IPv4 slice labelled with the Service's name and managed-by the controller, an endpoint per
// selected pod that has an IP (ready and serving from the pod's Ready condition, terminating from its deletion), and
// the Service's ports by name with each targetPort resolved against the pod's container ports.
//
// One deliberate difference: a real API server refuses loopback addresses (127.0.0.0/8) in an EndpointSlice, so the
// real controller publishes no endpoint for the node simulator's usual loopback pod IPs. This stand-in writes them, so
// that the gateway's tests run real runtime processes in CI without the root needed to add other addresses; the
// real-cluster suite gives its pods addresses outside 127.0.0.0/8 (NodeSimulator's routablePodIPs).
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';

export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Whether a pod's labels hold every key and value of a Service's selector. */
export function selects(service: V1Service, pod: V1Pod): boolean {
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => pod.metadata?.labels?.[k] === v);
}

function containerPort(pod: V1Pod, target: number | string | undefined): number | undefined {
  if (typeof target === 'number') return target;
  for (const c of pod.spec?.containers ?? []) {
    const p = c.ports?.find((x) => x.name === target);
    if (p) return p.containerPort;
  }
  return undefined;
}

/** The slice's body (without name and resourceVersion) for a Service and the pods in its namespace. */
export function endpointSliceFor(service: V1Service, pods: readonly V1Pod[]): Omit<V1EndpointSlice, 'metadata'> & { metadata: NonNullable<V1EndpointSlice['metadata']> } {
  const selected = pods.filter((p) => selects(service, p) && p.status?.podIP);
  const sample = selected[0];
  const ports = (service.spec?.ports ?? []).flatMap((sp) => {
    const port = sample ? containerPort(sample, sp.targetPort as number | string | undefined ?? sp.port) : undefined;
    return port === undefined ? [] : [{ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) }];
  });
  const endpoints = selected.map((p) => {
    const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const terminating = !!p.metadata?.deletionTimestamp;
    return {
      addresses: [p.status!.podIP!],
      conditions: { ready: ready && !terminating, serving: ready, terminating },
      ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', name: p.metadata!.name!, namespace: p.metadata!.namespace!, uid: p.metadata!.uid! },
    };
  });
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: service.metadata!.namespace!,
      generateName: `${service.metadata!.name}-`,
      labels: { [SERVICE_NAME_LABEL]: service.metadata!.name!, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service.metadata!.name!, uid: service.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
    },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}
