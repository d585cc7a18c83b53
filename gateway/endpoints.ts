// What the cluster says about a ModelDeployment, read for the gateway without I/O: the ready replicas in its
// Service's EndpointSlices, its Ready condition, and which deployment owns a model name that two of them serve.
import type { KubernetesObject } from '@kubernetes/client-node';
import { SERVICE_GRPC_PORT_NAME, SERVICE_HTTP_PORT_NAME } from '../operator/api/names.js';
import type { ReadyCondition } from './directory.js';

/** The label the EndpointSlice controller puts on every slice it writes for a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The parts of a discovery.k8s.io/v1 EndpointSlice the gateway reads. */
export interface EndpointSlice extends KubernetesObject {
  addressType?: string;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }> | null;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string | null }> | null;
}

/** One ready replica's address, as the slices give it. */
export interface EndpointAddress {
  /** The pod's name (targetRef), else its address. */
  id: string;
  host: string;
  port: number;
  grpcPort?: number;
}

/**
 * The ready replicas of one Service's slices: endpoints whose ready condition is not false (an unset one means ready,
 * as the API documents) and that are not terminating, on the slice's `http` port (and `grpc` when it has one). A slice
 * without the http port (the Service is being changed) contributes nothing; an address in two slices (while the
 * controller moves endpoints between them) counts once. Sorted by id, so equal inputs give equal lists.
 */
export function readyEndpoints(slices: readonly EndpointSlice[]): EndpointAddress[] {
  const out = new Map<string, EndpointAddress>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const port = portNamed(slice, SERVICE_HTTP_PORT_NAME);
    if (port === undefined) continue;
    const grpcPort = portNamed(slice, SERVICE_GRPC_PORT_NAME);
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
      const host = e.addresses?.[0];
      if (!host) continue;
      const key = `${host}:${port}`;
      if (!out.has(key)) out.set(key, { id: e.targetRef?.name ?? host, host, port, ...(grpcPort !== undefined ? { grpcPort } : {}) });
    }
  }
  return [...out.values()].sort((a, b) => a.id.localeCompare(b.id) || a.host.localeCompare(b.host));
}

function portNamed(slice: EndpointSlice, name: string): number | undefined {
  const p = slice.ports?.find((x) => x.name === name);
  return typeof p?.port === 'number' && p.port > 0 ? p.port : undefined;
}

/** The Ready condition of a ModelDeployment's status, or undefined before the operator wrote one. */
export function readyConditionOf(md: { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }): ReadyCondition | undefined {
  const c = md.status?.conditions?.find((x) => x.type === 'Ready');
  return c ? { status: c.status, reason: c.reason ?? '', message: c.message ?? '' } : undefined;
}

/** A deployment that serves a model name another one already owns: the gateway does not route to it. */
export interface ShadowedModel {
  model: string;
  namespace: string;
  name: string;
  /** `namespace/name` of the deployment that owns the name. */
  ownedBy: string;
}

export interface Claim {
  model: string;
  namespace: string;
  name: string;
  /** metadata.creationTimestamp (RFC 3339). */
  created: string;
}

/**
 * Who owns each model name: the deployment created first (ties broken by namespace, then name, so every gateway
 * replica decides alike); the later ones are shadowed until the owner goes away. Model names are one flat space for
 * clients (/v2/models/{model}), so two namespaces serving one name cannot both be reached by it.
 */
export function assignModels(claims: readonly Claim[]): { owners: Map<string, Claim>; shadowed: ShadowedModel[] } {
  const ordered = [...claims].sort((a, b) => a.created.localeCompare(b.created) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const owners = new Map<string, Claim>();
  const shadowed: ShadowedModel[] = [];
  for (const c of ordered) {
    const owner = owners.get(c.model);
    if (owner) shadowed.push({ model: c.model, namespace: c.namespace, name: c.name, ownedBy: `${owner.namespace}/${owner.name}` });
    else owners.set(c.model, c);
  }
  return { owners, shadowed };
}
