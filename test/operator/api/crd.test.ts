import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { buildCrd, crdYaml, CRD_FILE } from '../../../operator/api/crd.js';
import { crdErrors } from '../../support/fake-apiserver/admission.js';
import { defaultErrors } from '../../support/fake-apiserver/structural.js';
import { errorText } from '../../support/fake-apiserver/field-errors.js';

type Node = Record<string, any>;
const crd = buildCrd();
const root = crd.spec.versions[0].schema.openAPIV3Schema as Node;

// Subtrees that are verbatim upstream Kubernetes types: their lists are bounded by the API server's own
// validation of the pods they end up in, not by us, and no CEL rule reaches into them.
const UPSTREAM = [/^\.spec\.resources/, /^\.spec\.scheduling\.(tolerations|affinity|topologySpreadConstraints)\[\]/, /^\.spec\.scheduling\.affinity/, /^\.status\.conditions\[\]/];

function walk(node: Node, path: string, visit: (node: Node, path: string) => void): void {
  visit(node, path);
  for (const [k, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) walk(child, `${path}.${k}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}{}`, visit);
  for (const branch of (node.anyOf ?? []) as Node[]) walk(branch, `${path}|`, visit);
}

describe('the ModelDeployment CRD', () => {
  it('is the checked-in crds/ file (run `npm run crd:generate` after changing the schema)', () => {
    expect(readFileSync(CRD_FILE, 'utf8')).toBe(crdYaml());
    expect(yaml.load(crdYaml())).toEqual(buildCrd());
  });

  it('validates as an apiextensions.k8s.io/v1 CustomResourceDefinition', () => {
    expect(() => new CustomResourceDefinition(buildCrd() as never).validate()).not.toThrow();
  });

  it('has names, scope, subresources and printer columns for kubectl, HPA and KEDA', () => {
    expect(crd.metadata.name).toBe('modeldeployments.serving.modelplane.io');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'ModelDeployment', plural: 'modeldeployments', singular: 'modeldeployment', shortNames: ['mdp'], categories: ['all'] });
    const v = crd.spec.versions[0];
    expect(v).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
    expect(v.subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
    const cols = Object.fromEntries(v.additionalPrinterColumns.map((c) => [c.name, c]));
    expect(Object.keys(cols)).toEqual(['Ready', 'Replicas', 'Available', 'Model', 'URL', 'Age']);
    expect(cols.Ready.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].status');
    expect(cols.Available.jsonPath).toBe('.status.availableReplicas');
    expect(cols.Model.jsonPath).toBe('.spec.model.uri');
    expect(cols.URL).toMatchObject({ jsonPath: '.status.url', priority: 1 });
    expect(cols.Age).toMatchObject({ type: 'date', jsonPath: '.metadata.creationTimestamp' });
  });

  it('is structural: every node typed, no forbidden keywords, metadata untouched', () => {
    const problems: string[] = [];
    walk(root, '', (node, path) => {
      const inAnyOf = path.endsWith('|');
      if (!inAnyOf && node.type === undefined && node['x-kubernetes-int-or-string'] !== true && node['x-kubernetes-preserve-unknown-fields'] !== true) {
        problems.push(`${path}: no type`);
      }
      if (inAnyOf && Object.keys(node).some((k) => k !== 'type')) problems.push(`${path}: anyOf branch beyond the int-or-string form`);
      for (const k of ['$ref', 'definitions', 'dependencies', 'patternProperties', '$schema', 'id', 'oneOf', 'allOf', 'not']) {
        if (k in node) problems.push(`${path}: ${k}`);
      }
      if (node.uniqueItems === true) problems.push(`${path}: uniqueItems`);
      if (node.additionalProperties === false) problems.push(`${path}: additionalProperties false`);
      if (node.additionalProperties !== undefined && node.properties !== undefined) problems.push(`${path}: additionalProperties beside properties`);
      if (node.anyOf && node['x-kubernetes-int-or-string'] !== true) problems.push(`${path}: anyOf outside int-or-string`);
      if (node['x-kubernetes-preserve-unknown-fields'] && path !== '') problems.push(`${path}: preserve-unknown-fields`);
    });
    expect(problems).toEqual([]);
    expect(root.properties.metadata).toEqual({ type: 'object' });
  });

  it('bounds every list of its own and every string a CEL rule reads', () => {
    const problems: string[] = [];
    walk(root, '', (node, path) => {
      if (UPSTREAM.some((r) => r.test(path))) return;
      if (node.type === 'array' && node.maxItems === undefined) problems.push(`${path}: list without maxItems`);
      if (node.type === 'object' && node.additionalProperties && node.maxProperties === undefined) problems.push(`${path}: map without maxProperties`);
      for (const v of (node['x-kubernetes-validations'] ?? []) as Node[]) {
        if (node.type === 'string' && node.maxLength === undefined) problems.push(`${path}: CEL on an unbounded string`);
        if (node.type === 'object') {
          // The strings an object-level rule reads must be bounded too.
          for (const [k, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
            if (String(v.rule).includes(`self.${k}`) && child.type === 'string' && child.maxLength === undefined) problems.push(`${path}.${k}: read by CEL, unbounded`);
          }
        }
      }
    });
    expect(problems).toEqual([]);
  });

  it('embeds the real upstream schemas of Kubernetes types, not preserve-unknown-fields', () => {
    const spec = root.properties.spec.properties;
    expect(spec.resources.properties.limits.additionalProperties).toMatchObject({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] });
    expect(spec.resources.properties.limits.additionalProperties.pattern).toMatch(/\[KMGTPE\]i/);
    const tol = spec.scheduling.properties.tolerations.items;
    expect(tol.properties.effect.enum).toEqual(['NoExecute', 'NoSchedule', 'PreferNoSchedule']);
    expect(tol.properties.tolerationSeconds).toMatchObject({ type: 'integer', format: 'int64' });
    const affinity = spec.scheduling.properties.affinity;
    expect(affinity.properties.nodeAffinity.properties.requiredDuringSchedulingIgnoredDuringExecution.required).toEqual(['nodeSelectorTerms']);
    expect(affinity.properties.podAntiAffinity.properties.preferredDuringSchedulingIgnoredDuringExecution.items.required).toEqual(['podAffinityTerm', 'weight']);
    const spread = spec.scheduling.properties.topologySpreadConstraints.items;
    expect(spread.required).toEqual(['maxSkew', 'topologyKey', 'whenUnsatisfiable']);
    const cond = root.properties.status.properties.conditions;
    expect(cond).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect(cond.items.properties.lastTransitionTime).toMatchObject({ type: 'string', format: 'date-time' });
  });

  it('declares its defaults in the schema', () => {
    const spec = root.properties.spec.properties;
    expect(spec.replicas.default).toBe(1);
    expect(spec.runtime.default).toEqual({ graphOptimizationLevel: 'all', intraOpThreads: 0, maxQueueSize: 512, instances: 1 });
    expect(spec.runtime.properties.maxQueueSize.default).toBe(512);
    expect(spec.runtime.properties.graphOptimizationLevel).toMatchObject({ default: 'all', enum: ['disabled', 'basic', 'extended', 'all'] });
    expect(spec.gpu.properties.resource.default).toBe('nvidia.com/gpu');
    expect(spec.autoscaling.properties.minReplicas.default).toBe(1);
    expect(spec.autoscaling.properties.scaleToZeroDelaySeconds).toMatchObject({ type: 'integer', default: 300, minimum: 0 });
    expect(spec.autoscaling.properties.targetSequences).toMatchObject({ default: 24, minimum: 1, maximum: 4096 });
    // generation is optional and has no default of its own: its fields' defaults apply once it is given.
    const generation = spec.runtime.properties.generation;
    expect(generation.default).toBeUndefined();
    expect(generation.properties.maxNumSeqs).toMatchObject({ type: 'integer', default: 32, minimum: 1, maximum: 4096 });
    expect(generation.properties.maxModelLen).toMatchObject({ type: 'integer', default: 0, minimum: 0 });
    expect(generation.properties.maxKvCacheBytes).toMatchObject({ type: 'integer', format: 'int64', minimum: 1024 });
    expect(generation.properties.maxKvCacheBytes.default).toBeUndefined();
  });

  it('has only defaults that pass their own schema as written, nested defaults not filled in (as the API server checks a CRD)', () => {
    let defaults = 0;
    walk(root, '', (node) => {
      if (node.default !== undefined) defaults++;
    });
    expect(defaults).toBeGreaterThan(10);
    expect(defaultErrors(root, 'spec.validation.openAPIV3Schema').map(errorText)).toEqual([]);
    expect(crdErrors(buildCrd() as never)).toEqual([]);
  });

  it('would be refused, as a v1.28 API server refused it, with an object default that leaves out required fields', () => {
    const broken = JSON.parse(JSON.stringify(buildCrd()));
    broken.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.runtime.default = {};
    const at = 'spec.validation.openAPIV3Schema.properties[spec].properties[runtime].default';
    expect(crdErrors(broken).map(errorText).sort()).toEqual(
      ['graphOptimizationLevel', 'instances', 'intraOpThreads', 'maxQueueSize'].map((f) => `${at}.${f}: Required value`),
    );
  });
});
