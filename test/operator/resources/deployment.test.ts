import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { V1Container, V1Deployment } from '@kubernetes/client-node';
import { buildDeployment, cpuCores } from '../../../operator/resources/deployment.js';
import { resolveConfig } from '../../../operator/resources/config.js';
import { CFG, HEX, md } from './fixtures.js';

const build = (spec: Record<string, unknown>, cfg = CFG) => buildDeployment(md(spec), resolveConfig(cfg)) as V1Deployment;
const pod = (d: V1Deployment) => d.spec!.template.spec!;
const runtime = (d: V1Deployment) => pod(d).containers.find((c) => c.name === 'runtime')!;
const allContainers = (d: V1Deployment): V1Container[] => [...(pod(d).initContainers ?? []), ...pod(d).containers];
const flag = (args: string[], name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

const CASES: [string, Record<string, unknown>][] = [
  ['an s3 model with credentials and sha256', { model: { uri: 's3://models/resnet/model.onnx', sha256: HEX, credentialsSecret: 'store' } }],
  ['an https model', { model: { uri: 'https://example.com/m/resnet50.onnx?sig=1' } }],
  ['an s3 folder', { model: { uri: 's3://models/llm/' } }],
  ['a pvc model', { model: { uri: 'pvc://model-store/resnet/model.onnx' }, replicas: 3 }],
  ['a pvc model with sha256', { model: { uri: 'pvc://model-store/resnet.onnx', sha256: HEX } }],
  ['a model in the image', { model: { uri: 'file:///opt/models/resnet.onnx' } }],
  ['a GPU model with scheduling', {
    model: { uri: 's3://models/resnet.onnx' }, replicas: 4,
    gpu: { count: 2, product: 'NVIDIA-H100-80GB-HBM3' },
    resources: { requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '16Gi' } },
    scheduling: { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }], priorityClassName: 'high', runtimeClassName: 'nvidia',
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }] },
    runtime: { batching: { maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 } },
  }],
  ['a MIG slice', { model: { uri: 's3://models/resnet.onnx' }, gpu: { resource: 'nvidia.com/mig-1g.10gb' } }],
];

describe('buildDeployment', () => {
  it.each(CASES)('builds a valid apps/v1 Deployment for %s', (_name, spec) => {
    const d = build(spec);
    expect(() => new Deployment(d as never).validate()).not.toThrow();
    expect(d).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'resnet', namespace: 'ml' } });
    expect(d.metadata!.ownerReferences).toEqual([
      { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', name: 'resnet', uid: '4b1f9c1e-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true },
    ]);
    expect(d.spec!.replicas).toBe(md(spec).spec.replicas);
    expect(d.spec!.selector.matchLabels).toEqual({ 'app.kubernetes.io/instance': 'resnet', 'app.kubernetes.io/name': 'modelplane-runtime' });
    expect(d.spec!.template.metadata!.labels).toMatchObject(d.spec!.selector.matchLabels!);
  });

  it.each(CASES)('every container of %s meets the restricted Pod Security Standard', (_name, spec) => {
    const d = build(spec);
    const p = pod(d);
    expect(p.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(p.securityContext!.runAsUser).toBeGreaterThan(0);
    expect(p.hostNetwork ?? false).toBe(false);
    expect(p.hostPID ?? false).toBe(false);
    expect(p.hostIPC ?? false).toBe(false);
    for (const v of p.volumes ?? []) {
      const kinds = Object.keys(v).filter((k) => k !== 'name');
      expect(kinds.every((k) => ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'].includes(k))).toBe(true);
    }
    for (const c of allContainers(d)) {
      const sc = c.securityContext!;
      expect({ container: c.name, allowPrivilegeEscalation: sc.allowPrivilegeEscalation, runAsNonRoot: sc.runAsNonRoot, drop: sc.capabilities?.drop, add: sc.capabilities?.add, seccomp: sc.seccompProfile?.type, privileged: sc.privileged, readOnlyRootFilesystem: sc.readOnlyRootFilesystem })
        .toEqual({ container: c.name, allowPrivilegeEscalation: false, runAsNonRoot: true, drop: ['ALL'], add: undefined, seccomp: 'RuntimeDefault', privileged: false, readOnlyRootFilesystem: true });
      expect(sc.runAsUser).toBeGreaterThan(0);
      expect(c.ports?.some((port) => port.hostPort) ?? false).toBe(false);
      expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(c.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    }
  });

  it('downloads remote models in an init container into an emptyDir the runtime reads', () => {
    const d = build(CASES[0][1]);
    const [fetch] = pod(d).initContainers!;
    expect(fetch.command).toEqual(['modelplane']);
    expect(fetch.args).toEqual(['fetch', '--uri', 's3://models/resnet/model.onnx', '--dest', '/models', '--sha256', HEX, '--credentials-dir', '/var/run/secrets/modelplane/credentials', '--log-level', 'info']);
    expect(fetch.volumeMounts).toContainEqual({ name: 'credentials', mountPath: '/var/run/secrets/modelplane/credentials', readOnly: true });
    expect(fetch.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    expect(pod(d).volumes).toContainEqual({ name: 'credentials', secret: { secretName: 'store', defaultMode: 0o440 } });
    expect(pod(d).volumes).toContainEqual({ name: 'models', emptyDir: {} });
    expect(runtime(d).volumeMounts).toContainEqual({ name: 'models', mountPath: '/models', readOnly: true });
    expect(runtime(d).volumeMounts!.some((m) => m.name === 'credentials')).toBe(false);
  });

  it.each([
    ['s3://models/resnet/model.onnx', '/models/model.onnx'],
    ['https://example.com/m/resnet50.onnx?sig=1', '/models/resnet50.onnx'],
    ['https://example.com/', '/models/model.onnx'],
    ['s3://models/llm/', '/models'],
    ['s3://models/llm', '/models'],
    ['pvc://model-store/resnet/model.onnx', '/mnt/pvc/model-store/resnet/model.onnx'],
    ['pvc://model-store', '/mnt/pvc/model-store'],
    ['file:///opt/models/resnet.onnx', '/opt/models/resnet.onnx'],
  ])('serves %s from %s', (uri, path) => {
    expect(flag(runtime(build({ model: { uri } })).args!, '--model')).toBe(path);
  });

  it('mounts a pvc read-only, verifying a sha256 in place with the init container', () => {
    const plain = build({ model: { uri: 'pvc://model-store/resnet/model.onnx' } });
    expect(pod(plain).initContainers).toBeUndefined();
    expect(pod(plain).volumes).toContainEqual({ name: 'model', persistentVolumeClaim: { claimName: 'model-store', readOnly: true } });
    expect(runtime(plain).volumeMounts).toContainEqual({ name: 'model', mountPath: '/mnt/pvc/model-store', readOnly: true });
    const verified = build({ model: { uri: 'pvc://model-store/resnet.onnx', sha256: HEX } });
    const [fetch] = pod(verified).initContainers!;
    expect(fetch.args).toEqual(['fetch', '--uri', 'pvc://model-store/resnet.onnx', '--dest', '/models', '--sha256', HEX, '--log-level', 'info']);
    expect(fetch.volumeMounts).toContainEqual({ name: 'model', mountPath: '/mnt/pvc/model-store', readOnly: true });
    expect(fetch.env).toEqual([{ name: 'MODELPLANE_PVC_ROOT', value: '/mnt/pvc' }]);
  });

  it('renders the runtime flags from the spec', () => {
    const d = build(CASES[6][1]);
    expect(runtime(d).args).toEqual([
      'serve', '--model', '/models/resnet.onnx', '--name', 'resnet', '--http-port', '8080', '--grpc-port', '9000', '--max-batch-size', '32', '--max-queue-delay-us', '2000',
      '--max-queue-size', '512', '--execution-providers', 'cuda,cpu', '--require-gpu', '--instances', '2', '--devices', '0,1',
      '--graph-optimization-level', 'all', '--intra-op-threads', '2', '--drain-timeout-seconds', '45', '--log-level', 'info',
    ]);
    const cpuOnly = runtime(build({ model: { uri: 's3://models/r.onnx', servedName: 'rn' }, runtime: { executionProviders: ['cpu'], intraOpThreads: 3, graphOptimizationLevel: 'basic' } })).args!;
    expect([flag(cpuOnly, '--name'), flag(cpuOnly, '--execution-providers'), flag(cpuOnly, '--intra-op-threads'), flag(cpuOnly, '--graph-optimization-level')]).toEqual(['rn', 'cpu', '3', 'basic']);
    // Batching is opt-in: the flag is always rendered, 1 when spec.runtime.batching is omitted.
    expect([flag(cpuOnly, '--max-batch-size'), cpuOnly.includes('--max-queue-delay-us'), cpuOnly.includes('--require-gpu'), flag(cpuOnly, '--instances'), cpuOnly.includes('--devices')])
      .toEqual(['1', false, false, '1', false]);
  });

  it('renders the generation engine\'s bounds after the other flags, only when spec.runtime.generation is set', () => {
    const llm = { model: { uri: 'pvc://models/llm/model.onnx' }, resources: { limits: { memory: '8Gi' } } };
    const full = runtime(build({ ...llm, runtime: { generation: { maxNumSeqs: 8, maxModelLen: 1024, maxKvCacheBytes: 2 * 2 ** 30 } } })).args!;
    expect(full.slice(-6)).toEqual(['--max-num-seqs', '8', '--max-model-len', '1024', '--max-kv-cache-bytes', '2147483648']);
    // The schema's defaults fill what is left out; the KV cache budget has none (the runtime derives it from memory).
    const partial = runtime(build({ ...llm, runtime: { generation: {} } })).args!;
    expect([flag(partial, '--max-num-seqs'), flag(partial, '--max-model-len'), partial.includes('--max-kv-cache-bytes')]).toEqual(['32', '0', false]);
    const none = runtime(build(llm)).args!;
    expect(none.filter((a) => /^--max-(num-seqs|model-len|kv-cache-bytes)$/.test(a))).toEqual([]);
  });

  it('requests GPUs as limits with the matching NoSchedule toleration and product selector', () => {
    const d = build(CASES[6][1]);
    expect(runtime(d).resources).toEqual({ requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '16Gi', 'nvidia.com/gpu': '2' } });
    expect(pod(d).tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    ]);
    expect(pod(d).nodeSelector).toEqual({ pool: 'gpu', 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(pod(d)).toMatchObject({ priorityClassName: 'high', runtimeClassName: 'nvidia' });
    expect(pod(d).topologySpreadConstraints).toEqual([{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }]);
    expect(runtime(d).image).toBe(CFG.runtimeGpuImage);
    const mig = build(CASES[7][1]);
    expect(runtime(mig).resources!.limits).toEqual({ 'nvidia.com/mig-1g.10gb': '1' });
    // The GPU operator taints MIG nodes with nvidia.com/gpu too: a MIG pod must tolerate it.
    expect(pod(mig).tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'nvidia.com/mig-1g.10gb', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    const pool = { key: 'pool', operator: 'Equal', value: 'gpu', effect: 'NoExecute' };
    expect(pod(build(CASES[7][1], { ...CFG, gpuTolerations: [pool] })).tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'nvidia.com/mig-1g.10gb', operator: 'Exists', effect: 'NoSchedule' },
      pool,
    ]);
    // Configured GPU tolerations are for GPU pods only.
    expect(pod(build({ model: { uri: 's3://models/r.onnx' } }, { ...CFG, gpuTolerations: [pool] })).tolerations).toBeUndefined();
    const cpu = build({ model: { uri: 's3://models/r.onnx' } });
    expect(pod(cpu).tolerations).toBeUndefined();
    expect(pod(cpu).nodeSelector).toBeUndefined();
    expect(runtime(cpu).image).toBe(CFG.runtimeImage);
  });

  it('probes for large models, drains before SIGTERM and exposes metrics', () => {
    const d = build(CASES[0][1]);
    const c = runtime(d);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'grpc', containerPort: 9000, protocol: 'TCP' }]);
    expect(c.startupProbe).toMatchObject({ httpGet: { path: '/v2/health/ready', port: 'http' }, periodSeconds: 5, failureThreshold: 360 });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/v2/health/ready', port: 'http' } });
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/v2/health/live', port: 'http' } });
    // An exec of the runtime's own binary: the kubelet's sleep action needs Kubernetes 1.30, the chart supports 1.28.
    expect(c.lifecycle).toEqual({ preStop: { exec: { command: ['modelplane', 'sleep', '5'] } } });
    expect(pod(d).terminationGracePeriodSeconds).toBe(60);
    expect(d.spec!.template.metadata!.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' });
    expect(d.spec!.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } });
  });

  it('uses the spec image, the operator default resources, and follows spec.replicas including zero', () => {
    const d = build({ model: { uri: 's3://models/r.onnx' }, replicas: 0, runtime: { image: 'registry.local/rt:2.0' } }, { ...CFG, defaultResources: { requests: { cpu: '1', memory: '1Gi' } } } as never);
    expect(d.spec!.replicas).toBe(0);
    expect(runtime(d).image).toBe('registry.local/rt:2.0');
    expect(d.metadata!.labels!['app.kubernetes.io/version']).toBe('2.0');
    expect(runtime(d).resources).toEqual({ requests: { cpu: '1', memory: '1Gi' } });
    expect(flag(runtime(d).args!, '--intra-op-threads')).toBe('1');
  });

  it.each([['2', 2], ['1500m', 2], ['250m', 1], [3, 3], ['x', undefined], [undefined, undefined]] as const)('counts cpu %s as %s whole cores', (q, n) => {
    expect(cpuCores(q as never)).toBe(n);
  });
});
