// Kubernetes RBAC authorization, the part that matters for one ServiceAccount: a request's attributes from
// its method and path (as the API server's request-info resolver derives them), checked against the rules of
// the Roles and ClusterRoles bound to it (Roles only in their own namespace; resourceNames only for requests
// that name an object).
import type { KubeObject } from './kube-schemas.js';

export interface RequestAttributes {
  verb: string;
  group: string;
  /** `pods`, or `modeldeployments/status` for a subresource. */
  resource: string;
  namespace?: string;
  name?: string;
}

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * The attributes of one HTTP request; undefined for non-resource paths (discovery, /version).
 * `created` marks a PATCH that created its object: the API server then also requires `create`.
 */
export function requestAttributes(method: string, path: string, query: string, created = false): RequestAttributes[] {
  const parts = path.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1];
    rest = parts.slice(3);
  } else {
    return [];
  }
  if (rest.length === 0) return [];
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  const watch = /(^|[?&])watch=(true|1)(&|$)/.test(query);
  const verbs: Record<string, string> = {
    GET: name ? 'get' : watch ? 'watch' : 'list',
    POST: 'create',
    PUT: 'update',
    PATCH: 'patch',
    DELETE: name ? 'delete' : 'deletecollection',
  };
  const base = { group, resource: subresource ? `${resource}/${subresource}` : resource, namespace, name };
  const out = [{ ...base, verb: verbs[method] ?? method.toLowerCase() }];
  if (method === 'PATCH' && created) out.push({ ...base, verb: 'create' });
  return out;
}

function ruleAllows(rule: RbacRule, a: RequestAttributes): boolean {
  if (!rule.apiGroups.includes(a.group)) return false;
  if (!rule.resources.includes(a.resource)) return false;
  if (!rule.verbs.includes(a.verb)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

/** Whether the ServiceAccount `namespace/name` may make the request, given every rendered RBAC object. */
export function authorize(objects: KubeObject[], serviceAccount: { namespace: string; name: string }, a: RequestAttributes): boolean {
  const boundTo = (b: KubeObject) =>
    (b.subjects as Array<{ kind: string; name: string; namespace?: string }>).some(
      (s) => s.kind === 'ServiceAccount' && s.name === serviceAccount.name && s.namespace === serviceAccount.namespace,
    );
  const roleRules = (kind: string, name: string, namespace?: string): RbacRule[] =>
    objects
      .filter((o) => o.kind === kind && o.metadata.name === name && (kind === 'ClusterRole' || o.metadata.namespace === namespace))
      .flatMap((o) => o.rules as RbacRule[]);
  const rules: RbacRule[] = [];
  for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' && boundTo(o))) {
    rules.push(...roleRules('ClusterRole', (b.roleRef as { name: string }).name));
  }
  if (a.namespace) {
    for (const b of objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === a.namespace && boundTo(o))) {
      const ref = b.roleRef as { kind: string; name: string };
      rules.push(...roleRules(ref.kind, ref.name, a.namespace));
    }
  }
  return rules.some((r) => ruleAllows(r, a));
}
