// Local mode's pure decisions: what a change to the files means for what runs, and the router's address as shown.
import { parseManifests, type ManifestEntry } from '../../local/manifests.js';
import { planManifests, routerUrl } from '../../local/local-mode.js';

const doc = (name: string, spec: string) => `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: ${name} }
spec:
${spec}
`;
const valid = (name: string): ManifestEntry[] => parseManifests(doc(name, '  model: { uri: file:///m/a.onnx }'), `${name}.yaml`);
const invalid = (name: string): ManifestEntry[] => parseManifests(doc(name, '  model: { uri: file:///m/a.onnx }\n  replicas: -1'), `${name}.yaml`);
const configMap: ManifestEntry[] = parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\n', 'cm.yaml');
const notYaml: ManifestEntry[] = parseManifests('a: [', 'broken.yaml');

describe('planManifests', () => {
  test.each([
    ['nothing runs yet: every valid one runs', [...valid('a'), ...valid('b')], [], ['a', 'b'], []],
    ['a running one still in the files runs on (its spec updated)', valid('a'), ['a'], ['a'], []],
    ['a running one gone from the files is removed, in the order they started', valid('b'), ['c', 'b', 'a'], ['b'], ['c', 'a']],
    ['a running one whose new spec is refused keeps running', invalid('a'), ['a'], [], []],
    ['a refused one that was not running stays off', invalid('a'), ['b'], [], ['b']],
    ['other kinds change nothing', configMap, ['a'], [], ['a']],
  ])('%s', (_what, entries, running, run, remove) => {
    const plan = planManifests(entries, running);
    expect(plan.run.map((e) => e.md.metadata.name)).toEqual(run);
    expect(plan.remove).toEqual(remove);
  });

  test('a refused document: its line names it and its field, and says when the previous spec keeps running', () => {
    const [kept] = planManifests(invalid('a'), ['a']).refused;
    expect(kept.line).toMatch(/^ModelDeployment a in a\.yaml is invalid and does not run: spec\.replicas: .*\(the previous spec keeps running\)$/);
    const [fresh] = planManifests(invalid('a'), []).refused;
    expect(fresh.line).not.toContain('previous spec');
    const [unnamed] = planManifests(notYaml, []).refused;
    expect(unnamed.line).toMatch(/^a document in broken\.yaml is invalid and does not run: .*not valid YAML/);
  });

  test('what invalid() and the dashboard show: refused with their errors, skipped with their note', () => {
    const plan = planManifests([...invalid('a'), ...notYaml, ...configMap], []);
    expect(plan.invalid).toEqual([
      { source: 'a.yaml', name: 'a', errors: [expect.objectContaining({ field: 'spec.replicas' })] },
      { source: 'broken.yaml', errors: [expect.objectContaining({ reason: 'InvalidYAML' })] },
    ]);
    expect(plan.skipped).toEqual([{ source: 'cm.yaml', note: expect.stringContaining('ConfigMap cm is not a ModelDeployment') }]);
    expect(plan.skips.map((e) => e.document)).toEqual([{ kind: 'ConfigMap', name: 'cm' }]);
  });
});

describe('routerUrl', () => {
  test.each([
    ['127.0.0.1', 8080, 'http://127.0.0.1:8080'],
    ['0.0.0.0', 8080, 'http://127.0.0.1:8080'],
    ['::', 9000, 'http://127.0.0.1:9000'],
    ['::1', 8080, 'http://[::1]:8080'],
    ['localhost', 80, 'http://localhost:80'],
  ])('%s port %d: %s', (host, port, url) => {
    expect(routerUrl(host, port)).toBe(url);
  });
});
