// Stand-ins for kube-controller-manager and the scheduler on the in-repo fake API server, so the operator's objects
// come alive there as in a cluster: Deployments get pods (their template, bound round-robin to the given nodes, for
// the node simulator to run), Deployment status follows the pods' readiness, and each Service gets the EndpointSlice
// the EndpointSlice controller would write (endpoint-slices.ts). Rollouts of a changed template are not simulated:
// pods are only added and removed to match spec.replicas.
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { setDeploymentStatus, type FakeApiServer, type KObject } from '../fake-apiserver/index.js';
import { findResource } from '../fake-apiserver/resources.js';
import { parseLabelSelector } from '../fake-apiserver/selectors.js';
import type { Json } from '../fake-apiserver/fields.js';
import { endpointSliceFor, SERVICE_NAME_LABEL } from './endpoint-slices.js';

const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const PODS = findResource('', 'v1', 'pods')!;
const SERVICES = findResource('', 'v1', 'services')!;
const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
const MANAGER = 'kube-controller-manager';

export class FakeControllers {
  private readonly unsubscribe: Array<() => void> = [];
  private pending?: NodeJS.Timeout;
  private turn = 0;

  constructor(private readonly server: FakeApiServer, private readonly nodes: readonly string[]) {}

  start(): this {
    for (const rt of [DEPLOYMENTS, PODS, SERVICES]) {
      this.unsubscribe.push(this.server.store.watch({ rid: rt.group ? `${rt.plural}.${rt.group}` : rt.plural, selector: parseLabelSelector(undefined), send: () => this.schedule() }, undefined));
    }
    this.schedule();
    return this;
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.pending) clearTimeout(this.pending);
  }

  /** Changes come in bursts: one pass over everything after each burst. */
  private schedule(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.sync();
    }, 5);
  }

  private sync(): void {
    for (const d of this.server.store.list(DEPLOYMENTS).items) this.syncDeployment(d);
    for (const s of this.server.store.list(SERVICES).items) this.syncService(s as unknown as V1Service);
  }

  private podsOf(d: KObject): KObject[] {
    const match = ((d.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels) ?? {};
    return this.server.store.list(PODS, d.metadata.namespace as string).items
      .filter((p) => Object.entries(match).every(([k, v]) => (p.metadata.labels as Record<string, string> | undefined)?.[k] === v));
  }

  /** The ReplicaSet controller and the scheduler: as many pods as spec.replicas, each bound to a node. */
  private syncDeployment(d: KObject): void {
    const ns = d.metadata.namespace as string;
    const name = d.metadata.name as string;
    const want = ((d.spec as { replicas?: number }).replicas) ?? 1;
    const pods = this.podsOf(d).sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
    for (let i = pods.length; i < want; i++) this.createPod(d);
    for (const p of pods.slice(want)) this.server.store.delete(PODS, ns, String(p.metadata.name));
    const now = this.podsOf(d);
    const ready = now.filter((p) => (p as unknown as V1Pod).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    const status = d.status as { observedGeneration?: number; replicas?: number; readyReplicas?: number } | undefined;
    if (status?.observedGeneration !== d.metadata.generation || status?.replicas !== now.length || (status?.readyReplicas ?? 0) !== ready) {
      setDeploymentStatus(this.server, ns, name, { replicas: now.length, readyReplicas: ready });
    }
  }

  private createPod(d: KObject): void {
    const template = (d.spec as { template: { metadata?: { labels?: Record<string, string> }; spec: Record<string, unknown> } }).template;
    const node = this.nodes[this.turn++ % this.nodes.length];
    const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true, blockOwnerDeletion: true };
    const body = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: `${String(d.metadata.name)}-`, labels: template.metadata?.labels ?? {}, ownerReferences: [owner] }, spec: { ...template.spec, nodeName: node } };
    this.server.store.create(PODS, d.metadata.namespace as string, body as unknown as Json, { manager: MANAGER });
  }

  /** The EndpointSlice controller: one slice per Service with a selector, rewritten when what it says changes. */
  private syncService(service: V1Service): void {
    if (!service.spec?.selector) return;
    const ns = service.metadata!.namespace!;
    const pods = this.server.store.list(PODS, ns).items as unknown as V1Pod[];
    const want = endpointSliceFor(service, pods);
    const existing = this.server.store.list(SLICES, ns, `${SERVICE_NAME_LABEL}=${service.metadata!.name}`).items[0];
    if (!existing) {
      this.server.store.create(SLICES, ns, want as unknown as Json, { manager: MANAGER });
      return;
    }
    const same = JSON.stringify([existing.endpoints, existing.ports]) === JSON.stringify([want.endpoints, want.ports]);
    if (!same) this.server.store.replace(SLICES, ns, String(existing.metadata.name), { ...want, metadata: { ...want.metadata, name: existing.metadata.name, resourceVersion: existing.metadata.resourceVersion } } as unknown as Json, { manager: MANAGER });
  }
}
