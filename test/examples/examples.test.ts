// The examples users copy: every ModelDeployment passes the API's validation (schema + CEL rules, which
// `modelplane render` applies before it renders) and renders through the real CLI into objects that match
// the upstream Kubernetes schemas; every other object in examples/ matches its schema too; the model script writes real models
// (and the chat example's model directory) whose sha256 equals the one the examples, examples/local/ included, pin.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { type KubeObject, parseManifests, validateObject } from '../chart/kube-schemas.js';
import { helm } from '../support/helm.js';
import { validateModelDeployment } from '../../operator/api/validate.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const CLI = join(ROOT, 'bin', 'modelplane.js');

function run(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { cwd: ROOT, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') reject(err);
      else resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
    });
    child.stdin!.end(stdin ?? '');
  });
}

const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();
const manifests = new Map(files.map((f) => [f, parseManifests(readFileSync(join(EXAMPLES, f), 'utf8'))]));
const modelDeployments = files.flatMap((f) => manifests.get(f)!.filter((o) => o.kind === 'ModelDeployment').map((md) => ({ file: f, md })));
/** What `npm start` runs (examples/local/). */
const localFiles = readdirSync(join(EXAMPLES, 'local')).filter((f) => f.endsWith('.yaml')).sort();
const localModelDeployments = localFiles.flatMap((f) => parseManifests(readFileSync(join(EXAMPLES, 'local', f), 'utf8')).filter((o) => o.kind === 'ModelDeployment').map((md) => ({ file: `local/${f}`, md })));

type Spec = {
  model: { uri: string; sha256?: string; credentialsSecret?: string };
  gpu?: { resource: string; count: number };
};
const spec = (md: KubeObject) => md.spec as Spec;

describe('examples', () => {
  test('cover CPU, a whole GPU, a MIG slice, a PVC-hosted model and S3 with a credentials Secret', () => {
    const mds = modelDeployments.map(({ md }) => spec(md));
    expect(mds.some((s) => !s.gpu)).toBe(true);
    expect(mds.some((s) => s.gpu?.resource === 'nvidia.com/gpu')).toBe(true);
    expect(mds.some((s) => s.gpu?.resource.startsWith('nvidia.com/mig-'))).toBe(true);
    expect(mds.some((s) => s.model.uri.startsWith('pvc://'))).toBe(true);
    const s3 = modelDeployments.find(({ md }) => spec(md).model.uri.startsWith('s3://'))!;
    expect(spec(s3.md).model.credentialsSecret).toBeDefined();
    const secret = manifests.get(s3.file)!.find((o) => o.kind === 'Secret' && o.metadata.name === spec(s3.md).model.credentialsSecret);
    expect(secret).toBeDefined();
    expect(Object.keys(secret!.stringData as object)).toEqual(expect.arrayContaining(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']));
  });

  test.each(files.flatMap((f) => manifests.get(f)!.filter((o) => o.kind !== 'ModelDeployment').map((o) => [f, o.kind, o.metadata.name, o] as const)))(
    '%s: %s %s matches its upstream schema',
    async (_file, _kind, _name, obj) => {
      await validateObject(obj);
    },
  );

  describe('rendered through `modelplane render -f`', () => {
    let rendered: KubeObject[];
    beforeAll(async () => {
      // render reads ModelDeployments only; a Secret or PVC beside one in the same file is for kubectl.
      const r = await run([CLI, 'render', '-f', '-'], modelDeployments.map(({ md }) => yaml.dump(md)).join('---\n'));
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      rendered = parseManifests(r.stdout);
    });

    test.each(modelDeployments.map(({ file, md }) => [file, md.metadata.name, md] as const))(
      '%s: %s becomes a Deployment, a Service and (replicas > 1) a PodDisruptionBudget, all schema-valid',
      async (_file, name, md) => {
        const mine = rendered.filter((o) => o.metadata.labels?.['app.kubernetes.io/instance'] === name);
        const kinds = mine.map((o) => o.kind).sort();
        const replicas = (md.spec as { replicas?: number }).replicas ?? 1;
        expect(kinds).toEqual(replicas > 1 ? ['Deployment', 'PodDisruptionBudget', 'Service'] : ['Deployment', 'Service']);
        const gpu = spec(md).gpu;
        if (gpu) {
          const deployment = mine.find((o) => o.kind === 'Deployment') as unknown as {
            spec: { template: { spec: { containers: Array<{ resources: { limits?: Record<string, string> } }> } } };
          };
          expect(deployment.spec.template.spec.containers.map((c) => c.resources.limits?.[gpu.resource])).toContain(String(gpu.count));
        }
        for (const obj of mine) await validateObject(obj);
      },
    );

    test("the chart's runtime PodMonitor selects every runtime pod and scrapes a port the pods expose", async () => {
      const r = await helm(['template', 'mp', join(ROOT, 'charts', 'modelplane'), '--set', 'metrics.runtimePodMonitor.enabled=true']);
      const monitor = parseManifests(r.stdout).find((o) => o.kind === 'PodMonitor')!;
      const { selector, podMetricsEndpoints } = monitor.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; path: string }> };
      type Pod = { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ ports?: Array<{ name: string }> }> } };
      const pods = rendered.filter((o) => o.kind === 'Deployment').map((d) => (d.spec as { template: Pod }).template);
      expect(pods.length).toBe(modelDeployments.length);
      for (const pod of pods) {
        expect(pod.metadata.labels).toMatchObject(selector.matchLabels);
        const ports = pod.spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.name);
        for (const e of podMetricsEndpoints) expect(ports).toContain(e.port);
      }
    });
  });

  test('examples/local (what npm start runs) holds valid ModelDeployments: simple, mlp autoscaled, and chat, a generative model directory', () => {
    for (const { file, md } of localModelDeployments) {
      const r = validateModelDeployment(md);
      expect({ file, errors: r.ok ? [] : r.errors }).toEqual({ file, errors: [] });
    }
    expect(localModelDeployments.map(({ md }) => md.metadata.name).sort()).toEqual(['chat', 'mlp', 'simple']);
    const chat = localModelDeployments.find(({ md }) => md.metadata.name === 'chat')!.md;
    expect(spec(chat).model.uri).toBe('file:///tmp/modelplane-examples/chat');
  });

  test('render validates what it renders: a broken example is refused with the field and reason', async () => {
    const pvc = modelDeployments.find(({ md }) => spec(md).model.uri.startsWith('pvc://'))!.md;
    const broken = structuredClone(pvc);
    (broken.spec as Spec).model.sha256 = 'A'.repeat(64);
    const r = await run([CLI, 'render', '-f', '-'], yaml.dump(broken));
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/spec\.model\.sha256.*\(Field\w+\)/);
  });

  test('build-models writes the example models, logs each as a JSON line, and the pinned sha256 values match', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelplane-models-'));
    try {
      const r = await run([join(ROOT, 'dist', 'examples', 'build-models.js'), dir]);
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message: string; path: string; bytes: number; sha256: string; files?: string[] });
      const written = new Map(lines.map((l) => [l.path.slice(dir.length + 1), l]));
      expect([...written.keys()].sort()).toEqual(['chat', 'image.onnx', 'mlp.onnx', 'simple.onnx']);
      const files = lines.filter((l) => l.message === 'wrote example model');
      for (const line of files) expect(readFileSync(line.path).length).toBe(line.bytes);
      // The chat example is a model directory: a decoder and its tokenizer; its sha256 is model.onnx's.
      const chat = written.get('chat')!;
      expect(chat).toMatchObject({ message: 'wrote example model directory', files: ['config.json', 'generation_config.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json'] });
      expect(createHash('sha256').update(readFileSync(join(dir, 'chat', 'model.onnx'))).digest('hex')).toBe(chat.sha256);
      // The in-cluster model store is a ConfigMap, which holds at most 1 MiB (kubectl's --from-file takes a directory's
      // files, not its subdirectories: chat/ stays out).
      expect(files.reduce((n, l) => n + l.bytes, 0)).toBeLessThan(768 * 1024);
      for (const { md } of [...modelDeployments, ...localModelDeployments]) {
        const { uri, sha256 } = spec(md).model;
        const file = uri.split('/').pop()!;
        if (sha256 && written.has(file)) expect({ uri, sha256 }).toEqual({ uri, sha256: written.get(file)!.sha256 });
      }
      expect(modelDeployments.filter(({ md }) => spec(md).model.sha256 && written.has(spec(md).model.uri.split('/').pop()!)).length).toBeGreaterThan(0);
      // Every example local mode runs is pinned.
      expect(localModelDeployments.filter(({ md }) => spec(md).model.sha256 && written.has(spec(md).model.uri.split('/').pop()!)).map(({ md }) => md.metadata.name).sort()).toEqual(['chat', 'mlp', 'simple']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
