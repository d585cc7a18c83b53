// The Helm chart, rendered by the real helm binary and checked against the upstream Kubernetes schemas.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { helm } from '../support/helm.js';
import { type KubeObject, isGatewayObject, parseManifests, validateObject } from './kube-schemas.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'modelplane');
const CRD_FILE = 'modeldeployments.serving.modelplane.io.yaml';
const RELEASE = 'mp';
const NAMESPACE = 'modelplane-system';

async function render(args: string[] = []): Promise<KubeObject[]> {
  const r = await helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args]);
  if (r.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}

/** The operator's objects of a kind (the gateway's are checked apart). */
function find(objects: KubeObject[], kind: string, name?: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name) && !isGatewayObject(o));
}

/** The gateway's objects of a kind. */
function findGateway(objects: KubeObject[], kind: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && isGatewayObject(o));
}

type Container = {
  args: string[];
  image: string;
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  ports: Array<{ name: string; containerPort: number }>;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
};
type PodSpec = { securityContext: Record<string, unknown>; containers: Container[]; serviceAccountName: string };

function operatorDeployment(objects: KubeObject[]): { spec: { replicas: number; template: { spec: PodSpec } } } {
  const deployments = find(objects, 'Deployment');
  expect(deployments).toHaveLength(1);
  return deployments[0] as unknown as { spec: { replicas: number; template: { spec: PodSpec } } };
}

function flag(args: string[], name: string): string | undefined {
  const hit = args.find((a) => a === name || a.startsWith(`${name}=`));
  if (hit === undefined) return undefined;
  return hit === name ? '' : hit.slice(name.length + 1);
}

const VALUE_SETS: Array<{ name: string; args: string[] }> = [
  { name: 'default values', args: [] },
  { name: 'namespace-scoped', args: ['--set', 'watchNamespaces={team-a,team-b}'] },
  { name: 'monitors on', args: ['--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.runtimePodMonitor.enabled=true'] },
  { name: 'Prometheus Operator CRDs served', args: ['--api-versions', 'monitoring.coreos.com/v1'] },
  {
    name: 'custom images, HA, extras',
    args: [
      '--set', 'operator.image.repository=registry.example.com:5000/ml/modelplane-operator',
      '--set', `operator.image.digest=sha256:${'a'.repeat(64)}`,
      '--set', 'runtime.image.repository=registry.example.com:5000/ml/modelplane-runtime',
      '--set', 'runtime.image.tag=1.2.3',
      '--set', 'operator.replicas=3',
      '--set', 'operator.imagePullSecrets[0].name=regcred',
      '--set', 'operator.priorityClassName=system-cluster-critical',
      '--set', 'operator.tolerations[0].key=dedicated',
      '--set', 'operator.tolerations[0].operator=Exists',
      '--set', 'operator.nodeSelector.kubernetes\\.io/os=linux',
      '--set', 'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/x',
    ],
  },
  { name: 'no leader election, no metrics Service', args: ['--set', 'operator.leaderElection.enabled=false', '--set', 'metrics.service.enabled=false'] },
];

describe('helm chart', () => {
  test('helm lint --strict passes, cluster-wide and namespace-scoped', async () => {
    for (const extra of [[], ['--set', 'watchNamespaces={team-a}']]) {
      const r = await helm(['lint', '--strict', CHART, ...extra]);
      expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining('0 chart(s) failed') });
    }
  });

  describe.each(VALUE_SETS)('rendered with $name', ({ args }) => {
    let objects: KubeObject[];
    beforeAll(async () => {
      objects = await render(args);
    });

    test('every object matches its upstream schema', async () => {
      expect(objects.length).toBeGreaterThan(3);
      for (const obj of objects) await validateObject(obj);
    });

    test('every object carries the standard labels and lives in the release namespace unless cluster-scoped', () => {
      const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
      const version = /^version:\s*(\S+)/m.exec(chart)![1];
      for (const obj of objects) {
        expect(obj.metadata.labels).toMatchObject({
          'helm.sh/chart': `modelplane-${version}`,
          'app.kubernetes.io/name': 'modelplane',
          'app.kubernetes.io/instance': RELEASE,
          'app.kubernetes.io/managed-by': 'Helm',
          'app.kubernetes.io/version': expect.any(String),
        });
        if (obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding') expect(obj.metadata.namespace).toBeUndefined();
        else expect(obj.metadata.namespace).toEqual(expect.any(String));
      }
    });

    test('the operator pod meets the restricted Pod Security profile and probes its health endpoints', () => {
      const pod = operatorDeployment(objects).spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.containers).toHaveLength(1);
      const [c] = pod.containers;
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: pod.securityContext.runAsUser,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      const metricsPort = c.ports.find((p) => p.name === 'metrics');
      expect(metricsPort?.containerPort).toBe(8081);
      expect(flag(c.args, '--metrics-port')).toBe('8081');
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(c.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
      expect(c.resources.limits?.memory).toEqual(expect.any(String));
      expect(c.args[0]).toBe('operator');
      expect(JSON.parse(flag(c.args, '--runtime-resources')!)).toEqual(expect.objectContaining({ requests: expect.any(Object) }));
    });

    test('the ServiceAccount the pod runs as is the one the bindings name', () => {
      const pod = operatorDeployment(objects).spec.template.spec;
      expect(find(objects, 'ServiceAccount', pod.serviceAccountName)).toHaveLength(1);
      for (const binding of [...find(objects, 'RoleBinding'), ...find(objects, 'ClusterRoleBinding')]) {
        expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: NAMESPACE }]);
        const ref = binding.roleRef as { kind: string; name: string };
        const role = find(objects, ref.kind, ref.name).filter((r) => r.metadata.namespace === binding.metadata.namespace);
        expect(role).toHaveLength(1);
      }
    });

    test('no RBAC rule uses a wildcard', () => {
      for (const role of [...find(objects, 'Role'), ...find(objects, 'ClusterRole')]) {
        for (const rule of role.rules as Array<Record<string, string[]>>) {
          for (const field of ['apiGroups', 'resources', 'verbs']) expect(rule[field]).not.toContain('*');
        }
      }
    });
  });

  test('the schema check is not a formality: a broken Deployment and a broken ClusterRole are rejected', async () => {
    const objects = await render();
    const deployment = structuredClone(find(objects, 'Deployment')[0]) as unknown as { spec: { template: { spec: PodSpec } } };
    (deployment.spec.template.spec.containers[0].ports[0] as { containerPort: unknown }).containerPort = 'eighty';
    await expect(validateObject(deployment as unknown as KubeObject)).rejects.toThrow(/Deployment .* does not match/);
    const role = structuredClone(find(objects, 'ClusterRole')[0]);
    (role.rules as Array<Record<string, unknown>>)[0].verbs = 'get';
    await expect(validateObject(role)).rejects.toThrow(/ClusterRole/);
  });

  test('defaults: cluster-wide RBAC, leader election through a Lease in the release namespace, images from appVersion', async () => {
    const objects = await render();
    const appVersion = /^appVersion:\s*"?([^"\s]+)"?/m.exec(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'))![1];
    const [c] = operatorDeployment(objects).spec.template.spec.containers;
    expect(c.image).toBe(`ghcr.io/modelplane/operator:${appVersion}`);
    expect(flag(c.args, '--runtime-image')).toBe(`ghcr.io/modelplane/runtime:${appVersion}`);
    expect(flag(c.args, '--runtime-gpu-image')).toBe(`ghcr.io/modelplane/runtime-gpu:${appVersion}`);
    expect(flag(c.args, '--leader-elect')).toBe('true');
    expect(flag(c.args, '--lease-namespace')).toBe(NAMESPACE);
    expect(flag(c.args, '--namespace')).toBeUndefined();
    expect(find(objects, 'ClusterRole')).toHaveLength(1);
    expect(find(objects, 'ClusterRoleBinding')).toHaveLength(1);
    const leaseRole = find(objects, 'Role').find((r) => r.metadata.namespace === NAMESPACE)!;
    expect(leaseRole.rules).toContainEqual(expect.objectContaining({
      apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [flag(c.args, '--lease-name')],
    }));
    expect(find(objects, 'Service')).toHaveLength(1);
    expect(find(objects, 'ServiceMonitor')).toHaveLength(0);
    expect(find(objects, 'PodMonitor')).toHaveLength(0);
  });

  test('namespace-scoped: a Role and RoleBinding per watched namespace, nothing cluster-wide, --namespace per namespace', async () => {
    const objects = await render(['--set', 'watchNamespaces={team-a,team-b}']);
    expect(find(objects, 'ClusterRole')).toHaveLength(0);
    expect(find(objects, 'ClusterRoleBinding')).toHaveLength(0);
    for (const ns of ['team-a', 'team-b']) {
      expect(find(objects, 'Role').filter((r) => r.metadata.namespace === ns)).toHaveLength(1);
      expect(find(objects, 'RoleBinding').filter((r) => r.metadata.namespace === ns)).toHaveLength(1);
    }
    const [c] = operatorDeployment(objects).spec.template.spec.containers;
    expect(c.args.filter((a) => a.startsWith('--namespace='))).toEqual(['--namespace=team-a', '--namespace=team-b']);
  });

  test('NOTES.txt gives next steps for the namespaces the operator watches', async () => {
    const install = (extra: string[]) => helm(['install', RELEASE, CHART, '--dry-run=client', '--namespace', NAMESPACE, ...extra]);
    const cluster = await install([]);
    expect(cluster.code).toBe(0);
    const notes = cluster.stdout.slice(cluster.stdout.indexOf('NOTES:'));
    expect(notes).toContain(`kubectl -n ${NAMESPACE} rollout status deployment/${RELEASE}-modelplane`);
    expect(notes).toContain('every namespace');
    expect(notes).toContain('kubectl apply -f examples/model-store.yaml');
    expect(notes).toContain('kubectl apply -f examples/cpu.yaml');
    expect(notes).toContain('kubectl wait --for=condition=Ready');
    // The steps name real files, and the ModelDeployment the example file actually creates.
    for (const [, file] of notes.matchAll(/-f (examples\/\S+\.yaml)/g)) expect(existsSync(join(ROOT, file))).toBe(true);
    const example = parseManifests(readFileSync(join(ROOT, 'examples', 'cpu.yaml'), 'utf8'))[0];
    expect([...new Set([...notes.matchAll(/mdp[/ ]([\w-]+)/g)].map((m) => m[1]))]).toEqual([example.metadata.name]);
    const scoped = await install(['--set', 'watchNamespaces={team-a,team-b}']);
    expect(scoped.stdout).toContain('ModelDeployments in: team-a, team-b');
    expect(scoped.stdout).toContain('kubectl -n team-a apply -f examples/cpu.yaml');
  });

  test('monitors: ServiceMonitor, runtime and gateway PodMonitors on "auto" only when monitoring.coreos.com/v1 is served; false wins', async () => {
    const served = await render(['--api-versions', 'monitoring.coreos.com/v1']);
    const sm = find(served, 'ServiceMonitor');
    expect(sm).toHaveLength(1);
    const svc = find(served, 'Service')[0] as unknown as { spec: { selector: Record<string, string>; ports: Array<{ name: string }> } };
    expect((sm[0].spec as { selector: { matchLabels: unknown } }).selector.matchLabels).toEqual(svc.spec.selector);
    expect(svc.spec.ports.map((p) => p.name)).toContain('metrics');
    const pm = find(served, 'PodMonitor');
    expect(pm).toHaveLength(1);
    expect((pm[0].spec as { namespaceSelector: unknown }).namespaceSelector).toEqual({ any: true });
    // The gateway's: its own pods, on the port of its unauthenticated /metrics.
    const [gatewayMonitor] = findGateway(served, 'PodMonitor');
    const [gatewayPods] = findGateway(served, 'Deployment') as unknown as Array<{ spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ ports: Array<{ name: string }> }> } } } }>;
    const gateway = gatewayMonitor.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; path: string }> };
    expect(gatewayPods.spec.template.metadata.labels).toMatchObject(gateway.selector.matchLabels);
    expect(gateway.selector.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'gateway' });
    expect(gateway.podMetricsEndpoints).toMatchObject([{ port: 'metrics', path: '/metrics' }]);
    expect(gatewayPods.spec.template.spec.containers[0].ports.map((p) => p.name)).toContain('metrics');
    expect(findGateway(await render(['--api-versions', 'monitoring.coreos.com/v1', '--set', 'gateway.enabled=false']), 'PodMonitor')).toHaveLength(0);

    const off = await render(['--api-versions', 'monitoring.coreos.com/v1', '--set', 'metrics.serviceMonitor.enabled=false', '--set', 'metrics.runtimePodMonitor.enabled=false', '--set', 'metrics.gatewayPodMonitor.enabled=false']);
    expect(find(off, 'ServiceMonitor')).toHaveLength(0);
    expect(find(off, 'PodMonitor')).toHaveLength(0);
    expect(findGateway(off, 'PodMonitor')).toHaveLength(0);

    const scoped = await render(['--set', 'metrics.runtimePodMonitor.enabled=true', '--set', 'watchNamespaces={team-a}']);
    expect((find(scoped, 'PodMonitor')[0].spec as { namespaceSelector: unknown }).namespaceSelector).toEqual({ matchNames: ['team-a'] });
  });

  test('custom images and replicas reach the operator Deployment', async () => {
    const objects = await render(VALUE_SETS[4].args);
    const d = operatorDeployment(objects);
    expect(d.spec.replicas).toBe(3);
    const [c] = d.spec.template.spec.containers;
    expect(c.image).toBe(`registry.example.com:5000/ml/modelplane-operator@sha256:${'a'.repeat(64)}`);
    expect(flag(c.args, '--runtime-image')).toBe('registry.example.com:5000/ml/modelplane-runtime:1.2.3');
  });

  test('leader election off: no Lease Role and --leader-elect=false', async () => {
    const objects = await render(['--set', 'operator.leaderElection.enabled=false']);
    const [c] = operatorDeployment(objects).spec.template.spec.containers;
    expect(flag(c.args, '--leader-elect')).toBe('false');
    expect(flag(c.args, '--lease-name')).toBeUndefined();
    expect(find(objects, 'Role')).toHaveLength(0);
  });

  test.each([
    [['--set', 'operator.runAsUser=0'], /operator\/runAsUser/],
    [['--set', 'operator.replicas=two'], /operator\/replicas/],
    [['--set', 'metrics.serviceMonitor.enabled=maybe'], /metrics\/serviceMonitor\/enabled/],
    [['--set', 'watchNamespaces={Team_A}'], /watchNamespaces\/0/],
    [['--set', 'watchNamespaces[0]='], /watchNamespaces\/0/],
    [['--set', 'operator.imageTag=1.0'], /additional properties 'imageTag' not allowed/],
    [['--set', 'runtime.resources.requests.cpu=lots'], /runtime\/resources\/requests\/cpu/],
    [['--set', 'operator.logLevel=verbose'], /operator\/logLevel/],
  ])('values.schema.json rejects %j with a message naming the value', async (args, message) => {
    const r = await helm(['template', RELEASE, CHART, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toMatch(message);
  });

  test('values.schema.json describes every value in values.yaml', async () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Schema;
    const values = (await import('js-yaml')).default.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as unknown;
    const undescribed = undescribedPaths(values, schema, schema, '');
    expect(undescribed).toEqual([]);
  });

  test('the chart ships the CRD byte-identical to crds/ and installs it with --include-crds', async () => {
    const source = join(ROOT, 'crds', CRD_FILE);
    const shipped = join(CHART, 'crds', CRD_FILE);
    expect(existsSync(source)).toBe(true);
    if (readFileSync(shipped, 'utf8') !== readFileSync(source, 'utf8')) {
      throw new Error(`charts/modelplane/crds/${CRD_FILE} differs from crds/${CRD_FILE}: copy it over after regenerating the CRD`);
    }
    const objects = await render(['--include-crds']);
    const crd = find(objects, 'CustomResourceDefinition', 'modeldeployments.serving.modelplane.io');
    expect(crd).toHaveLength(1);
    await validateObject(crd[0]);
  });
});

describe('serviceAccount.automountServiceAccountToken', () => {
  type Pod = PodSpec & { automountServiceAccountToken: boolean; volumes: Array<{ name: string; projected?: { sources: Array<Record<string, unknown>> } }> };
  const pod = (objects: KubeObject[]) => operatorDeployment(objects).spec.template.spec as Pod & { containers: Array<Container & { volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> }> };

  it('true (the default): the pod gets the token the API server mounts', async () => {
    const objects = await render();
    expect(pod(objects).automountServiceAccountToken).toBe(true);
    expect(pod(objects).volumes.map((v) => v.name)).toEqual(['tmp']);
    expect(find(objects, 'ServiceAccount')[0]).toMatchObject({ automountServiceAccountToken: true });
  });

  it('false: no token is mounted automatically, in the ServiceAccount or the pod; the operator reads a projected, expiring one at the same path', async () => {
    const objects = await render(['--set', 'serviceAccount.automountServiceAccountToken=false']);
    expect(find(objects, 'ServiceAccount')[0]).toMatchObject({ automountServiceAccountToken: false });
    const p = pod(objects);
    expect(p.automountServiceAccountToken).toBe(false);
    const projected = p.volumes.find((v) => v.name === 'kube-api-access')!.projected!;
    expect(projected.sources).toEqual([
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
    ]);
    expect(p.containers[0].volumeMounts).toContainEqual({ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
  });
});

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  $ref?: string;
  definitions?: Record<string, Schema>;
}

/** Paths of values.yaml that the schema neither names nor admits through additionalProperties. */
function undescribedPaths(value: unknown, node: Schema, root: Schema, path: string): string[] {
  let s = node;
  while (s.$ref) s = root.definitions![s.$ref.replace('#/definitions/', '')];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const sub = s.properties?.[key] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    if (!sub && s.type === 'object' && s.additionalProperties === undefined && !s.properties) continue; // free-form object
    if (!sub) out.push(`${path}/${key}`);
    else out.push(...undescribedPaths(child, sub, root, `${path}/${key}`));
  }
  return out;
}
