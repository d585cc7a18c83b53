// "Did you mean" for a field name typed slightly wrong, and "quote it" for a sha256 YAML read as a number: in the
// validation messages, so in render, in local mode and in the operator's InvalidSpec condition.
import yaml from 'js-yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createLogger } from '../../common/logger.js';
import { closestNames, didYouMean, editDistance } from '../../operator/api/hints.js';
import type { ModelDeployment, ModelDeploymentStatus } from '../../operator/api/schema.js';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { Reconciler } from '../../operator/controller/reconciler.js';
import { parseManifests } from '../../local/manifests.js';
import { renderModelDeployments } from '../../operator/resources/render.js';

const manifest = (spec: string) => `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: resnet, namespace: ml }
spec:
${spec}
`;

const HEX = 'a'.repeat(64);

describe('edit distance and the closest names', () => {
  test.each([
    ['uri', 'url', 1],
    ['replicas', 'repilcas', 1], // a transposition is one edit
    ['gpu', 'gpus', 1],
    ['autoscaling', 'autoscale', 3],
    ['', 'abc', 3],
  ])('%s / %s: %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  test('a typo finds its field; a name far from every field finds none; case is ignored; ties are all named', () => {
    expect(didYouMean('url', ['uri', 'sha256', 'credentialsSecret', 'servedName'])).toBe('did you mean uri?');
    expect(didYouMean('maxbatchsize', ['maxBatchSize', 'maxQueueDelayMicroseconds'])).toBe('did you mean maxBatchSize?');
    expect(didYouMean('colour', ['model', 'replicas', 'gpu'])).toBeUndefined();
    expect(closestNames('cpus', ['cpu', 'gpus'])).toEqual(['cpu', 'gpus']);
    expect(didYouMean('cpus', ['cpu', 'gpus'])).toBe('did you mean cpu or gpus?');
  });
});

describe('validation messages', () => {
  const errorsOf = (text: string) => {
    const r = validateModelDeployment(yaml.load(text));
    if (r.ok) throw new Error('valid');
    return r.errors;
  };

  test('spec.model.url: unknown field, did you mean uri?', () => {
    expect(errorsOf(manifest('  model: { url: "https://example.com/m.onnx" }'))).toEqual(expect.arrayContaining([
      { field: 'spec.model.url', message: 'unknown field "url"; did you mean uri?', reason: 'FieldValueUnknown' },
    ]));
    // At every depth, against the siblings the schema knows there.
    expect(errorsOf(manifest('  model: { uri: "https://example.com/m.onnx" }\n  runtime: { batching: { maxBatchSize: 8, maxQueueDelayMicroseconds: 100, maxQueueDelay: 1 } }'))).toEqual([
      { field: 'spec.runtime.batching.maxQueueDelay', message: 'unknown field "maxQueueDelay"', reason: 'FieldValueUnknown' },
    ]);
    expect(errorsOf(manifest('  model: { uri: "https://example.com/m.onnx" }\n  runtime: { batching: { maxBatchSize: 8, maxBatchSise: 8 } }'))).toEqual([
      { field: 'spec.runtime.batching.maxBatchSise', message: 'unknown field "maxBatchSise"; did you mean maxBatchSize?', reason: 'FieldValueUnknown' },
    ]);
    expect(errorsOf(manifest('  model: { uri: "https://example.com/m.onnx" }\n  colour: blue'))).toEqual([
      { field: 'spec.colour', message: 'unknown field "colour"', reason: 'FieldValueUnknown' },
    ]);
  });

  test.each([
    ['all digits', '1'.repeat(64)],
    ['hex that reads as scientific notation', `${'1'.repeat(60)}e123`],
    ['hex that reads as zero in scientific notation', `${'0'.repeat(8)}e${'1'.repeat(55)}`],
  ])('a sha256 YAML read as a number (%s): quote it', (_what, sha) => {
    const [e] = errorsOf(manifest(`  model: { uri: "https://example.com/m.onnx", sha256: ${sha} }`));
    expect(e.field).toBe('spec.model.sha256');
    expect(e.reason).toBe('FieldValueTypeInvalid');
    expect(e.message).toMatch(/; YAML read this sha256 as the number \S+ \(64 digits, or digits around one e such as 1e5\.\.\., are a number in YAML\): quote it, sha256: "<64 hex digits>"$/);
    // Quoted, the same hash is a string, and valid when it is hex.
    expect(validateModelDeployment(yaml.load(manifest(`  model: { uri: "https://example.com/m.onnx", sha256: "${HEX}" }`))).ok).toBe(true);
  });
});

describe('where the hints show', () => {
  test('render names the file, the document, the field and the hint', () => {
    expect(() => renderModelDeployments([{ name: 'md.yaml', text: manifest('  model: { url: "https://example.com/m.onnx" }') }], { runtimeImage: 'r:1' }))
      .toThrow('md.yaml: document 1 (resnet): spec.model.url: unknown field "url"; did you mean uri? (FieldValueUnknown)');
  });

  test('local mode reports it with the invalid document', () => {
    const [e] = parseManifests(manifest(`  model: { uri: "https://example.com/m.onnx", sha256: ${'7'.repeat(64)} }`), 'md.yaml');
    expect(e.kind === 'invalid' && e.errors[0].message).toMatch(/quote it, sha256: "<64 hex digits>"/);
  });

  test('the operator writes it into the InvalidSpec condition', async () => {
    const md = yaml.load(manifest('  model: { url: "https://example.com/m.onnx" }')) as ModelDeployment;
    md.metadata = { ...md.metadata, uid: 'u', generation: 1 };
    const statuses: ModelDeploymentStatus[] = [];
    const applied: KubernetesObject[] = [];
    const reconciler = new Reconciler({
      cache: { modelDeployment: () => md, modelDeployments: () => [md], child: () => undefined, pods: () => [] },
      writer: { get: async () => undefined, create: async (o) => { applied.push(o); return o; }, apply: async (o) => { applied.push(o); return o; }, remove: async () => {} },
      writeStatus: async (_md, status) => {
        statuses.push(status);
      },
      events: { normal: () => {}, warning: () => {}, flush: async () => {} },
      config: { runtimeImage: 'r:1' },
      log: createLogger('test', 'error'),
      ownerGone: async () => false,
    });
    await reconciler.reconcile('ml/resnet');
    expect(applied).toEqual([]);
    const ready = statuses[0].conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready.message).toContain('spec.model.url: unknown field "url"; did you mean uri? (FieldValueUnknown)');
  });
});
