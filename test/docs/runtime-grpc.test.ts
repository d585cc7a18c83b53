// The gRPC snippets of docs/runtime.md: the grpcurl calls run (their payloads through a grpc-js client, against a real server
// serving the model the snippets name), and the Triton Python client call names that model's real tensors.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { simpleModel } from '../../examples/onnx-models.js';
import { LOADER_OPTIONS } from '../../runtime/grpc/proto.js';
import { grpcClient } from '../support/grpc-client.js';
import { freePort, modelFile, REPO, startRuntime, tempDir } from '../support/runtime-process.js';

const page = readFileSync(join(REPO, 'docs', 'runtime.md'), 'utf8');
const section = page.slice(page.indexOf('## gRPC (`--grpc-port`)'), page.indexOf('\n## ', page.indexOf('## gRPC (`--grpc-port`)')));
const blocks = (lang: string) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const serveLine = /`npx modelplane serve --model (\S+) --grpc-port (\d+)`/.exec(section);
const sig = simpleModel();

test('the section names a serve command for the example model', () => {
  expect(serveLine).not.toBeNull();
  expect(serveLine![1]).toBe('examples/models/simple.onnx'); // what `npm start` builds
});

test('the Python snippet calls the served port, model, inputs and output of the example model', () => {
  const [py] = blocks('python');
  expect(py).toContain(`InferenceServerClient("localhost:${serveLine![2]}")`);
  const inputs = [...py.matchAll(/InferInput\("(\w+)", \[([\d, ]+)\], "(\w+)"\)/g)].map((m) => ({ name: m[1], shape: m[2], datatype: m[3] }));
  expect(inputs.map((i) => i.name)).toEqual(sig.inputs.map((i) => i.name));
  for (const i of inputs) expect(i).toMatchObject({ shape: '1, 16', datatype: 'FP32' });
  expect(py).toMatch(/np\.(arange|ones)\(.*dtype=np\.float32\)/);
  expect(py).toContain('.infer("simple", inputs)');
  const out = /as_numpy\("(\w+)"\)/.exec(py)![1];
  expect(sig.outputs.map((o) => o.name)).toContain(out);
});

test('each grpcurl call names proto files that exist and a method they define, and its payload gets the answer', async () => {
  const [sh] = blocks('sh');
  // One command per `grpcurl` (a payload may span lines inside its quotes; `\` continues a line).
  const calls = sh.replace(/\\\n\s*/g, ' ').split(/\n(?=grpcurl )/).map((c) => c.trim()).filter((c) => c.startsWith('grpcurl '));
  expect(calls).toHaveLength(2);
  const dir = tempDir();
  const grpcPort = await freePort();
  const rt = await startRuntime(['--model', modelFile(dir.path, 'simple', sig), '--grpc-port', String(grpcPort), '--log-level', 'warn']);
  const client = grpcClient(grpcPort);
  try {
    for (const call of calls) {
      const importPath = /-import-path (\S+)/.exec(call)![1];
      const proto = /-proto (\S+)/.exec(call)![1];
      expect(existsSync(join(REPO, importPath, proto))).toBe(true);
      const [, host, service, method] = / (localhost:\d+) ([\w.]+)\/(\w+)$/.exec(call)!;
      expect(host).toBe(`localhost:${serveLine![2]}`);
      const definition = loadSync(proto, { ...LOADER_OPTIONS, includeDirs: [join(REPO, importPath)] });
      expect(Object.keys(definition[service] as object)).toContain(method);
      const data = /-d '([^']*)'/.exec(call)?.[1];
      if (method === 'Check') {
        expect(await client.check(data ? JSON.parse(data).service : '')).toBe('SERVING');
        continue;
      }
      expect(method).toBe('ModelInfer');
      const answer = await client.call(method, JSON.parse(data!));
      expect(answer.outputs.map((o: { name: string }) => o.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
      const sum = Array.from(new Float32Array(new Uint8Array(answer.raw_output_contents[0]).buffer));
      expect(sum).toEqual(Array.from({ length: 16 }, (_, i) => i + 2));
    }
  } finally {
    client.close();
    await rt.stop();
    dir.remove();
  }
});
