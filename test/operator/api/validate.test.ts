import { validateModelDeployment, formatErrors, withDefaults } from '../../../operator/api/validate.js';

const HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

function md(spec: unknown, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'resnet', namespace: 'ml' }, spec, ...extra };
}

describe('validateModelDeployment', () => {
  it('applies the schema defaults and returns the object', () => {
    const r = validateModelDeployment(md({ model: { uri: 's3://models/resnet.onnx' }, gpu: {}, autoscaling: { maxReplicas: 4 }, runtime: { batching: { maxBatchSize: 16 } } }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.metadata).toEqual({ name: 'resnet', namespace: 'ml' });
    expect(r.value.spec).toEqual({
      model: { uri: 's3://models/resnet.onnx' },
      replicas: 1,
      gpu: { count: 1, resource: 'nvidia.com/gpu' },
      autoscaling: { mode: 'builtin', metric: 'concurrency', minReplicas: 1, maxReplicas: 4, targetConcurrency: 4, targetSequences: 24, targetCPUUtilizationPercent: 80, scaleDownDelaySeconds: 300, scaleToZeroDelaySeconds: 300 },
      runtime: { graphOptimizationLevel: 'all', intraOpThreads: 0, maxQueueSize: 512, instances: 1, batching: { maxBatchSize: 16, maxQueueDelayMicroseconds: 1000 } },
    });
  });

  it('does not change its input', () => {
    const input = md({ model: { uri: 's3://models/resnet.onnx' } });
    const before = JSON.stringify(input);
    validateModelDeployment(input);
    withDefaults(input.spec);
    expect(JSON.stringify(input)).toBe(before);
  });

  it('accepts a full spec with upstream Kubernetes types', () => {
    const r = validateModelDeployment(
      md({
        model: { uri: 's3://models/resnet/model.onnx', sha256: HEX, credentialsSecret: 'model-store', servedName: 'resnet' },
        replicas: 0,
        autoscaling: { minReplicas: 1, maxReplicas: 8, targetConcurrency: 4, scaleDownDelaySeconds: 300 },
        resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '4Gi', cpu: 2 } },
        gpu: { count: 1, resource: 'nvidia.com/mig-1g.10gb', product: 'NVIDIA-H100-80GB-HBM3' },
        scheduling: {
          nodeSelector: { 'topology.kubernetes.io/zone': 'us-east-1a' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }, { key: 'spot', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }],
          affinity: {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'In', values: ['a100', 'h100'] }] }] } },
            podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } } }] },
          },
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }],
          priorityClassName: 'inference-high',
          runtimeClassName: 'nvidia',
        },
        runtime: { image: 'ghcr.io/acme/runtime:1.2', executionProviders: ['cuda', 'cpu'], graphOptimizationLevel: 'extended', intraOpThreads: 4, batching: { maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 }, maxQueueSize: 256, instances: 2 },
      }),
    );
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  const bad: [string, unknown, { field: string; reason: string; message?: RegExp }[]][] = [
    ['a missing spec', md(undefined), [{ field: 'spec', reason: 'FieldValueRequired' }]],
    ['a missing uri', md({ model: {} }), [{ field: 'spec.model.uri', reason: 'FieldValueRequired' }]],
    ['a wrong apiVersion and kind', md({ model: { uri: 's3://bucket/k.onnx' } }, { apiVersion: 'v1', kind: 'Pod' }), [{ field: 'apiVersion', reason: 'FieldValueNotSupported' }, { field: 'kind', reason: 'FieldValueNotSupported' }]],
    ['no metadata.name', { ...md({ model: { uri: 's3://bucket/k.onnx' } }), metadata: {} }, [{ field: 'metadata.name', reason: 'FieldValueRequired' }]],
    ['an unsupported uri scheme', md({ model: { uri: 'ftp://h/m.onnx' } }), [{ field: 'spec.model.uri', reason: 'FieldValueInvalid', message: /uri must be/ }]],
    ['a short sha256', md({ model: { uri: 's3://bucket/k.onnx', sha256: 'abc' } }), [{ field: 'spec.model.sha256', reason: 'FieldValueInvalid', message: /64 lower-case/ }]],
    ['credentials for a pvc', md({ model: { uri: 'pvc://c/m.onnx', credentialsSecret: 's' } }), [{ field: 'spec.model.credentialsSecret', reason: 'FieldValueForbidden' }]],
    ['minReplicas above maxReplicas', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: { minReplicas: 5, maxReplicas: 2 } }), [{ field: 'spec.autoscaling.minReplicas', reason: 'FieldValueInvalid', message: /must not exceed maxReplicas/ }]],
    ['minReplicas 0 with mode hpa', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: { mode: 'hpa', minReplicas: 0, maxReplicas: 2 } }), [{ field: 'spec.autoscaling.minReplicas', reason: 'FieldValueInvalid', message: /^minReplicas 0 needs mode builtin: a HorizontalPodAutoscaler scales to zero only behind the alpha feature gate HPAScaleToZero$/ }]],
    ['minReplicas 0 with mode keda', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: { mode: 'keda', minReplicas: 0, maxReplicas: 2 } }), [{ field: 'spec.autoscaling.minReplicas', reason: 'FieldValueInvalid', message: /^minReplicas 0 needs mode builtin: the ScaledObject's trigger reads the runtime pods/ }]],
    ['a negative scaleToZeroDelaySeconds', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: { minReplicas: 0, maxReplicas: 2, scaleToZeroDelaySeconds: -1 } }), [{ field: 'spec.autoscaling.scaleToZeroDelaySeconds', reason: 'FieldValueInvalid' }]],
    ['metric cpu outside mode hpa', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: { metric: 'cpu', maxReplicas: 2 } }), [{ field: 'spec.autoscaling.metric', reason: 'FieldValueInvalid', message: /applies only to mode hpa/ }]],
    ['an unknown autoscaling mode', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: { mode: 'vpa', maxReplicas: 2 } }), [{ field: 'spec.autoscaling.mode', reason: 'FieldValueNotSupported' }]],
    ['autoscaling without maxReplicas', md({ model: { uri: 's3://bucket/k.onnx' }, autoscaling: {} }), [{ field: 'spec.autoscaling.maxReplicas', reason: 'FieldValueRequired' }]],
    ['negative replicas', md({ model: { uri: 's3://bucket/k.onnx' }, replicas: -1 }), [{ field: 'spec.replicas', reason: 'FieldValueInvalid' }]],
    ['fractional replicas', md({ model: { uri: 's3://bucket/k.onnx' }, replicas: 1.5 }), [{ field: 'spec.replicas', reason: 'FieldValueTypeInvalid' }]],
    ['replicas as a string', md({ model: { uri: 's3://bucket/k.onnx' }, replicas: '2' }), [{ field: 'spec.replicas', reason: 'FieldValueTypeInvalid' }]],
    ['an AMD GPU resource', md({ model: { uri: 's3://bucket/k.onnx' }, gpu: { resource: 'amd.com/gpu' } }), [{ field: 'spec.gpu.resource', reason: 'FieldValueInvalid' }]],
    ['zero GPUs', md({ model: { uri: 's3://bucket/k.onnx' }, gpu: { count: 0 } }), [{ field: 'spec.gpu.count', reason: 'FieldValueInvalid' }]],
    ['a bad quantity', md({ model: { uri: 's3://bucket/k.onnx' }, resources: { limits: { memory: '4GB' } } }), [{ field: 'spec.resources.limits.memory', reason: 'FieldValueInvalid', message: /quantity/ }]],
    ['a bad toleration effect', md({ model: { uri: 's3://bucket/k.onnx' }, scheduling: { tolerations: [{ key: 'k', effect: 'Never' }] } }), [{ field: 'spec.scheduling.tolerations[0].effect', reason: 'FieldValueNotSupported', message: /NoSchedule/ }]],
    ['a topology spread without topologyKey', md({ model: { uri: 's3://bucket/k.onnx' }, scheduling: { topologySpreadConstraints: [{ maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway' }] } }), [{ field: 'spec.scheduling.topologySpreadConstraints[0].topologyKey', reason: 'FieldValueRequired' }]],
    ['an unknown execution provider', md({ model: { uri: 's3://bucket/k.onnx' }, runtime: { executionProviders: ['rocm'] } }), [{ field: 'spec.runtime.executionProviders[0]', reason: 'FieldValueNotSupported' }]],
    ['a repeated execution provider', md({ model: { uri: 's3://bucket/k.onnx' }, runtime: { executionProviders: ['cpu', 'cpu'] } }), [{ field: 'spec.runtime.executionProviders', message: 'executionProviders must not repeat a provider', reason: 'FieldValueInvalid' }]],
    ['a GPU with only the CPU provider', md({ model: { uri: 's3://bucket/k.onnx' }, gpu: {}, runtime: { executionProviders: ['cpu'] } }), [{ field: 'spec.runtime.executionProviders', reason: 'FieldValueInvalid', message: /must include cuda/ }]],
    ['zero instances', md({ model: { uri: 's3://bucket/k.onnx' }, runtime: { instances: 0 } }), [{ field: 'spec.runtime.instances', reason: 'FieldValueInvalid' }]],
    ['the removed GPU memory cap', md({ model: { uri: 's3://bucket/k.onnx' }, runtime: { gpuMemoryLimitBytes: 1024 } }), [{ field: 'spec.runtime.gpuMemoryLimitBytes', reason: 'FieldValueUnknown' }]],
    ['a queue smaller than a batch', md({ model: { uri: 's3://bucket/k.onnx' }, runtime: { maxQueueSize: 4, batching: { maxBatchSize: 8 } } }), [{ field: 'spec.runtime.maxQueueSize', reason: 'FieldValueInvalid' }]],
    ['zero running sequences', md({ model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxNumSeqs: 0 } } }), [{ field: 'spec.runtime.generation.maxNumSeqs', reason: 'FieldValueInvalid', message: /greater or equal to 1$/ }]],
    ['a negative model length', md({ model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxModelLen: -1 } } }), [{ field: 'spec.runtime.generation.maxModelLen', reason: 'FieldValueInvalid', message: /greater or equal to 0$/ }]],
    ['a KV cache budget of a few bytes', md({ model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxKvCacheBytes: 100 } } }), [{ field: 'spec.runtime.generation.maxKvCacheBytes', reason: 'FieldValueInvalid', message: /greater or equal to 1024/ }]],
    ['a KV cache budget as a quantity string', md({ model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxKvCacheBytes: '2Gi' } } }), [{ field: 'spec.runtime.generation.maxKvCacheBytes', reason: 'FieldValueTypeInvalid' }]],
    ['a KV cache budget above the memory limit', md({ model: { uri: 'pvc://models/llm/model.onnx' }, resources: { limits: { memory: '2Gi' } }, runtime: { generation: { maxKvCacheBytes: 3 * 2 ** 30 } } }), [
      { field: 'spec.runtime.generation.maxKvCacheBytes', reason: 'FieldValueInvalid', message: /3221225472 bytes exceed resources\.limits\.memory "2Gi" \(2147483648 bytes\)/ },
    ]],
    ['a misspelt generation field', md({ model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxNumSeq: 8 } } }), [{ field: 'spec.runtime.generation.maxNumSeq', reason: 'FieldValueUnknown', message: /did you mean maxNumSeqs\?/ }]],
    ['a sequences target above maxNumSeqs', md({ model: { uri: 'pvc://models/llm/model.onnx' }, autoscaling: { metric: 'sequences', maxReplicas: 4, targetSequences: 12 }, runtime: { generation: { maxNumSeqs: 8 } } }), [
      { field: 'spec.autoscaling.targetSequences', reason: 'FieldValueInvalid', message: /must not exceed runtime\.generation\.maxNumSeqs/ },
    ]],
    ['a sequences target above the default maxNumSeqs', md({ model: { uri: 'pvc://models/llm/model.onnx' }, autoscaling: { metric: 'sequences', maxReplicas: 4, targetSequences: 33 } }), [{ field: 'spec.autoscaling.targetSequences', reason: 'FieldValueInvalid' }]],
    ['a misspelt field', md({ model: { uri: 's3://bucket/k.onnx' }, replica: 3 }), [{ field: 'spec.replica', reason: 'FieldValueUnknown' }]],
    ['an unknown field in an upstream type', md({ model: { uri: 's3://bucket/k.onnx' }, scheduling: { tolerations: [{ key: 'k', effct: 'NoSchedule' }] } }), [{ field: 'spec.scheduling.tolerations[0].effct', reason: 'FieldValueUnknown' }]],
    ['a non-object', 'resnet', [{ field: '', reason: 'FieldValueTypeInvalid' }]],
  ];

  const notChecked = (e: { message: string }) => e.message.startsWith('some validation rules were not checked');

  it.each(bad)('rejects %s, naming the field and the reason', (_name, input, expected) => {
    const r = validateModelDeployment(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const errors = r.errors.filter((e) => !notChecked(e));
    expect(errors.map((e) => ({ field: e.field, reason: e.reason }))).toEqual(expected.map(({ field, reason }) => ({ field, reason })));
    expected.forEach((e, i) => {
      if (e.message) expect(errors[i].message).toMatch(e.message);
    });
  });

  it('accepts generation bounds, a KV cache budget within the memory limit, and scaling on sequences in every mode', () => {
    for (const mode of ['builtin', 'hpa', 'keda']) {
      const r = validateModelDeployment(md({
        model: { uri: 'pvc://models/llm/model.onnx' },
        resources: { limits: { memory: '8Gi' } },
        autoscaling: { mode, metric: 'sequences', maxReplicas: 4, targetSequences: 16 },
        runtime: { generation: { maxNumSeqs: 16, maxKvCacheBytes: 2 * 2 ** 30 } },
      }));
      expect(r.ok ? [] : r.errors).toEqual([]);
      if (r.ok) expect(r.value.spec.runtime.generation).toEqual({ maxNumSeqs: 16, maxModelLen: 0, maxKvCacheBytes: 2 * 2 ** 30 });
    }
    // Without a memory limit there is nothing to compare the budget with: the runtime's own memory is the bound.
    expect(validateModelDeployment(md({ model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxKvCacheBytes: 2 ** 40 } } })).ok).toBe(true);
  });

  it('runs the CEL rules beside other schema errors, but not after a missing, mistyped or oversized field, and says so (as a v1.28 API server)', () => {
    const beside = validateModelDeployment(md({ model: { uri: 'ftp://h/m.onnx' }, replicas: -1 }));
    expect(beside.ok ? [] : beside.errors.map((e) => e.field)).toEqual(['spec.replicas', 'spec.model.uri']);
    for (const spec of [{ model: { uri: 'ftp://h/m.onnx' }, replicas: 'x' }, { model: { uri: 'ftp://h/m.onnx', sha256: 'a'.repeat(65) } }, { model: {}, autoscaling: { minReplicas: 5, maxReplicas: 2 } }]) {
      const r = validateModelDeployment(md(spec));
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.errors.some((e) => /must not exceed|uri must be/.test(e.message))).toBe(false);
      expect(r.errors.filter(notChecked)).toEqual([{ field: '', reason: 'FieldValueInvalid', message: 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation' }]);
    }
  });

  it('formats errors one per field for conditions and the CLI', () => {
    const r = validateModelDeployment(md({ model: { uri: 'ftp://x' }, autoscaling: { minReplicas: 3, maxReplicas: 1 } }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(formatErrors(r.errors)).toMatch(/^spec\.model\.uri: uri must be .*\(FieldValueInvalid\); spec\.autoscaling\.minReplicas: minReplicas must not exceed maxReplicas \(FieldValueInvalid\)$/);
  });
});
