// Which documents local mode runs, which it refuses (with field and reason) and which it skips.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManifestPathError, manifestFiles, parseManifests, readManifestFile, readManifests, rejectDuplicates } from '../../local/manifests.js';
import { startLocalMode } from '../../local/local-mode.js';
import { localSettings } from '../../cli/local.js';
import { memoryLogger } from '../support/memory-logger.js';
import { runCli, tempDir } from '../support/runtime-process.js';

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
    expect(out[1]).toMatchObject({ source: 'x.yaml (document 2)', note: expect.stringContaining('ConfigMap cm is not a ModelDeployment'), document: { kind: 'ConfigMap', name: 'cm' } });
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

describe('-f, --filename: files, directories, several of each', () => {
  const tmp = tempDir('modelplane-manifests-');
  afterAll(() => tmp.remove());

  test('a directory means its .yaml, .yml and .json files in name order, each file once; subdirectories are left out', () => {
    const dir = join(tmp.path, 'dir');
    mkdirSync(join(dir, 'sub.yaml'), { recursive: true });
    for (const f of ['b.yml', 'a.yaml', 'c.json', 'notes.txt', 'D.YAML']) writeFileSync(join(dir, f), '');
    const single = join(tmp.path, 'single.yaml');
    writeFileSync(single, '');
    expect(manifestFiles([single, dir, join(dir, 'a.yaml')])).toEqual([single, ...['a.yaml', 'b.yml', 'c.json'].map((f) => join(dir, f))]);
  });

  test('a path that does not exist is named, with the reason, not a raw errno', () => {
    const missing = join(tmp.path, 'nope.yaml');
    expect(() => manifestFiles([missing])).toThrow(new ManifestPathError(missing, `${missing}: no such file or directory`));
    expect(() => readManifestFile(tmp.path)).toThrow(`${tmp.path}: cannot read: is a directory`);
  });

  test('a file in a directory that cannot be read is one invalid entry naming it; the others are read', () => {
    const dir = join(tmp.path, 'with-dangling');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), doc('a', '  model: { uri: file:///m/a.onnx }'));
    symlinkSync(join(tmp.path, 'gone.yaml'), join(dir, 'b.yaml'));
    const entries = readManifests([dir]);
    expect(entries.map((e) => e.kind)).toEqual(['deployment', 'invalid']);
    expect(entries[1]).toMatchObject({ source: join(dir, 'b.yaml'), errors: [{ message: 'cannot read: no such file or directory', reason: 'Unreadable' }] });
  });
});

describe('local mode reads every -f path; other kinds are said at info level', () => {
  const tmp = tempDir('modelplane-local-paths-');
  afterAll(() => tmp.remove());

  test('a file and a directory, documents of other kinds only: each skip logged at info, none printed', async () => {
    const dir = join(tmp.path, 'dir');
    mkdirSync(dir);
    writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\n');
    const file = join(tmp.path, 'secret.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' } }));
    const { log, entries } = memoryLogger('local', 'info');
    const printed: string[] = [];
    const mode = await startLocalMode({
      paths: [dir, file], port: 0, host: '127.0.0.1', cacheDir: join(tmp.path, 'cache'), logger: log, print: (t) => printed.push(t), version: 'test',
      command: process.execPath, cliPath: '/nonexistent', autoscaleIntervalMs: 1000, tuning: {}, drainMs: 1000, maxBodyBytes: 1024, table: false,
    });
    try {
      await mode.allReady();
      const skips = entries.filter((e) => e.message === 'skipped a document that is not a ModelDeployment');
      expect(skips).toEqual([
        expect.objectContaining({ level: 'info', source: join(dir, 'cm.yaml'), kind: 'ConfigMap', name: 'settings' }),
        expect.objectContaining({ level: 'info', source: file, kind: 'Secret', name: 'creds' }),
      ]);
      expect(printed.join('\n')).not.toMatch(/ConfigMap|Secret/);
    } finally {
      await mode.stop();
    }
  });

  test('a path that does not exist stops local mode before it starts, naming the path', async () => {
    const missing = join(tmp.path, 'missing');
    const { log } = memoryLogger('local', 'info');
    await expect(startLocalMode({
      paths: [tmp.path, missing], port: 0, host: '127.0.0.1', cacheDir: join(tmp.path, 'cache'), logger: log, print: () => undefined, version: 'test',
      command: process.execPath, cliPath: '/nonexistent', autoscaleIntervalMs: 1000, tuning: {}, drainMs: 1000, maxBodyBytes: 1024, table: false,
    })).rejects.toThrow(`${missing}: no such file or directory`);
  });

  test('- (stdin) is refused, naming the flag: local mode watches its files', () => {
    expect(() => localSettings({ filename: ['a.yaml', '-'], port: '0', host: '127.0.0.1', logLevel: 'warn', table: true, autoscaleInterval: '2', drainTimeout: '60' }))
      .toThrow('-f, --filename: local mode watches the files it runs; - (stdin) is for render');
  });

  test('`modelplane local --filename` is the flag, as in render', async () => {
    const missing = join(tmp.path, 'nope.yaml');
    const r = await runCli(['local', '--filename', missing, '--port', '0'], { timeoutMs: 20_000 });
    expect(r.stderr).toBe(`modelplane local: ${missing}: no such file or directory\n`);
    expect(r.code).toBe(1);
  });
});
