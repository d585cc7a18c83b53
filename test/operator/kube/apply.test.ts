// Whether a child needs a server-side apply: never when the cluster already holds what was applied.
import { describe, expect, it } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { APPLIED_HASH_ANNOTATION, isSubset, needsApply, ownershipForApply, withAppliedHash, type JsonPatchOp } from '../../../operator/kube/apply.js';

const desired = withAppliedHash({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'm', namespace: 'ns', labels: { a: '1' } },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'runtime', resources: { limits: { cpu: '1000m', memory: '4Gi' } } }] } } },
} as KubernetesObject & { spec: unknown });

describe('needsApply', () => {
  const live = (patch: (o: Record<string, any>) => void = () => undefined): KubernetesObject => {
    const o = JSON.parse(JSON.stringify(desired)) as Record<string, any>;
    delete o.apiVersion;
    delete o.kind; // list items carry neither
    o.metadata.resourceVersion = '7';
    o.spec.template.spec.containers[0].terminationMessagePath = '/dev/termination-log'; // a server default
    o.status = { replicas: 2 };
    patch(o);
    return o as KubernetesObject;
  };

  it.each<[string, KubernetesObject | undefined, boolean]>([
    ['missing', undefined, true],
    ['as applied, plus defaults and status', live(), false],
    ['quantities canonicalized by the API server', live((o) => (o.spec.template.spec.containers[0].resources.limits.cpu = '1')), false],
    ['someone scaled the Deployment', live((o) => (o.spec.replicas = 5)), true],
    ['someone removed a label', live((o) => delete o.metadata.labels.a), true],
    ['applied from another configuration', live((o) => (o.metadata.annotations[APPLIED_HASH_ANNOTATION] = 'old')), true],
  ])('%s -> %s', (_name, liveObj, expected) => {
    expect(needsApply(desired, liveObj)).toBe(expected);
  });

  it('hashes the configuration, so dropping a field changes the hash', () => {
    const h = (o: KubernetesObject) => withAppliedHash(o).metadata!.annotations![APPLIED_HASH_ANNOTATION];
    expect(h({ metadata: { name: 'a', labels: { x: '1' } } })).not.toBe(h({ metadata: { name: 'a' } }));
    expect(h({ metadata: { labels: { x: '1', y: '2' }, name: 'a' } })).toBe(h({ metadata: { name: 'a', labels: { y: '2', x: '1' } } }));
  });

  it('compares lists element by element and atomically in length', () => {
    expect(isSubset([{ a: 1 }], [{ a: 1, b: 2 }])).toBe(true);
    expect(isSubset([{ a: 1 }], [{ a: 1 }, { a: 2 }])).toBe(false);
    expect(isSubset({ q: '512Mi' }, { q: '536870912' })).toBe(true);
    expect(isSubset({ q: '1' }, { q: '2' })).toBe(false);
  });
});

describe('ownershipForApply', () => {
  const entry = (manager: string, operation: string, fields: Record<string, unknown>, subresource?: string) => ({ manager, operation, apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: fields, ...(subresource ? { subresource } : {}) });
  const patched = (entries: unknown[], ops: JsonPatchOp[]) => {
    const doc = JSON.parse(JSON.stringify(entries)) as Array<Record<string, unknown>>;
    for (const op of ops) {
      const [i, key] = op.path.replace('/metadata/managedFields/', '').split('/');
      if (op.op === 'test') expect(doc[Number(i)][key]).toEqual(op.value);
      else if (op.op === 'replace') doc[Number(i)][key] = op.value as never;
      else doc.splice(Number(i), 1);
    }
    return doc;
  };

  it('turns the manager\'s create entry into its apply entry, testing it by manager and operation, leaving other managers alone', () => {
    const created = entry('modelplane', 'Update', { 'f:spec': { 'f:replicas': {}, 'f:template': { 'f:spec': { 'f:nodeSelector': {} } } } });
    const kcm = entry('kube-controller-manager', 'Update', { 'f:status': { 'f:replicas': {} } }, 'status');
    const ops = ownershipForApply([kcm, created] as never, 'modelplane')!;
    expect(ops.filter((o) => o.op === 'test').map((o) => o.path)).toEqual(['/metadata/managedFields/1/manager', '/metadata/managedFields/1/operation']);
    expect(patched([kcm, created], ops)).toEqual([kcm, { ...created, operation: 'Apply' }]);
  });

  it('merges into an existing apply entry', () => {
    const created = entry('modelplane', 'Update', { 'f:spec': { 'f:replicas': {} } });
    const applied = entry('modelplane', 'Apply', { 'f:spec': { 'f:selector': {} } });
    expect(patched([applied, created], ownershipForApply([applied, created] as never, 'modelplane')!)).toEqual([{ ...created, operation: 'Apply', fieldsV1: { 'f:spec': { 'f:selector': {}, 'f:replicas': {} } } }]);
  });

  it('needs nothing when the manager only ever applied, or only wrote a subresource', () => {
    expect(ownershipForApply([entry('modelplane', 'Apply', {})] as never, 'modelplane')).toBeUndefined();
    expect(ownershipForApply([entry('modelplane', 'Update', {}, 'status')] as never, 'modelplane')).toBeUndefined();
    expect(ownershipForApply(undefined, 'modelplane')).toBeUndefined();
  });
});
