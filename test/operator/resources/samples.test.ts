// spec.runtime.warmup and spec.optimization.samples in the rendered Deployment: a remote file fetched by an init
// container next to the model, a file:// path read in place, inline inputs carried by an annotation of the pod
// template and mounted as a file by a downward API volume; the runtime and the optimise step get the path.
import type { V1Container, V1Deployment } from '@kubernetes/client-node';
import { validateModelDeployment } from '../../../operator/api/validate.js';
import { resolveConfig } from '../../../operator/resources/config.js';
import { buildDeployment } from '../../../operator/resources/deployment.js';
import { validateObject, type KubeObject } from '../../chart/kube-schemas.js';
import { CFG, md } from './fixtures.js';

const cfg = resolveConfig(CFG);
const pod = (d: V1Deployment) => d.spec!.template.spec!;
const arg = (c: V1Container, flag: string) => (c.args!.includes(flag) ? c.args![c.args!.indexOf(flag) + 1] : undefined);
const runtime = (d: V1Deployment) => pod(d).containers[0];
const init = (d: V1Deployment, name: string) => pod(d).initContainers?.find((c) => c.name === name);
const INPUTS = [{ name: 'audio', datatype: 'FP32', shape: [3], data: [0.5, -1, 2] }, { name: 'sample_rate', datatype: 'INT64', shape: [], data: [16000] }];

test('a remote warm-up file: fetched by its own init container after the model, with the model\'s credentials, into an emptyDir the runtime reads', async () => {
  const d = buildDeployment(md({ model: { uri: 's3://models/asr/model.onnx', credentialsSecret: 'store' }, runtime: { warmup: { uri: 's3://models/asr/warm%20up.json' } } }), cfg);
  expect(pod(d).initContainers!.map((c) => c.name)).toEqual(['fetch', 'fetch-warmup']);
  const fetch = init(d, 'fetch-warmup')!;
  expect(fetch.args).toEqual(['fetch', '--uri', 's3://models/asr/warm%20up.json', '--dest', '/samples/warmup', '--credentials-dir', '/var/run/secrets/modelplane/credentials', '--log-level', 'info']);
  expect(fetch.volumeMounts).toEqual([
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'credentials', mountPath: '/var/run/secrets/modelplane/credentials', readOnly: true },
    { name: 'samples', mountPath: '/samples' },
  ]);
  expect(fetch.securityContext).toEqual(runtime(d).securityContext);
  expect(fetch.image).toBe(runtime(d).image);
  // Where fetch leaves it: an S3 key's last segment as it is (keys are not percent-encoded), a URL's decoded.
  expect(arg(runtime(d), '--warmup')).toBe('/samples/warmup/warm%20up.json');
  const https = buildDeployment(md({ model: { uri: 'https://h/m.onnx' }, runtime: { warmup: { uri: 'https://h/warm%20up.json?sig=x' } } }), cfg);
  expect(arg(runtime(https), '--warmup')).toBe('/samples/warmup/warm up.json');
  expect(runtime(d).volumeMounts).toContainEqual({ name: 'samples', mountPath: '/samples', readOnly: true });
  expect(pod(d).volumes).toContainEqual({ name: 'samples', emptyDir: {} });
  expect(d.spec!.template.metadata!.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes']).toBe('models,samples,tmp');
  await validateObject(d as unknown as KubeObject);
});

test('inline inputs: the request body in a pod template annotation, a downward API volume making it a file, no init container', async () => {
  const d = buildDeployment(md({ model: { uri: 'file:///models/asr.onnx' }, runtime: { warmup: { inputs: INPUTS } } }), cfg);
  expect(pod(d).initContainers).toBeUndefined();
  const annotations = d.spec!.template.metadata!.annotations!;
  expect(JSON.parse(annotations['serving.modelplane.io/warmup-request'])).toEqual({ inputs: INPUTS });
  expect(pod(d).volumes).toContainEqual({
    name: 'inline-samples',
    downwardAPI: { items: [{ path: 'warmup.json', fieldRef: { fieldPath: "metadata.annotations['serving.modelplane.io/warmup-request']" } }] },
  });
  expect(runtime(d).volumeMounts).toContainEqual({ name: 'inline-samples', mountPath: '/etc/modelplane/samples', readOnly: true });
  expect(arg(runtime(d), '--warmup')).toBe('/etc/modelplane/samples/warmup.json');
  await validateObject(d as unknown as KubeObject);
});

test('a file:// warm-up file is read in place (it is in the image)', () => {
  const d = buildDeployment(md({ model: { uri: 'file:///models/asr.onnx' }, runtime: { warmup: { uri: 'file:///models/warmup.json' } } }), cfg);
  expect(pod(d).initContainers).toBeUndefined();
  expect(arg(runtime(d), '--warmup')).toBe('/models/warmup.json');
  expect(pod(d).volumes!.map((v) => v.name)).toEqual(['tmp']);
});

test('the optimise step compares on the warm-up samples by default, and on spec.optimization.samples when given', async () => {
  const shared = buildDeployment(md({ model: { uri: 'https://h/m.onnx' }, runtime: { warmup: { inputs: INPUTS } }, optimization: { graphOptimization: 'basic' } }), cfg);
  const opt = init(shared, 'optimize')!;
  expect(arg(opt, '--samples')).toBe('/etc/modelplane/samples/warmup.json');
  expect(opt.volumeMounts).toContainEqual({ name: 'inline-samples', mountPath: '/etc/modelplane/samples', readOnly: true });

  const own = buildDeployment(md({ model: { uri: 'https://h/m.onnx' }, runtime: { warmup: { inputs: INPUTS } }, optimization: { graphOptimization: 'basic', samples: { uri: 'https://h/gate/samples.json' } } }), cfg);
  expect(pod(own).initContainers!.map((c) => c.name)).toEqual(['fetch', 'fetch-samples', 'optimize']);
  expect(init(own, 'fetch-samples')!.args).toEqual(['fetch', '--uri', 'https://h/gate/samples.json', '--dest', '/samples/samples', '--log-level', 'info']);
  expect(arg(init(own, 'optimize')!, '--samples')).toBe('/samples/samples/samples.json');
  expect(init(own, 'optimize')!.volumeMounts).toContainEqual({ name: 'samples', mountPath: '/samples', readOnly: true });
  expect(arg(runtime(own), '--warmup')).toBe('/etc/modelplane/samples/warmup.json');

  const inlineBoth = buildDeployment(md({ model: { uri: 'https://h/m.onnx' }, runtime: { warmup: { inputs: INPUTS } }, optimization: { graphOptimization: 'basic', samples: { inputs: INPUTS.slice(0, 1) } } }), cfg);
  const items = pod(inlineBoth).volumes!.find((v) => v.name === 'inline-samples')!.downwardAPI!.items!;
  expect(items.map((i) => i.path)).toEqual(['warmup.json', 'samples.json']);
  expect(arg(init(inlineBoth, 'optimize')!, '--samples')).toBe('/etc/modelplane/samples/samples.json');
  await validateObject(inlineBoth as unknown as KubeObject);

  const none = buildDeployment(md({ model: { uri: 'https://h/m.onnx' }, optimization: { graphOptimization: 'basic' } }), cfg);
  expect(init(none, 'optimize')!.args).not.toContain('--samples');
});

describe('validation of sample requests', () => {
  const check = (warmup: unknown) => validateModelDeployment({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'm' }, spec: { model: { uri: 'https://h/m.onnx' }, runtime: { warmup } } });
  test.each([
    [{ uri: 'https://h/warmup.json' }, undefined],
    [{ uri: 's3://bucket/warm/up.json' }, undefined],
    [{ uri: 'file:///samples/w.json' }, undefined],
    [{ inputs: INPUTS }, undefined],
    [{ uri: 'https://h/w.json', inputs: INPUTS }, /spec\.runtime\.warmup: give uri or inputs, not both/],
    [{}, /spec\.runtime\.warmup: give uri or inputs, not both/],
    [{ uri: 'pvc://claim/w.json' }, /spec\.runtime\.warmup\.uri: uri must name a file/],
    [{ uri: 'https://h/folder/' }, /spec\.runtime\.warmup\.uri: uri must name a file/],
    [{ inputs: [{ name: 'flag', datatype: 'BOOL', shape: [1], data: [1] }] }, /spec\.runtime\.warmup\.inputs\[0\]\.datatype: Unsupported value "BOOL"/],
    [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: ['a', 'b'] }] }, /spec\.runtime\.warmup\.inputs\[0\]\.data\[0\]/],
    [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [2000], data: Array(2000).fill(0) }] }, /spec\.runtime\.warmup\.inputs\[0\]\.data/],
  ])('%j', (warmup, error) => {
    const r = check(warmup);
    if (!error) expect(r).toMatchObject({ ok: true });
    else expect(r.ok ? '' : r.errors.map((e) => `${e.field}: ${e.message}`).join('; ')).toMatch(error);
  });
});
