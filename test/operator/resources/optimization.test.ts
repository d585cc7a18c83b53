// spec.optimization in the rendered Deployment: an `optimize` init container after `fetch`, on the runtime's
// execution providers and resources, writing to an emptyDir the runtime reads; and the API's rules for it.
import { describe, expect, it } from '@jest/globals';
import { validateModelDeployment } from '../../../operator/api/validate.js';
import { buildDeployment, OPTIMIZED_DIR } from '../../../operator/resources/deployment.js';
import { resolveConfig } from '../../../operator/resources/config.js';
import { CFG, md } from './fixtures.js';

const cfg = resolveConfig(CFG);

describe('spec.optimization', () => {
  it('adds the optimize init container after fetch, and points the runtime at its output', () => {
    const d = buildDeployment(md({ model: { uri: 'https://models.example.com/resnet.onnx' }, optimization: { quantize: 'int8', graphOptimization: 'extended', maxAbsError: 0.05 } }), cfg);
    const pod = d.spec!.template.spec!;
    expect(pod.initContainers!.map((c) => c.name)).toEqual(['fetch', 'optimize']);
    const opt = pod.initContainers![1];
    expect(opt.args).toEqual([
      'optimize', '--model', '/models/resnet.onnx', '--out', OPTIMIZED_DIR, '--quantize', 'int8', '--graph-optimization', 'extended',
      '--execution-providers', 'cpu', '--max-abs-error', '0.05', '--min-cosine', '0.99', '--min-speedup', '1', '--fallback-to-original', '--log-level', 'info',
    ]);
    expect(opt.volumeMounts).toEqual(expect.arrayContaining([
      { name: 'models', mountPath: '/models', readOnly: true },
      { name: 'optimized', mountPath: OPTIMIZED_DIR },
    ]));
    expect(opt.securityContext).toEqual(pod.containers[0].securityContext);
    expect(pod.volumes).toContainEqual({ name: 'optimized', emptyDir: {} });
    const runtime = pod.containers[0];
    expect(runtime.args!.join(' ')).toContain(`--optimized-model-dir ${OPTIMIZED_DIR}`);
    expect(runtime.volumeMounts).toContainEqual({ name: 'optimized', mountPath: OPTIMIZED_DIR, readOnly: true });
    expect(d.spec!.template.metadata!.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes']).toBe('models,optimized,tmp');
  });

  it('on a GPU: fp16, measured on the runtime\'s providers with the GPU the runtime gets', () => {
    const d = buildDeployment(md({ model: { uri: 'pvc://models/bert' }, gpu: { count: 1 }, optimization: { quantize: 'fp16' } }), cfg);
    const pod = d.spec!.template.spec!;
    expect(pod.initContainers!.map((c) => c.name)).toEqual(['optimize']);
    const opt = pod.initContainers![0];
    expect(opt.args).toEqual(expect.arrayContaining(['--quantize', 'fp16', '--execution-providers', 'cuda,cpu']));
    // The same model path the runtime is given.
    const runtimeArgs = pod.containers[0].args!;
    expect(opt.args![opt.args!.indexOf('--model') + 1]).toBe(runtimeArgs[runtimeArgs.indexOf('--model') + 1]);
    expect(opt.resources!.limits!['nvidia.com/gpu']).toBe('1');
    expect(opt.volumeMounts).toContainEqual(expect.objectContaining({ name: 'model', readOnly: true }));
  });

  it('without spec.optimization nothing changes', () => {
    const d = buildDeployment(md({ model: { uri: 'https://models.example.com/resnet.onnx' } }), cfg);
    expect(d.spec!.template.spec!.initContainers!.map((c) => c.name)).toEqual(['fetch']);
    expect(d.spec!.template.spec!.containers[0].args).not.toContain('--optimized-model-dir');
  });

  it.each([
    [{ quantize: 'fp16' }, false, /fp16 needs a GPU/],
    [{}, false, /needs quantize or graphOptimization/],
    [{ quantize: 'int4' }, false, /quantize/],
    [{ quantize: 'int8', minCosine: 1.5 }, false, /minCosine/],
    [{ quantize: 'int8', maxAbsError: -1 }, false, /maxAbsError/],
    [{ quantize: 'int8', minSpeedup: -0.5 }, false, /minSpeedup/],
    [{ quantize: 'int8', minSpeedup: 0 }, true, undefined],
    [{ graphOptimization: 'all' }, true, undefined],
  ])('validation of %j', (optimization, ok, message) => {
    const r = validateModelDeployment({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'm' }, spec: { model: { uri: 'https://h/m.onnx' }, optimization } });
    expect(r.ok).toBe(ok);
    if (!r.ok) expect(JSON.stringify(r.errors)).toMatch(message!);
  });
});
