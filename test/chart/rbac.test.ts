// The chart's RBAC against the operator's code: every Kubernetes API call in operator/ must be allowed by the
// rules the chart renders (cluster-wide and namespace-scoped), and the chart must allow nothing the code
// does not call.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { helm } from '../support/helm.js';
import { type KubeObject, isGatewayObject, parseManifests } from './kube-schemas.js';
import { type ApiCall, type ScanContext, type ScanResult, permissionKey, permissionKeys, scanSource } from './operator-api-calls.js';

const ROOT = join(import.meta.dirname, '..', '..');
const OPERATOR = join(ROOT, 'operator');
const CHART = join(ROOT, 'charts', 'modelplane');
const RELEASE_NS = 'modelplane-system';

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function apiConstants(): ScanContext {
  const schema = readFileSync(join(OPERATOR, 'api', 'schema.ts'), 'utf8');
  const constant = (name: string) => new RegExp(`export const ${name} = '([^']+)'`).exec(schema)?.[1];
  const group = constant('GROUP')!;
  const version = constant('VERSION')!;
  const plural = constant('PLURAL')!;
  // Other custom resources the operator addresses, each named once as `export const X = { group, version, plural }`.
  const customResources: Record<string, { group: string; resource: string }> = {};
  for (const file of sourceFiles(join(OPERATOR, 'resources'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/export const (\w+) = \{ group: '([^']+)', version: '[^']+', plural: '([^']+)' \}/g)) {
      customResources[m[1]] = { group: m[2], resource: m[3] };
    }
  }
  return {
    customResource: { group, resource: plural },
    customResources,
    constants: { GROUP: group, VERSION: version, PLURAL: plural, API_VERSION: `${group}/${version}` },
  };
}

function scanOperator(ctx: ScanContext): ScanResult {
  const results = sourceFiles(OPERATOR).map((f) => scanSource(relative(ROOT, f), readFileSync(f, 'utf8'), ctx));
  return { calls: results.flatMap((r) => r.calls), unmapped: results.flatMap((r) => r.unmapped) };
}

/** Permissions the operator needs that no single call names. */
function structuralNeeds(ctx: ScanContext): string[] {
  const needs: string[] = [];
  const resources = sourceFiles(join(OPERATOR, 'resources')).map((f) => readFileSync(f, 'utf8')).join('\n');
  // Setting blockOwnerDeletion on a child's ownerReference requires update on the owner's finalizers.
  if (/blockOwnerDeletion:\s*true/.test(resources)) needs.push(`${ctx.customResource.group}/${ctx.customResource.resource}/finalizers:update`);
  return needs;
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

function granted(role: KubeObject): Set<string> {
  const out = new Set<string>();
  for (const rule of role.rules as Rule[]) {
    for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) out.add(permissionKey({ group: g, resource: r, verb: v }));
  }
  return out;
}

async function renderRoles(args: string[]): Promise<KubeObject[]> {
  const r = await helm(['template', 'mp', CHART, '-n', RELEASE_NS, ...args]);
  expect(r.stderr).toBe('');
  return parseManifests(r.stdout).filter((o) => (o.kind === 'Role' || o.kind === 'ClusterRole') && !isGatewayObject(o));
}

const isLease = (key: string) => key.startsWith('coordination.k8s.io/leases');

describe('operator API call scanner', () => {
  const ctx: ScanContext = {
    customResource: { group: 'serving.modelplane.io', resource: 'modeldeployments' },
    customResources: { SCALED_OBJECTS: { group: 'keda.sh', resource: 'scaledobjects' } },
    constants: { GROUP: 'serving.modelplane.io', VERSION: 'v1alpha1', PLURAL: 'modeldeployments' },
  };
  const keys = (src: string) => [...permissionKeys(scanSource('x.ts', src, ctx).calls)].sort();

  test.each([
    ['await core.listNamespacedPod({ namespace })', ['core/pods:list']],
    ['apps.readNamespacedDeployment({ name, namespace })', ['apps/deployments:get']],
    ['apps.patchNamespacedDeployment(req, setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply))', ['apps/deployments:create', 'apps/deployments:patch']],
    ['apps.patchNamespacedDeployment(req, setHeaderOptions("Content-Type", PatchStrategy.MergePatch))', ['apps/deployments:patch']],
    ['policy.deleteNamespacedPodDisruptionBudget({ name, namespace })', ['policy/poddisruptionbudgets:delete']],
    ['custom.patchNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body })', ['serving.modelplane.io/modeldeployments/status:patch']],
    ['custom.getNamespacedCustomObjectScale(args)', ['serving.modelplane.io/modeldeployments/scale:get']],
    ['custom.listClusterCustomObject(args)', ['serving.modelplane.io/modeldeployments:list']],
    ['custom.deleteNamespacedCustomObject({ ...SCALED_OBJECTS, namespace, name })', ['keda.sh/scaledobjects:delete']],
    ['custom.patchNamespacedCustomObject({ ...SCALED_OBJECTS, ...req }, PatchStrategy.ServerSideApply)', ['keda.sh/scaledobjects:create', 'keda.sh/scaledobjects:patch']],
    ['custom.patchNamespacedCustomObjectScale({ ...at(md), body })', ['serving.modelplane.io/modeldeployments/scale:patch']],
    ['makeInformer(kc, `/apis/${GROUP}/${VERSION}/${PLURAL}`, list)', ['serving.modelplane.io/modeldeployments:list', 'serving.modelplane.io/modeldeployments:watch']],
    ["makeInformer(kc, '/api/v1/pods', list, selector)", ['core/pods:list', 'core/pods:watch']],
    ['watch.watch(`/apis/apps/v1/namespaces/${ns}/deployments`, {}, cb, done)', ['apps/deployments:list', 'apps/deployments:watch']],
    ['leases.readNamespacedLease({ name, namespace }); leases.replaceNamespacedLease({ name, namespace, body })', ['coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:update']],
    ['const core = kc.makeApiClient(CoreV1Api); core.createNamespacedEvent({ namespace, body })', ['core/events:create']],
    ['const ev = kc.makeApiClient(EventsV1Api); ev.createNamespacedEvent({ namespace, body })', ['events.k8s.io/events:create']],
    ['core.listPodForAllNamespaces({ labelSelector })', ['core/pods:list']],
    ['// apps.deleteNamespacedDeployment(x) is never called', []],
  ])('%s needs %j', (src, expected) => {
    expect(keys(src)).toEqual(expected);
  });

  test('a call it cannot map is reported, not ignored', () => {
    const r = scanSource('x.ts', 'api.listNamespacedWidget({ namespace }); custom.frobNamespacedCustomObject(a)', ctx);
    expect(r.unmapped.map((u) => u.call)).toEqual(['listNamespacedWidget']);
  });
});

describe('chart RBAC matches the operator code', () => {
  const ctx = apiConstants();
  const scan = scanOperator(ctx);
  const required = new Set([...permissionKeys(scan.calls), ...structuralNeeds(ctx)]);
  const where = (key: string): string[] =>
    scan.calls.filter((c: ApiCall) => c.permissions.some((p) => permissionKey(p) === key)).map((c) => `${c.file}:${c.line} ${c.call}`);
  // Without controller code there is nothing to hold the chart's grants against yet.
  const controllerPresent = sourceFiles(join(OPERATOR, 'controller')).length > 0;

  test('every client-node call in operator/ is one the scanner understands', () => {
    expect(scan.unmapped).toEqual([]);
  });

  test.each([
    ['cluster-wide', [] as string[]],
    ['namespace-scoped', ['--set', 'watchNamespaces={team-a,team-b}']],
  ])('%s: every permission the code needs is granted where it is needed', async (_mode, args) => {
    const roles = await renderRoles(args);
    const leaseRole = roles.find((r) => r.kind === 'Role' && r.metadata.name.endsWith('-leader-election'))!;
    // In the release namespace besides the Lease: the gateway pods the autoscaler lists (namespace-scoped installs).
    const gatewayPodsRole = roles.find((r) => r.kind === 'Role' && r.metadata.name.endsWith('-gateway-pods'));
    expect(gatewayPodsRole === undefined).toBe(args.length === 0);
    if (gatewayPodsRole) expect(gatewayPodsRole.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]);
    const workloadRoles = roles.filter((r) => r !== leaseRole && r !== gatewayPodsRole);
    expect(workloadRoles.length).toBe(args.length ? 2 : 1);
    const missing: string[] = [];
    for (const key of required) {
      const holders = isLease(key) ? [leaseRole] : workloadRoles;
      for (const role of holders) {
        if (!granted(role).has(key)) missing.push(`${role.kind} ${role.metadata.namespace ?? ''}/${role.metadata.name} lacks ${key} for ${where(key).join(', ') || 'owner references'}`);
      }
    }
    expect(missing).toEqual([]);
  });

  (controllerPresent ? test : test.skip)('the chart grants nothing the code does not use', async () => {
    const roles = await renderRoles([]);
    const extra = roles.flatMap((role) => [...granted(role)].filter((key) => !required.has(key)).map((key) => `${role.kind} ${role.metadata.name}: ${key}`));
    expect(extra).toEqual([]);
  });
});
