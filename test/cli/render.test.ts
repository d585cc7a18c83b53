// `modelplane render` and `modelplane crd` through the real compiled CLI (npm test compiles first).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { appliedChildren } from '../../operator/resources/index.js';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { CRD_FILE } from '../../operator/api/crd.js';
import { runCli, type CliRun } from '../support/runtime-process.js';

function run(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { stdin, env: { ...process.env, ...env, NODE_OPTIONS: '' }, timeoutMs: 20000 });
}

const RESNET = `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: resnet, namespace: ml }
spec:
  model: { uri: s3://models/resnet/model.onnx, credentialsSecret: model-store }
  replicas: 2
  gpu: { count: 1, product: NVIDIA-H100-80GB-HBM3 }
---
apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: bert }
spec:
  model: { uri: pvc://models/bert/model.onnx }
`;

describe('modelplane render', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'modelplane-render-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints exactly the objects the operator applies, as multi-document YAML', async () => {
    const file = join(dir, 'md.yaml');
    writeFileSync(file, RESNET);
    const r = await run(['render', '-f', file, '--runtime-image', 'registry.local/runtime:9.9'], undefined, { MODELPLANE_RUNTIME_GPU_IMAGE: 'registry.local/runtime-gpu:9.9' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const docs = yaml.loadAll(r.stdout) as any[];
    const expected = yaml.loadAll(RESNET)
      .map((d) => validateModelDeployment(d))
      .flatMap((v) => {
        if (!v.ok) throw new Error('fixture invalid');
        const m = { ...v.value, metadata: { ...v.value.metadata, namespace: v.value.metadata.namespace ?? 'default' } };
        return appliedChildren(m, { runtimeImage: 'registry.local/runtime:9.9', runtimeGpuImage: 'registry.local/runtime-gpu:9.9' });
      });
    expect(docs).toEqual(expected);
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace}/${d.metadata.name}`)).toEqual([
      'Deployment/ml/resnet',
      'Service/ml/resnet',
      'PodDisruptionBudget/ml/resnet',
      'Deployment/default/bert',
      'Service/default/bert',
    ]);
    expect(docs[0].spec.template.spec.containers[0].image).toBe('registry.local/runtime-gpu:9.9');
    expect(docs[3].spec.template.spec.containers[0].image).toBe('registry.local/runtime:9.9');
    // The Open Inference Protocol over gRPC: a Service port, a container port, and the serve flag.
    expect(docs[1].spec.ports.map((p: { name: string; port: number }) => `${p.name}:${p.port}`)).toEqual(['http:8080', 'grpc:9000']);
    expect(docs[0].spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name)).toContain('grpc');
    expect(docs[0].spec.template.spec.containers[0].args.join(' ')).toContain('--grpc-port 9000');
    expect(r.stdout).not.toMatch(/[&*]a\d/);
  });

  it('reads stdin with -f - and takes a namespace for manifests that name none', async () => {
    const r = await run(['render', '-f', '-', '-n', 'team-a'], RESNET.split('---\n')[1]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const docs = yaml.loadAll(r.stdout) as any[];
    expect(docs.map((d) => d.metadata.namespace)).toEqual(['team-a', 'team-a']);
  });

  it('rejects an invalid spec naming the file, the object, the field and the reason, and prints nothing', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, RESNET.replace('replicas: 2', 'replicas: 2\n  autoscaling: { minReplicas: 4, maxReplicas: 2 }').replace('s3://models', 'ftp://models'));
    const r = await run(['render', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${file}: document 1 (resnet): spec.model.uri: uri must be`);
    expect(r.stderr).toContain(`${file}: document 1 (resnet): spec.autoscaling.minReplicas: minReplicas must not exceed maxReplicas (FieldValueInvalid)`);
  });

  it('reports YAML syntax errors', async () => {
    const r = await run(['render', '-f', '-'], 'spec: [unclosed');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/<stdin>: document 1: invalid YAML/);
  });

  it('names each path that is missing or cannot be read, with the reason, never a raw errno, and prints nothing', async () => {
    const missing = join(dir, 'nope.yaml');
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = await run(['render', '-f', missing, '--filename', empty]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`modelplane: ${missing}: no such file or directory\n${empty}: no .yaml, .yml or .json file in this directory\n`);
    const dangling = join(dir, 'dangling');
    mkdirSync(dangling);
    symlinkSync(join(dir, 'gone.yaml'), join(dangling, 'md.yaml'));
    const unreadable = await run(['render', '-f', dangling]);
    expect(unreadable.stderr).toBe(`modelplane: ${join(dangling, 'md.yaml')}: cannot read: no such file or directory\n`);
    expect(unreadable.code).toBe(1);
  });

  it('takes directories (their .yaml, .yml and .json files in name order) beside files; other kinds are skipped and said at info level', async () => {
    const manifests = join(dir, 'manifests');
    mkdirSync(join(manifests, 'nested.yaml'), { recursive: true });
    const [resnet, bert] = RESNET.split('---\n');
    writeFileSync(join(manifests, 'b.yml'), `${bert}---\napiVersion: v1\nkind: Secret\nmetadata: { name: model-store }\n`);
    writeFileSync(join(manifests, 'a.json'), JSON.stringify(yaml.load(resnet)));
    writeFileSync(join(manifests, 'README.md'), 'not a manifest');
    const extra = join(dir, 'extra.yaml');
    writeFileSync(extra, RESNET.split('---\n')[1].replace('name: bert', 'name: extra'));
    const r = await run(['render', '--filename', manifests, extra]);
    expect(r.code).toBe(0);
    const docs = yaml.loadAll(r.stdout) as any[];
    expect(docs.filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name)).toEqual(['resnet', 'bert', 'extra']);
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(logs).toEqual([expect.objectContaining({ level: 'info', message: `${join(manifests, 'b.yml')}: document 2: skipped Secret model-store: not a ModelDeployment` })]);
    // A file named twice, itself and through its directory, is rendered once.
    const twice = await run(['render', '-f', manifests, join(manifests, 'b.yml'), '--log-level', 'warn']);
    expect((yaml.loadAll(twice.stdout) as any[]).filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name)).toEqual(['resnet', 'bert']);
    // --log-level warn keeps it quiet.
    const quiet = await run(['render', '-f', manifests, '--log-level', 'warn']);
    expect(quiet.stderr).toBe('');
  });
});

describe('modelplane crd', () => {
  it('prints the checked-in CRD', async () => {
    const r = await run(['crd']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(CRD_FILE, 'utf8'));
  });
});
