// Reads the operator's TypeScript sources and lists the Kubernetes API permissions its client-node calls
// need, so the chart's RBAC can be checked against the code rather than against a hand-kept list.
// It recognises: typed API methods (`listNamespacedPod`, `patchNamespacedDeployment`, `readNamespacedLease`,
// `createNamespacedEvent`, ...), CustomObjectsApi methods (`patchNamespacedCustomObjectStatus`, ...), and
// API paths handed to informers and watches (`/apis/apps/v1/deployments`), which need list and watch.
// A call it cannot map is reported as unmapped, so a new kind of call fails the test until it is mapped.

export interface Permission {
  group: string;
  resource: string;
  verb: string;
}

export interface ApiCall {
  file: string;
  line: number;
  call: string;
  permissions: Permission[];
}

export interface ScanResult {
  calls: ApiCall[];
  unmapped: Array<{ file: string; line: number; call: string }>;
}

/** Kinds the typed client-node APIs name in their method names -> (API group, plural resource). */
export const KIND_RESOURCES: Record<string, { group: string; resource: string }> = {
  Pod: { group: '', resource: 'pods' },
  Service: { group: '', resource: 'services' },
  Event: { group: '', resource: 'events' },
  Secret: { group: '', resource: 'secrets' },
  ConfigMap: { group: '', resource: 'configmaps' },
  Endpoints: { group: '', resource: 'endpoints' },
  ServiceAccount: { group: '', resource: 'serviceaccounts' },
  PersistentVolumeClaim: { group: '', resource: 'persistentvolumeclaims' },
  Deployment: { group: 'apps', resource: 'deployments' },
  ReplicaSet: { group: 'apps', resource: 'replicasets' },
  PodDisruptionBudget: { group: 'policy', resource: 'poddisruptionbudgets' },
  HorizontalPodAutoscaler: { group: 'autoscaling', resource: 'horizontalpodautoscalers' },
  Lease: { group: 'coordination.k8s.io', resource: 'leases' },
  EndpointSlice: { group: 'discovery.k8s.io', resource: 'endpointslices' },
};

/** client-node method prefixes -> Kubernetes RBAC verbs. */
export const METHOD_VERBS: Record<string, string> = {
  list: 'list',
  read: 'get',
  get: 'get',
  create: 'create',
  patch: 'patch',
  replace: 'update',
  delete: 'delete',
  deleteCollection: 'deletecollection',
};

export interface ScanContext {
  /** The custom resource the CustomObjectsApi calls address. */
  customResource: { group: string; resource: string };
  /**
   * Other custom resources, by the name of the constant spread into a call's arguments
   * (`custom.getNamespacedCustomObject({ ...SCALED_OBJECTS, namespace, name })`).
   */
  customResources?: Record<string, { group: string; resource: string }>;
  /** Template-literal constants that appear in API paths, e.g. GROUP -> serving.modelplane.io. */
  constants: Record<string, string>;
}

const KIND_ALTERNATION = Object.keys(KIND_RESOURCES).sort((a, b) => b.length - a.length).join('|');
const TYPED_CALL = new RegExp(
  `\\b(deleteCollection|list|read|create|patch|replace|delete)(Namespaced)?(${KIND_ALTERNATION})(Status|Scale)?(ForAllNamespaces)?\\s*\\(`,
  'g',
);
const CUSTOM_CALL = /\b(get|list|create|patch|replace|delete)(Namespaced|Cluster)CustomObject(Status|Scale)?\s*\(/g;
// Anything shaped like a client-node call on a namespaced or custom resource, mapped or not.
const CANDIDATE_CALL = /\b(deleteCollection|list|read|get|create|patch|replace|delete)(Namespaced\w*|\w+ForAllNamespaces|\w*CustomObject\w*)\s*\(/g;
const PATH_LITERAL = /(['"`])(\/apis?\/[^'"`]*)\1/g;

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function withoutComments(text: string): string {
  // Keeps offsets (and so line numbers) by blanking comments instead of deleting them.
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/[^\n]*/g, (m, pre: string) => pre + ' '.repeat(m.length - pre.length));
}

/** Resolves an API path (possibly a template literal) to the resource it lists and watches. */
export function resourceOfPath(path: string, ctx: ScanContext): { group: string; resource: string } | undefined {
  const resolved = path.replace(/\$\{\s*([A-Za-z_][\w.]*)\s*\}/g, (whole, name: string) => ctx.constants[name.split('.').pop()!] ?? '{var}');
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/(?:namespaces\/[^/]+\/)?([a-z0-9]+)(?:\/|\?|$)/.exec(resolved);
  if (!m || m[2] === 'namespaces') return undefined;
  return { group: m[1] ?? '', resource: m[2] };
}

/** Scans one source file. */
export function scanSource(file: string, source: string, ctx: ScanContext): ScanResult {
  const text = withoutComments(source);
  const calls: ApiCall[] = [];
  const mapped = new Set<number>();
  const serverSideApply = /PatchStrategy\.ServerSideApply|apply-patch\+yaml/.test(text);
  const eventsGroup = /\bEventsV1Api\b/.test(text) && !/\bCoreV1Api\b[\s\S]*createNamespacedEvent/.test(text) ? 'events.k8s.io' : '';

  for (const m of text.matchAll(TYPED_CALL)) {
    const [call, method, , kind, sub] = m;
    const { group, resource } = KIND_RESOURCES[kind];
    const verb = METHOD_VERBS[method];
    const base = { group: kind === 'Event' ? eventsGroup : group, resource: sub ? `${resource}/${sub.toLowerCase()}` : resource };
    const permissions = [{ ...base, verb }];
    // Server-side apply creates the object when it is missing, and the API server authorizes that as create.
    if (verb === 'patch' && serverSideApply && !sub) permissions.push({ ...base, verb: 'create' });
    calls.push({ file, line: lineOf(text, m.index), call: call.replace(/\s*\($/, ''), permissions });
    mapped.add(m.index);
  }
  for (const m of text.matchAll(CUSTOM_CALL)) {
    const [call, method, , sub] = m;
    const args = text.slice(m.index + call.length, m.index + call.length + 200);
    const spread = /^\s*\{\s*\.\.\.([A-Za-z_]\w*)/.exec(args)?.[1];
    const target = (spread && ctx.customResources?.[spread]) || ctx.customResource;
    const resource = sub ? `${target.resource}/${sub.toLowerCase()}` : target.resource;
    const permissions = [{ group: target.group, resource, verb: METHOD_VERBS[method] }];
    if (method === 'patch' && serverSideApply && !sub) permissions.push({ group: target.group, resource, verb: 'create' });
    calls.push({ file, line: lineOf(text, m.index), call: call.replace(/\s*\($/, ''), permissions });
    mapped.add(m.index);
  }
  for (const m of text.matchAll(PATH_LITERAL)) {
    const target = resourceOfPath(m[2], ctx);
    if (!target) continue;
    calls.push({
      file,
      line: lineOf(text, m.index),
      call: `watch ${m[2]}`,
      permissions: [{ ...target, verb: 'list' }, { ...target, verb: 'watch' }],
    });
  }
  const unmapped = [...text.matchAll(CANDIDATE_CALL)]
    .filter((m) => !mapped.has(m.index))
    .map((m) => ({ file, line: lineOf(text, m.index), call: m[0].replace(/\s*\($/, '') }));
  // The generic client's methods (create, patch, ...) do not name a kind; its use must be mapped by hand.
  for (const m of text.matchAll(/\bKubernetesObjectApi\b/g)) unmapped.push({ file, line: lineOf(text, m.index), call: 'KubernetesObjectApi' });
  return { calls, unmapped };
}

/** Every permission the calls need, deduplicated, as `group/resource:verb` keys. */
export function permissionKeys(calls: ApiCall[]): Set<string> {
  return new Set(calls.flatMap((c) => c.permissions.map(permissionKey)));
}

export function permissionKey(p: Permission): string {
  return `${p.group || 'core'}/${p.resource}:${p.verb}`;
}
