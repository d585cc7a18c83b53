// docs/generation.md against the real thing: every curl on the page is sent, as written, to `modelplane serve` of the
// example decoder served under the page's model name; the flags it documents are the serve contract's; the metrics
// it lists are the ones the runtime exports; the ModelDeployment it shows is examples/generative.yaml's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { GENERATION_DEFAULTS, GENERATION_FLAGS, GENERATION_LIMITS } from '../../common/serve-contract.js';
import { parseManifests } from '../chart/kube-schemas.js';
import { blocks, shellCommands } from '../support/docs.js';
import { REPO, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';
import { decoderDir, readEvents } from '../runtime/generate/support.js';

const PAGE = 'docs/generation.md';
const page = readFileSync(join(REPO, PAGE), 'utf8');
const curls = blocks(PAGE).filter((b) => b.lang === 'sh').flatMap((b) => shellCommands(b.text)).filter((w) => w[0] === 'curl');

/** What a curl command line asks for: the URL path, its body (POST when there is one), and whether it streams (-N). */
function request(words: string[]): { path: string; body?: string; stream: boolean; headers: Record<string, string> } {
  const args = words.slice(1);
  const valued = new Set(['-H', '-d', '-X', '-o']);
  const target = args.find((a, i) => !a.startsWith('-') && !valued.has(args[i - 1]))!;
  const headers: Record<string, string> = {};
  args.forEach((a, i) => {
    if (args[i - 1] === '-H') headers[a.slice(0, a.indexOf(':'))] = a.slice(a.indexOf(':') + 1).trim();
  });
  const d = args.indexOf('-d');
  return { path: new URL(`http://${target}`).pathname, body: d >= 0 ? args[d + 1] : undefined, stream: args.includes('-N'), headers };
}

describe('docs/generation.md', () => {
  const tmp = tempDir('modelplane-docs-gen-');
  let rt: RuntimeProcess;
  beforeAll(async () => {
    rt = await startRuntime(['--model', decoderDir(tmp.path, 'chat').dir, '--name', 'chat', '--log-level', 'warn']);
  }, 60_000);
  afterAll(async () => {
    await rt?.stop();
    tmp.remove();
  });

  test('shows the OpenAI routes, streaming with curl -N, and both Triton generate routes', () => {
    const paths = curls.map((w) => request(w).path);
    expect(new Set(paths)).toEqual(new Set(['/v1/models', '/v1/completions', '/v1/chat/completions', '/v2/models/chat/generate', '/v2/models/chat/generate_stream']));
    expect(curls.filter((w) => w.includes('-N')).map((w) => request(w).path).sort()).toEqual(['/v1/chat/completions', '/v2/models/chat/generate_stream']);
  });

  test('every curl on the page gets its answer from a real runtime', async () => {
    for (const words of curls) {
      const r = request(words);
      const res = await fetch(`${rt.url}${r.path}`, r.body === undefined ? {} : { method: 'POST', headers: r.headers, body: r.body });
      const what = words.join(' ');
      expect({ what, status: res.status }).toEqual({ what, status: 200 });
      if (!r.stream) {
        const body = await res.json();
        if (r.path === '/v1/models') expect(body.data[0]).toMatchObject({ id: 'chat', object: 'model' });
        else if (r.path.startsWith('/v2/')) expect(body).toMatchObject({ model_name: 'chat', text_output: expect.any(String), finish_reason: expect.any(String) });
        else expect(body.choices[0].finish_reason).toEqual(expect.any(String));
        continue;
      }
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = await readEvents(res);
      if (r.path.startsWith('/v1/')) {
        expect(events.at(-1)).toBe('[DONE]');
        // stream_options.include_usage: the last chunk before [DONE] carries the counts.
        expect(JSON.parse(events.at(-2)!).usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
      } else {
        expect(JSON.parse(events.at(-1)!)).toMatchObject({ model_name: 'chat', finish_reason: expect.any(String) });
      }
    }
  }, 120_000);

  test('documents every generation flag with its environment variable and default, and the bounds the CRD takes', () => {
    for (const [key, f] of Object.entries(GENERATION_FLAGS)) {
      const flag = f.flags.split(' ')[0];
      const row = page.split('\n').find((l) => l.startsWith(`| \`${flag}\``));
      expect({ flag, row: row?.includes(`\`${f.env}\``) }).toEqual({ flag, row: true });
      const byDefault = GENERATION_DEFAULTS[key as keyof typeof GENERATION_DEFAULTS];
      if (byDefault !== undefined) expect(row!.trim().endsWith(`| ${byDefault} |`)).toBe(true);
    }
    expect(page).toContain(`\`maxNumSeqs\` is ${GENERATION_LIMITS.maxNumSeqs.min} to ${GENERATION_LIMITS.maxNumSeqs.max}`);
    expect(page).toContain(`\`maxModelLen\` ${GENERATION_LIMITS.maxModelLen.min} to ${GENERATION_LIMITS.maxModelLen.max.toLocaleString('en-US')}`);
    expect(GENERATION_LIMITS.maxKvCacheBytes).toEqual({ min: 1024, max: 16 * 2 ** 40 });
    expect(page).toContain('`maxKvCacheBytes` 1 KiB to 16 TiB');
  });

  test('lists exactly the generation metrics the runtime exports', async () => {
    const exported = new Set([...(await (await fetch(`${rt.url}/metrics`)).text()).matchAll(/^# TYPE (modelplane_generation_\w+) (\w+)$/gm)].map((m) => `${m[1]} ${m[2]}`));
    const listed = new Set([...page.matchAll(/^\| `(modelplane_generation_\w+)` \| (\w+) \|/gm)].map((m) => `${m[1]} ${m[2]}`));
    expect(listed).toEqual(exported);
  });

  test('what the GPU section reads in onnxruntime-common\'s typings is what they say', () => {
    const typings = (file: string) => readFileSync(join(REPO, 'node_modules/onnxruntime-common/dist/esm', file), 'utf8');
    expect(JSON.parse(readFileSync(join(REPO, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version).toBe('1.30.0');
    const cuda = /interface CudaExecutionProviderOption extends ExecutionProviderOption \{([^}]*)\}/.exec(typings('inference-session.d.ts'))![1];
    expect(cuda.replace(/\s+/g, ' ').trim()).toBe("readonly name: 'cuda'; deviceId?: number;");
    const location = /type DataLocation = ([^;]*);/.exec(typings('tensor.d.ts'))![1];
    expect(location).toBe("'none' | 'cpu' | 'cpu-pinned' | 'texture' | 'gpu-buffer' | 'ml-tensor'");
    expect(page).toContain(`\`Tensor.DataLocation\` is \`${location}\``);
    expect(page).toContain("`CudaExecutionProviderOption` is `{ name: 'cuda'; deviceId?: number }`");
    const session = typings('inference-session.d.ts');
    expect(session).toMatch(/This setting is available only in ONNXRuntime Web for WebGL and WebGPU EP\.\s*\*\/\s*preferredOutputLocation\?/);
    expect(session).toMatch(/This setting is available only in ONNXRuntime Web for WebGPU EP\.\s*\*\/\s*enableGraphCapture\?/);
  });

  test('the ModelDeployment on the page is the one examples/generative.yaml applies', () => {
    const shown = blocks(PAGE).filter((b) => b.lang === 'yaml').map((b) => yaml.load(b.text) as { kind?: string; spec?: unknown }).find((o) => o.kind === 'ModelDeployment')!;
    const example = parseManifests(readFileSync(join(REPO, 'examples/generative.yaml'), 'utf8')).find((o) => o.kind === 'ModelDeployment')!;
    const { replicas: _replicas, autoscaling, ...spec } = example.spec as { replicas?: number; autoscaling: { minReplicas?: number } };
    const { minReplicas: _min, ...scaling } = autoscaling;
    expect(shown.spec).toEqual({ ...spec, autoscaling: scaling });
  });
});
