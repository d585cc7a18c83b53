// No container engine runs here, so the Dockerfile is checked by reading it: its stages and targets, the
// user each image runs as, production-only dependencies, the onnxruntime install mode per image, OCI labels,
// and that every source it copies exists and is not hidden by .dockerignore.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXECUTION_PROVIDERS as SERVE_PROVIDERS } from '../../common/serve-contract.js';
import { EXECUTION_PROVIDERS as SPEC_PROVIDERS } from '../../operator/api/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (comments dropped, `\` continuations joined) and stages. */
function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending !== '' && line.startsWith('#')) return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\S+)\s+(.*)$/.exec(full);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${full}"`);
    instructions.push({ keyword: m[1].toUpperCase(), args: m[2], line: start });
  });
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: bad FROM`);
      const from = m[1].replace(/\$\{(\w+)\}/g, (_, v: string) => globalArgs.get(v) ?? stages.find((s) => s.name === v)?.name ?? `\${${v}}`);
      stages.push({ name: m[2] ?? `stage-${stages.length}`, from, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [k, v] = ins.args.split('=');
      globalArgs.set(k, v ?? '');
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stage = (name: string): Stage => {
  const s = dockerfile.stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
/** A stage's instructions including those inherited from the stages it is built FROM. */
const lineage = (name: string): Instruction[] => {
  const s = stage(name);
  const parent = dockerfile.stages.find((x) => x.name === s.from);
  return [...(parent ? lineage(parent.name) : []), ...s.instructions];
};
const all = (name: string, keyword: string): string[] => lineage(name).filter((i) => i.keyword === keyword).map((i) => i.args);
const TARGETS = ['operator', 'runtime', 'runtime-gpu'];

describe('Dockerfile', () => {
  test('has a build stage on node 20 bookworm-slim and the three image targets', () => {
    expect(stage('build').from).toBe('node:20-bookworm-slim');
    for (const t of TARGETS) expect(dockerfile.stages.map((s) => s.name)).toContain(t);
    expect(stage('runtime-gpu').from).toMatch(/^nvidia\/cuda:12\.[0-9.]+-cudnn-runtime-ubuntu\d+\.\d+$/);
  });

  test('the build stage installs without the CUDA download, compiles, and prunes dev dependencies', () => {
    const runs = all('build', 'RUN').join('\n');
    expect(runs).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
    expect(runs).toMatch(/tsc -p tsconfig\.json/);
    expect(runs).toMatch(/npm prune --omit=dev/);
    expect(all('build', 'ENV')).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
  });

  test.each(TARGETS)('%s runs as a numeric non-root user with production files only and OCI labels', (target) => {
    const users = all(target, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const [uid, gid] = users[users.length - 1].split(':').map(Number);
    // Numeric, so that the kubelet can verify runAsNonRoot without a passwd lookup.
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    const copies = all(target, 'COPY');
    for (const c of copies) expect(c).toMatch(/^--from=\S+ /); // nothing from the build context: no sources, no tests
    const fromBuild = copies.filter((c) => !c.startsWith('--from=node '));
    const copied = fromBuild.map((c) => c.split(/\s+/)[1].replace(/^\/app\//, ''));
    expect(copied.sort()).toEqual(['bin', 'dist', 'node_modules', 'package.json', 'proto']);
    const labels = all(target, 'LABEL').join(' ');
    for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision', 'created']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
    expect(all(target, 'ENTRYPOINT').at(-1)).toBe('["modelplane"]');
  });

  test("the chart's default operator uid is the image's user", () => {
    const values = readFileSync(join(ROOT, 'charts', 'modelplane', 'values.yaml'), 'utf8');
    const uid = /^\s+runAsUser:\s*(\d+)/m.exec(values)![1];
    expect(all('operator', 'USER').at(-1)).toBe(`${uid}:${uid}`);
  });

  test('the GPU runtime installs the CUDA 12 execution provider and takes node from the node image', () => {
    const gpu = stage('runtime-gpu');
    const sourceStage = gpu.instructions.find((i) => i.keyword === 'COPY' && i.args.includes('node_modules'))!.args.split(/\s+/)[0].slice('--from='.length);
    expect(lineage(sourceStage).filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n')).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(stage(sourceStage).from).toBe('build');
    const nodeCopy = gpu.instructions.find((i) => i.keyword === 'COPY' && i.args.includes('/usr/local/bin/node'))!;
    const nodeStage = nodeCopy.args.split(/\s+/)[0].slice('--from='.length);
    expect(stage(nodeStage).from).toMatch(/^node:20-/);
  });

  test('the execution providers offered are those the images can run: TensorRT and WebGPU only with their libraries', () => {
    // onnxruntime-node's TensorRT provider needs libnvinfer (a TensorRT image or package), its WebGPU provider a
    // Vulkan loader (libvulkan1); neither image installs them, so neither provider may be named in a flag or a spec.
    const gpu = [stage('runtime-gpu').from, ...lineage('runtime-gpu').filter((i) => i.keyword === 'RUN').map((i) => i.args)].join('\n');
    const cpu = lineage('runtime').filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
    const tensorrt = /tensorrt|libnvinfer/i.test(gpu);
    const vulkan = /vulkan/i.test(gpu) || /vulkan/i.test(cpu);
    expect(SERVE_PROVIDERS.includes('tensorrt' as never)).toBe(tensorrt);
    expect(SPEC_PROVIDERS.includes('tensorrt' as never)).toBe(tensorrt);
    expect(SERVE_PROVIDERS.includes('webgpu' as never)).toBe(vulkan);
    expect([...SERVE_PROVIDERS].sort()).toEqual(['cpu', 'cuda']);
  });

  test('the operator image starts the operator and the runtime images serve', () => {
    expect(all('operator', 'CMD').at(-1)).toBe('["operator"]');
    for (const t of ['runtime', 'runtime-gpu']) expect(all(t, 'CMD').at(-1)).toMatch(/^\["serve"/);
    // ENTRYPOINT resolves through this symlink; the bin must carry a shebang to run without `node`.
    expect(readFileSync(join(ROOT, 'bin', 'modelplane.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env (-S )?node( --[a-z-]+=\S+)*\n/);
    expect(all('runtime', 'RUN').join('\n')).toContain('ln -s /app/bin/modelplane.js /usr/local/bin/modelplane');
  });

  test('the images carry the .proto files the gRPC server loads next to package.json at run time', () => {
    expect(all('build', 'COPY')).toContain('proto ./proto');
    for (const file of ['inference/grpc_service.proto', 'inference/model_config.proto', 'grpc/health/v1/health.proto']) {
      expect(existsSync(join(ROOT, 'proto', file))).toBe(true);
    }
  });

  test('every source the build copies exists, is not excluded by .dockerignore, and covers every compiled folder', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const contextCopies = dockerfile.stages.flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const src of contextCopies) {
      expect(existsSync(join(ROOT, src))).toBe(true);
      expect(ignored).not.toContain(src);
    }
    // A folder the compiler includes but the image build leaves out would break `docker build`.
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const compiled = tsconfig.include.map((p) => p.split('/')[0]).filter((dir) => existsSync(join(ROOT, dir)));
    for (const dir of compiled) {
      // Benchmarks and the test support jest's global setup runs compiled are in no image; tsc simply builds them too.
      if (dir === 'bench' || dir === 'test') continue;
      expect(contextCopies).toContain(dir);
    }
  });
});
