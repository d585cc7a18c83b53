// Which documents local mode runs, which it refuses (with field and reason) and which it skips.
import { parseManifests, rejectDuplicates } from '../../local/manifests.js';

const doc = (name: string, spec: string) => `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: ${name} }
spec:
${spec}
`;

describe('parseManifests', () => {
  test('multi-document YAML: ModelDeployments run, other kinds are skipped with a note', () => {
    const text = [
      doc('a', '  model: { uri: file:///m/a.onnx }'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\n',
      doc('b', '  model: { uri: "https://example.com/b.onnx" }\n  replicas: 3'),
      '',
    ].join('---\n');
    const out = parseManifests(text, 'x.yaml');
    expect(out.map((e) => e.kind)).toEqual(['deployment', 'skipped', 'deployment']);
    expect(out[1]).toMatchObject({ source: 'x.yaml (document 2)', note: expect.stringContaining('ConfigMap cm is not a ModelDeployment') });
    const b = out[2] as Extract<(typeof out)[number], { kind: 'deployment' }>;
    expect(b.md.spec.replicas).toBe(3);
    expect(b.md.spec.runtime.maxQueueSize).toBe(512); // defaults applied, as the API server would
  });

  test.each([
    ['a CEL rule', '  model: { uri: "ftp://host/m.onnx" }', 'spec.model.uri', 'FieldValueInvalid'],
    ['the structural schema', '  model: { uri: file:///m.onnx }\n  replicas: -1', 'spec.replicas', 'FieldValueInvalid'],
    ['an unknown field', '  model: { uri: file:///m.onnx }\n  replica: 2', 'spec.replica', 'FieldValueUnknown'],
    ['an enum', '  model: { uri: file:///m.onnx }\n  runtime: { graphOptimizationLevel: max }', 'spec.runtime.graphOptimizationLevel', 'FieldValueNotSupported'],
    ['pvc:// (needs a cluster)', '  model: { uri: pvc://models/resnet }', 'spec.model.uri', 'FieldValueNotSupported'],
  ])('%s: refused with the field and the reason', (_what, spec, field, reason) => {
    const [e] = parseManifests(doc('bad', spec), 'bad.yaml');
    expect(e.kind).toBe('invalid');
    if (e.kind !== 'invalid') return;
    expect(e.name).toBe('bad');
    expect(e.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, reason })]));
  });

  test('pvc:// is refused with a message that says what to use instead', () => {
    const [e] = parseManifests(doc('p', '  model: { uri: pvc://models/resnet }'), 'p.yaml');
    expect(e.kind === 'invalid' && e.errors[0].message).toMatch(/PersistentVolumeClaim.*file:\/\/\/absolute\/path/);
  });

  test('YAML that does not parse is one invalid entry, not a crash', () => {
    const [e] = parseManifests('kind: [unclosed', 'broken.yaml');
    expect(e).toMatchObject({ kind: 'invalid', source: 'broken.yaml', errors: [{ reason: 'InvalidYAML' }] });
  });

  test('a second ModelDeployment of the same name, or serving the same model name, is refused', () => {
    const entries = rejectDuplicates([
      ...parseManifests(doc('a', '  model: { uri: file:///m/a.onnx, servedName: shared }'), 'one.yaml'),
      ...parseManifests(doc('a', '  model: { uri: file:///m/b.onnx }'), 'two.yaml'),
      ...parseManifests(doc('c', '  model: { uri: file:///m/c.onnx, servedName: shared }'), 'three.yaml'),
    ]);
    expect(entries.map((e) => e.kind)).toEqual(['deployment', 'invalid', 'invalid']);
    expect(entries[1]).toMatchObject({ errors: [{ field: 'metadata.name', reason: 'FieldValueDuplicate' }] });
    expect(entries[2]).toMatchObject({ errors: [{ field: 'spec.model.servedName', reason: 'FieldValueDuplicate' }] });
  });
});
