// The chart's gateway, rendered by the real helm: a Deployment running `modelplane gateway` with the operator's image
// (its args parsed by the gateway's own flags), its Service, PodDisruptionBudget, ServiceAccount and exactly the RBAC it
// uses, the API keys Secret mounted as a directory, the operator told where the gateway pods are; none of it when off.
import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { clusterGatewaySettings, gatewayCommand, type ClusterGatewayCliOptions } from '../../cli/gateway.js';
import { helm } from '../support/helm.js';
import { type KubeObject, isGatewayObject, parseManifests, validateObject } from './kube-schemas.js';

const CHART = join(import.meta.dirname, '..', '..', 'charts', 'modelplane');
const NS = 'modelplane-system';

async function render(args: string[] = []): Promise<KubeObject[]> {
  const r = await helm(['template', 'mp', CHART, '--namespace', NS, ...args]);
  if (r.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}

type Container = {
  name: string; image: string; args: string[];
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
};
type Deployment = { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; containers: Container[]; volumes: Array<{ name: string; secret?: { secretName: string } }> } } } };
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const gateway = (objects: KubeObject[], kind: string) => objects.filter((o) => o.kind === kind && isGatewayObject(o));
const operatorArgs = (objects: KubeObject[]) => (objects.find((o) => o.kind === 'Deployment' && !isGatewayObject(o)) as unknown as Deployment).spec.template.spec.containers[0].args;

function gatewaySettingsOf(c: Container) {
  expect(c.args[0]).toBe('gateway');
  const cmd = gatewayCommand().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  cmd.parse(c.args.slice(1), { from: 'user' });
  return clusterGatewaySettings(cmd.opts() as ClusterGatewayCliOptions);
}

const RULES: Rule[] = [
  { apiGroups: ['serving.modelplane.io'], resources: ['modeldeployments'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['serving.modelplane.io'], resources: ['modeldeployments/scale'], verbs: ['patch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
];

describe('the chart\'s gateway', () => {
  it('by default: two replicas of `modelplane gateway` with the operator\'s image, probed on the metrics port, behind a Service and a PodDisruptionBudget', async () => {
    const objects = await render();
    for (const o of objects.filter(isGatewayObject)) await validateObject(o);
    const [d] = gateway(objects, 'Deployment') as unknown as Deployment[];
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'modelplane', 'app.kubernetes.io/instance': 'mp', 'app.kubernetes.io/component': 'gateway' });
    const [c] = d.spec.template.spec.containers;
    const operatorImage = (objects.find((o) => o.kind === 'Deployment' && !isGatewayObject(o)) as unknown as Deployment).spec.template.spec.containers[0].image;
    expect(c.image).toBe(operatorImage);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'grpc', containerPort: 8081, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(gatewaySettingsOf(c)).toEqual({
      namespaces: [], host: '0.0.0.0', port: 8080, grpcPort: 8081, healthPort: 9090, activationTimeoutMs: 300_000, maxHeldRequests: 1000, maxBodyBytes: 268_435_456,
      upstreamTimeoutMs: 300_000, requestTimeoutMs: 30_000, watchTimeoutSeconds: 300, drainTimeoutMs: 30_000, logLevel: 'info',
    });

    const [svc] = gateway(objects, 'Service') as unknown as Array<{ spec: { type: string; selector: unknown; ports: Array<Record<string, unknown>> } }>;
    expect(svc.spec.type).toBe('ClusterIP');
    expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(svc.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
      { name: 'grpc', port: 8081, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
    ]);
    const [pdb] = gateway(objects, 'PodDisruptionBudget') as unknown as Array<{ spec: { minAvailable: number; selector: { matchLabels: unknown } } }>;
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: d.spec.selector.matchLabels } });

    // The operator's built-in autoscaler is told where the gateway pods are.
    expect(operatorArgs(objects)).toEqual(expect.arrayContaining(['--gateway-selector=app.kubernetes.io/component=gateway,app.kubernetes.io/instance=mp', `--gateway-namespace=${NS}`]));
  });

  it('runs as its own ServiceAccount, bound to a ClusterRole granting exactly what it uses', async () => {
    const objects = await render();
    const [d] = gateway(objects, 'Deployment') as unknown as Deployment[];
    const sa = d.spec.template.spec.serviceAccountName;
    expect(gateway(objects, 'ServiceAccount').map((o) => o.metadata.name)).toEqual([sa]);
    const operatorSa = objects.find((o) => o.kind === 'ServiceAccount' && !isGatewayObject(o))!.metadata.name;
    expect(sa).not.toBe(operatorSa);
    const [role] = gateway(objects, 'ClusterRole');
    expect(role.rules).toEqual(RULES);
    const [binding] = gateway(objects, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa, namespace: NS }]);
    expect(gateway(objects, 'Role')).toEqual([]);
  });

  it('namespace-scoped: a Role and RoleBinding per watched namespace with the same rules, nothing cluster-wide, --namespace for each', async () => {
    const objects = await render(['--set', 'watchNamespaces={team-a,team-b}']);
    expect(gateway(objects, 'ClusterRole')).toEqual([]);
    expect(gateway(objects, 'ClusterRoleBinding')).toEqual([]);
    expect(gateway(objects, 'Role').map((r) => [r.metadata.namespace, r.rules])).toEqual([['team-a', RULES], ['team-b', RULES]]);
    expect(gateway(objects, 'RoleBinding').map((r) => r.metadata.namespace)).toEqual(['team-a', 'team-b']);
    const [d] = gateway(objects, 'Deployment') as unknown as Deployment[];
    expect(gatewaySettingsOf(d.spec.template.spec.containers[0]).namespaces).toEqual(['team-a', 'team-b']);
    // The operator's autoscaler lists the gateway pods in the release namespace: a Role there for that alone.
    const podsRole = objects.filter((o) => o.kind === 'Role' && o.metadata.name === 'mp-modelplane-gateway-pods');
    expect(podsRole.map((r) => [r.metadata.namespace, r.rules])).toEqual([[NS, [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]]]);
    const inRelease = await render(['--set', `watchNamespaces={team-a,${NS}}`]);
    expect(inRelease.filter((o) => o.metadata.name === 'mp-modelplane-gateway-pods')).toEqual([]);
  });

  it('gateway.auth.secretName: the Secret is mounted read-only as a directory and passed as --api-keys', async () => {
    const objects = await render(['--set', 'gateway.auth.secretName=model-api-keys']);
    const [d] = gateway(objects, 'Deployment') as unknown as Deployment[];
    await validateObject(d as unknown as KubeObject);
    const pod = d.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'api-keys', secret: { secretName: 'model-api-keys', defaultMode: 0o440 } });
    expect((d.spec.template.spec as unknown as { securityContext: { fsGroup: number; runAsUser: number } }).securityContext).toMatchObject({ fsGroup: 65532, runAsUser: 65532 });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'api-keys', mountPath: '/etc/modelplane/api-keys', readOnly: true });
    expect(gatewaySettingsOf(pod.containers[0]).apiKeys).toBe('/etc/modelplane/api-keys');
    const without = gateway(await render(), 'Deployment') as unknown as Deployment[];
    expect(without[0].spec.template.spec.volumes.map((v) => v.name)).toEqual(['tmp']);
  });

  it('values reach the gateway: replicas, its settings, no gRPC, the Service\'s type and port', async () => {
    const objects = await render([
      '--set', 'gateway.replicas=3', '--set', 'gateway.activationTimeout=90s', '--set', 'gateway.maxHeldRequests=50', '--set', 'gateway.maxBodyBytes=1048576',
      '--set', 'gateway.logLevel=debug', '--set', 'gateway.grpc.enabled=false', '--set', 'gateway.service.type=LoadBalancer', '--set', 'gateway.service.port=8000',
      '--set', 'gateway.healthPort=9191', '--set', 'gateway.podDisruptionBudget.minAvailable=2',
    ]);
    const [d] = gateway(objects, 'Deployment') as unknown as Deployment[];
    expect(d.spec.replicas).toBe(3);
    const c = d.spec.template.spec.containers[0];
    expect(gatewaySettingsOf(c)).toMatchObject({ grpcPort: 0, healthPort: 9191, activationTimeoutMs: 90_000, maxHeldRequests: 50, maxBodyBytes: 1_048_576, logLevel: 'debug' });
    expect(c.ports.map((p) => p.name)).toEqual(['http', 'metrics']);
    const [svc] = gateway(objects, 'Service') as unknown as Array<{ spec: { type: string; ports: Array<{ name: string; port: number }> } }>;
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.ports.map((p) => [p.name, p.port])).toEqual([['http', 8000]]);
    expect((gateway(objects, 'PodDisruptionBudget')[0].spec as { minAvailable: number }).minAvailable).toBe(2);
  });

  it('gateway.enabled=false renders none of it, and the operator is not told of gateway pods', async () => {
    const objects = await render(['--set', 'gateway.enabled=false']);
    expect(objects.filter(isGatewayObject)).toEqual([]);
    expect(operatorArgs(objects).filter((a) => a.startsWith('--gateway-'))).toEqual([]);
    const scoped = await render(['--set', 'gateway.enabled=false', '--set', 'watchNamespaces={team-a}']);
    expect(scoped.filter(isGatewayObject)).toEqual([]);
  });

  it.each([
    [['--set', 'gateway.healthPort=8080'], /gateway\/healthPort/],
    [['--set', 'gateway.replicas=-1'], /gateway\/replicas/],
    [['--set', 'gateway.activationTimeout=soon'], /gateway\/activationTimeout/],
    [['--set', 'gateway.auth.secretName=Not_A_Name'], /gateway\/auth\/secretName/],
    [['--set', 'gateway.unknown=1'], /additional properties 'unknown' not allowed/],
  ])('values.schema.json rejects %j', async (args, message) => {
    const r = await helm(['template', 'mp', CHART, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
