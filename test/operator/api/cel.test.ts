// Every CEL rule of the CRD, evaluated with a CEL implementation on values that must pass and values that must fail.
import { buildCrd } from '../../../operator/api/crd.js';
import { evaluateRule, listRules } from '../../../operator/api/cel.js';

const root = buildCrd().spec.versions[0].schema.openAPIV3Schema as Record<string, unknown>;
const rules = listRules(root);

const HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

// path of the node -> values of that node which pass and which fail, for every rule at that node together.
const CASES: Record<string, { pass: unknown[]; fail: unknown[] }> = {
  // Every rule at spec together: the GPU needs a GPU provider, fp16 needs a GPU.
  spec: {
    pass: [
      { runtime: {} }, { runtime: { executionProviders: ['cpu'] } }, { gpu: {}, runtime: {} }, { gpu: {}, runtime: { executionProviders: ['cuda', 'cpu'] } }, { gpu: {}, runtime: { executionProviders: ['cuda'] } },
      { optimization: { quantize: 'fp16' }, gpu: { count: 1 } }, { optimization: { quantize: 'int8' } }, { optimization: { graphOptimization: 'all' } }, {},
    ],
    fail: [{ gpu: {}, runtime: { executionProviders: ['cpu'] } }, { optimization: { quantize: 'fp16' } }, { optimization: { quantize: 'fp16', graphOptimization: 'all' } }],
  },
  'spec.model': {
    pass: [{ uri: 's3://b/k.onnx', credentialsSecret: 'store' }, { uri: 'https://h/m.onnx', credentialsSecret: 'hf' }, { uri: 'pvc://c/m.onnx' }, { uri: 'pvc://c/m.onnx', sha256: HEX }],
    fail: [{ uri: 'pvc://c/m.onnx', credentialsSecret: 'store' }, { uri: 'file:///m.onnx', credentialsSecret: 'x' }],
  },
  'spec.model.uri': {
    pass: [
      'https://huggingface.co/org/repo/resolve/main/model.onnx',
      'https://bucket.s3.amazonaws.com/m.onnx?X-Amz-Signature=abc&X-Amz-Expires=60',
      'http://minio.storage:9000/models/resnet.onnx',
      's3://models/resnet/model.onnx',
      's3://models/resnet/',
      'pvc://model-store/resnet/model.onnx',
      'pvc://model-store',
      'file:///opt/models/resnet.onnx',
    ],
    fail: ['ftp://host/m.onnx', 's3://models', 's3:///k', 'pvc://Bad_Claim/m.onnx', 'file://relative/m.onnx', 'resnet.onnx', 'https://', 'https://host/m .onnx', ''],
  },
  'spec.model.sha256': { pass: [HEX], fail: [HEX.toUpperCase(), HEX.slice(1), `${HEX.slice(1)}g`, 'sha256:abc'] },
  'spec.model.credentialsSecret': { pass: ['model-store', 's3.creds'], fail: ['Model_Store', '-store', 'store-'] },
  'spec.model.servedName': { pass: ['resnet', 'ResNet-50_v1.5'], fail: ['-resnet', 'res/net', 'res net', 'x.'] },
  'spec.autoscaling': {
    pass: [
      { mode: 'builtin', metric: 'concurrency', minReplicas: 1, maxReplicas: 8 },
      { mode: 'keda', metric: 'concurrency', minReplicas: 3, maxReplicas: 3 },
      { mode: 'hpa', metric: 'cpu', minReplicas: 1, maxReplicas: 2 },
      { mode: 'builtin', metric: 'concurrency', minReplicas: 0, maxReplicas: 2 },
      { mode: 'none', metric: 'concurrency', minReplicas: 0, maxReplicas: 2 },
    ],
    fail: [
      { mode: 'builtin', metric: 'concurrency', minReplicas: 5, maxReplicas: 2 },
      { mode: 'builtin', metric: 'concurrency', minReplicas: 2, maxReplicas: 1 },
      { mode: 'builtin', metric: 'cpu', minReplicas: 1, maxReplicas: 2 },
      { mode: 'keda', metric: 'cpu', minReplicas: 1, maxReplicas: 2 },
      { mode: 'hpa', metric: 'concurrency', minReplicas: 0, maxReplicas: 2 },
      { mode: 'hpa', metric: 'cpu', minReplicas: 0, maxReplicas: 2 },
      { mode: 'keda', metric: 'concurrency', minReplicas: 0, maxReplicas: 2 },
    ],
  },
  'spec.gpu.resource': {
    pass: ['nvidia.com/gpu', 'nvidia.com/mig-1g.10gb', 'nvidia.com/mig-3g.40gb', 'nvidia.com/mig-1g.10gb+me'],
    fail: ['amd.com/gpu', 'nvidia.com/gpux', 'nvidia.com/mig-', 'nvidiaxcom/mig-1g.10gb', 'cpu'],
  },
  'spec.gpu.product': { pass: ['NVIDIA-H100-80GB-HBM3', 'Tesla-T4', ''], fail: ['NVIDIA H100', '-H100', 'H100-'] },
  'spec.scheduling.priorityClassName': { pass: ['high-priority', 'system-cluster-critical'], fail: ['High', 'a_b'] },
  'spec.scheduling.runtimeClassName': { pass: ['nvidia'], fail: ['NVIDIA', 'nv idia'] },
  'spec.runtime': {
    pass: [{ maxQueueSize: 512 }, { maxQueueSize: 32, batching: { maxBatchSize: 32 } }, { maxQueueSize: 512, batching: { maxBatchSize: 8 } }],
    fail: [{ maxQueueSize: 4, batching: { maxBatchSize: 8 } }],
  },
  'spec.optimization': { pass: [{ quantize: 'int8' }, { graphOptimization: 'basic' }, { quantize: 'fp16', graphOptimization: 'all' }], fail: [{}, { minCosine: 0.9 }] },
  'spec.runtime.executionProviders': { pass: [['cuda', 'cpu'], ['cpu'], ['cpu', 'cuda']], fail: [['cpu', 'cpu'], ['cuda', 'cpu', 'cuda']] },
  ...Object.fromEntries(['spec.runtime.warmup', 'spec.optimization.samples'].flatMap((path) => [
    [path, { pass: [{ uri: 'https://h/w.json' }, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] }], fail: [{}, { uri: 'https://h/w.json', inputs: [] }] }],
    [`${path}.uri`, {
      pass: ['https://h/samples/warmup.json', 'http://minio:9000/b/w.json?X-Amz-Signature=s', 's3://bucket/warm/up.json', 'file:///samples/w.json'],
      fail: ['https://h', 'https://h/', 'https://h/dir/', 's3://bucket', 's3://bucket/dir/', 'pvc://claim/w.json', 'file:///', 'ftp://h/w.json', 'w.json', 'https://h/w .json'],
    }],
  ])),
};

describe('CEL validation rules', () => {
  it('every rule in the CRD has cases here, and every case names a rule', () => {
    const paths = [...new Set(rules.map((r) => r.path))].sort();
    expect(paths).toEqual(Object.keys(CASES).sort());
  });

  it('every rule has a message and a known reason, and parses', () => {
    for (const { rule } of rules) {
      expect(rule.message.length).toBeGreaterThan(10);
      expect(['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired']).toContain(rule.reason);
    }
  });

  for (const [path, { pass, fail }] of Object.entries(CASES)) {
    describe(path, () => {
      const here = () => rules.filter((r) => r.path === path);
      it.each(pass.map((v) => [JSON.stringify(v), v]))('accepts %s', (_label, value) => {
        for (const { rule, schema } of here()) expect({ rule: rule.rule, ok: evaluateRule(rule.rule, schema, value) }).toEqual({ rule: rule.rule, ok: true });
      });
      it.each(fail.map((v) => [JSON.stringify(v), v]))('rejects %s', (_label, value) => {
        // A failing value breaks at least one rule at this node (an object node can hold several).
        expect(here().some(({ rule, schema }) => !evaluateRule(rule.rule, schema, value))).toBe(true);
      });
    });
  }
});
