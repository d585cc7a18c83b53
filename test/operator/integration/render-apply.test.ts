// `modelplane render -f` prints exactly what the controller applies: every example's ModelDeployments are
// applied through the fake API server by the operator and rendered by the CLI with the same settings, and the
// two are compared field by field (labels and annotations exactly). Only the ownerReference, which needs the
// uid the cluster assigns, is absent from render's output.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { operatorSettings, operatorCommand, type OperatorCliOptions } from '../../../cli/operator.js';
import { resourceForKind } from '../../support/fake-apiserver/index.js';
import { Harness, eventually, type Md } from './harness.js';
import { runCli } from '../../support/runtime-process.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NS = 'render';
const EXAMPLES = ['cpu.yaml', 'gpu.yaml', 'mig.yaml', 'pvc.yaml', 's3.yaml'];
const FLAGS = [
  '--runtime-image=registry.example.com/runtime:7.7', '--runtime-gpu-image=registry.example.com/runtime-gpu:7.7',
  '--runtime-resources={"requests":{"cpu":"2","memory":"2Gi"}}', '--runtime-image-pull-policy=Always', '--runtime-image-pull-secrets=regcred',
  '--runtime-pvc-root=/claims', '--runtime-log-level=debug', '--runtime-run-as-user=1234', '--runtime-prestop-sleep-seconds=7',
  '--runtime-termination-grace-period-seconds=70', '--runtime-startup-timeout-seconds=900', '--runtime-gpu-tolerations=[{"key":"pool","operator":"Exists"}]',
];

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => h.stop());

/** Every leaf of `rendered` compared with the same path in `live`; differences as `path: rendered != live`. */
function differences(rendered: unknown, live: unknown, path = ''): string[] {
  if (rendered === null || typeof rendered !== 'object') return rendered === live ? [] : [`${path}: ${JSON.stringify(rendered)} != ${JSON.stringify(live)}`];
  if (Array.isArray(rendered)) {
    if (!Array.isArray(live) || live.length !== rendered.length) return [`${path}: ${rendered.length} items != ${JSON.stringify(live)}`];
    return rendered.flatMap((r, i) => differences(r, live[i], `${path}[${i}]`));
  }
  if (live === null || typeof live !== 'object') return [`${path}: object != ${JSON.stringify(live)}`];
  return Object.entries(rendered).flatMap(([k, v]) => differences(v, (live as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
}

it('render -f prints, field by field, what the operator applies for every example', async () => {
  let parsed: OperatorCliOptions | undefined;
  await operatorCommand('0.1.0').exitOverride().action((o: OperatorCliOptions) => { parsed = o; }).parseAsync(FLAGS, { from: 'user' });
  const op = h.operator({ config: operatorSettings(parsed!).config });
  await op.start();
  await op.waitUntilSynced();

  const files = EXAMPLES.map((f) => join(ROOT, 'examples', f));
  const created: Md[] = [];
  for (const file of files) {
    for (const doc of yaml.loadAll(readFileSync(file, 'utf8')) as Md[]) {
      if (doc?.kind === 'ModelDeployment') created.push(await h.create(NS, doc));
    }
  }
  expect(created.length).toBeGreaterThanOrEqual(5);

  const r = await runCli(['render', '-n', NS, ...FLAGS, ...files.flatMap((f) => ['-f', f])]);
  expect(r.code).toBe(0);
  const rendered = yaml.loadAll(r.stdout) as Array<{ apiVersion: string; kind: string; metadata: { name: string; namespace: string; labels: object; annotations?: object; ownerReferences?: unknown } }>;
  expect(rendered.length).toBeGreaterThanOrEqual(2 * created.length);

  for (const obj of rendered) {
    const rt = resourceForKind(obj.apiVersion, obj.kind)!;
    const live = await eventually(() => {
      const o = h.server.store.get(rt, obj.metadata.namespace, obj.metadata.name);
      expect(o).toBeDefined();
      return o!;
    });
    const what = `${obj.kind} ${obj.metadata.name}`;
    expect({ what, diff: differences(obj, live) }).toEqual({ what, diff: [] });
    expect(live.metadata.labels).toEqual(obj.metadata.labels);
    expect(live.metadata.annotations).toEqual(obj.metadata.annotations);
    expect(obj.metadata.ownerReferences).toBeUndefined();
    const owner = created.find((m) => m.metadata!.name === (live.metadata.ownerReferences as Array<{ name: string }>)[0].name)!;
    expect(live.metadata.ownerReferences).toEqual([{ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', name: owner.metadata!.name, uid: owner.metadata!.uid, controller: true, blockOwnerDeletion: true }]);
  }
  // Nothing applied that render did not print.
  const children = h.server.store.all().filter((o) => o.metadata.namespace === NS && (o.metadata.ownerReferences as unknown[] | undefined)?.length);
  expect(children.map((o) => `${String(o.kind)}/${String(o.metadata.name)}`).sort()).toEqual(rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort());
  // Documents of other kinds were skipped, each with a note.
  expect(r.stderr).toContain('s3.yaml: document 1: skipped Secret model-store-s3: not a ModelDeployment');
  expect(r.stderr).toContain('pvc.yaml: document 1: skipped PersistentVolumeClaim models: not a ModelDeployment');
});
