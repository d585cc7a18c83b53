// Bad input gets a clear 4xx naming the field, and the server keeps serving correctly afterwards.
import { request } from 'node:http';
import { simpleModel, identityTypesModel } from '../../examples/onnx-models.js';
import { infer, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

const dir = tempDir();
let rt: RuntimeProcess;
let types: RuntimeProcess;

const row = Array.from({ length: 16 }, (_, i) => i);
const good = () => ({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: row },
    { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: row },
  ],
});

/** Sends raw bytes with raw headers (fetch would refuse some of these). */
function rawPost(url: string, path: string, body: Buffer, headers: Record<string, string | number> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'Content-Length': body.byteLength, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  [rt, types] = await Promise.all([
    startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--max-body-bytes', '65536', '--log-level', 'error']),
    startRuntime(['--model', modelFile(dir.path, 'types', identityTypesModel()), '--log-level', 'error']),
  ]);
});

afterAll(async () => {
  await Promise.all([rt?.stop(), types?.stop()]);
  dir.remove();
});

type Case = [string, () => object, RegExp, string?];

const cases: Case[] = [
  ['missing inputs', () => ({}), /^inputs: is required/, 'InvalidRequest'],
  ['inputs not an array', () => ({ inputs: {} }), /^inputs: must be an array/],
  ['unknown input', () => ({ inputs: [...good().inputs, { name: 'EXTRA', shape: [1], datatype: 'FP32', data: [1] }] }), /inputs\[2\]\.name: unknown input "EXTRA"/, 'UnknownInput'],
  ['missing input', () => ({ inputs: [good().inputs[0]] }), /inputs: missing "INPUT1"/, 'MissingInput'],
  ['duplicate input', () => ({ inputs: [good().inputs[0], good().inputs[0]] }), /inputs\[1\]\.name: input "INPUT0" appears more than once/],
  ['unknown requested output', () => ({ ...good(), outputs: [{ name: 'NOPE' }] }), /outputs\[0\]\.name: unknown output "NOPE"/, 'UnknownOutput'],
  ['datatype mismatch', () => ({ inputs: [{ ...good().inputs[0], datatype: 'INT32' }, good().inputs[1]] }), /inputs\[0\]\.datatype: is INT32 but input INPUT0 is FP32/, 'DatatypeMismatch'],
  ['not a datatype', () => ({ inputs: [{ ...good().inputs[0], datatype: 'FLOAT' }, good().inputs[1]] }), /inputs\[0\]\.datatype: "FLOAT" is not a protocol datatype/],
  ['data shorter than shape', () => ({ inputs: [{ ...good().inputs[0], data: [1, 2] }, good().inputs[1]] }), /inputs\[0\]\.data: has 2 elements but shape \[1,16\] needs 16/, 'DataMismatch'],
  ['wrong element type', () => ({ inputs: [{ ...good().inputs[0], data: [...row.slice(1), 'x'] }, good().inputs[1]] }), /inputs\[0\]\.data\[15\]: expected a number for FP32/],
  ['negative dimension', () => ({ inputs: [{ ...good().inputs[0], shape: [-1, 16] }, good().inputs[1]] }), /inputs\[0\]\.shape\[0\]: -1 is not a non-negative integer/, 'ShapeMismatch'],
  ['absurd dimension', () => ({ inputs: [{ ...good().inputs[0], shape: [1e15, 16] }, good().inputs[1]] }), /inputs\[0\]\.shape\[0\]: 1000000000000000 exceeds/],
  ['huge product of dims', () => ({ inputs: [{ ...good().inputs[0], shape: [2147483647, 16] }, good().inputs[1]] }), /inputs\[0\]\.data: has 16 elements but shape \[2147483647,16\]/],
  ['wrong rank', () => ({ inputs: [{ ...good().inputs[0], shape: [16] }, good().inputs[1]] }), /inputs\[0\]\.shape: has rank 1 but input INPUT0 has rank 2/],
  ['fixed dim mismatch', () => ({ inputs: [{ ...good().inputs[0], shape: [2, 8] }, good().inputs[1]] }), /inputs\[0\]\.shape\[1\]: is 8 but input INPUT0 requires 16/],
  ['data and binary_data_size', () => ({ inputs: [{ ...good().inputs[0], parameters: { binary_data_size: 64 } }, good().inputs[1]] }), /inputs\[0\]: has both data and parameters\.binary_data_size/],
  ['neither data nor binary', () => ({ inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'FP32' }, good().inputs[1]] }), /inputs\[0\]: needs data or parameters\.binary_data_size/],
  ['id not a string', () => ({ ...good(), id: 7 }), /^id: must be a string/],
  ['binary_data not a boolean', () => ({ ...good(), outputs: [{ name: 'OUTPUT0', parameters: { binary_data: 'yes' } }] }), /outputs\[0\]\.parameters\.binary_data: must be a boolean/],
];

describe('refusals name the field and the reason', () => {
  // Rows become objects so jest does not take a missing reason for a done callback.
  test.each(cases.map(([name, body, message, reason]) => ({ name, body, message, reason })))('$name', async ({ body, message, reason }) => {
    const r = await infer(rt.url, 'simple', body());
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(message);
    if (reason) expect(r.json.reason).toBe(reason);
  });

  test('malformed JSON', async () => {
    const r = await rawPost(rt.url, '/v2/models/simple/infer', Buffer.from('{"inputs": [ '));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ reason: 'MalformedJson', error: expect.stringMatching(/^request body is not valid JSON/) });
  });

  test('JSON whose bytes are not UTF-8 is refused, not read as U+FFFD', async () => {
    const json = Buffer.from(JSON.stringify(good()));
    // A string value holding 0xff: as text it would become U+FFFD.
    const body = Buffer.concat([Buffer.from('{"id":"a'), Buffer.from([0xff]), Buffer.from('",'), json.subarray(1)]);
    const r = await rawPost(rt.url, '/v2/models/simple/infer', body);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ reason: 'MalformedJson', error: 'request body is not valid UTF-8: byte 0xff at offset 8 does not begin or continue a character; send JSON as UTF-8' });
  });

  test('out-of-range integers', async () => {
    const r = await infer(types.url, 'types', { inputs: [{ name: 'in_UINT8', datatype: 'UINT8', shape: [1, 1], data: [300] }] });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/inputs\[0\]\.data\[0\]: 300 is out of range for UINT8/);
  });

  test('binary chunk sizes that do not add up to the body', async () => {
    const header = { inputs: good().inputs.map((i) => ({ name: i.name, shape: i.shape, datatype: i.datatype, parameters: { binary_data_size: 64 } })) };
    const json = Buffer.from(JSON.stringify(header));
    const short = await rawPost(rt.url, '/v2/models/simple/infer', Buffer.concat([json, Buffer.alloc(100)]), { 'Inference-Header-Content-Length': json.byteLength });
    expect(short.status).toBe(400);
    expect(JSON.parse(short.body).error).toMatch(/inputs\[1\]\.parameters\.binary_data_size: 64 bytes at offset 64 run past the 100 bytes/);
    const long = await rawPost(rt.url, '/v2/models/simple/infer', Buffer.concat([json, Buffer.alloc(130)]), { 'Inference-Header-Content-Length': json.byteLength });
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body).error).toMatch(/130 bytes sent but the inputs' binary_data_size add up to 128/);
    const headerTooLong = await rawPost(rt.url, '/v2/models/simple/infer', json, { 'Inference-Header-Content-Length': json.byteLength + 5 });
    expect(headerTooLong.status).toBe(400);
    expect(JSON.parse(headerTooLong.body).error).toMatch(/Inference-Header-Content-Length/);
    const wrongSize = { inputs: header.inputs.map((i) => ({ ...i, parameters: { binary_data_size: 60 } })) };
    const wj = Buffer.from(JSON.stringify(wrongSize));
    const r = await rawPost(rt.url, '/v2/models/simple/infer', Buffer.concat([wj, Buffer.alloc(120)]), { 'Inference-Header-Content-Length': wj.byteLength });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toMatch(/inputs\[0\]: binary_data_size is 60 bytes but shape \[1,16\] of FP32 needs 64/);
  });

  test('an oversized body answers 413 at once', async () => {
    const r = await rawPost(rt.url, '/v2/models/simple/infer', Buffer.alloc(70_000, 0x20));
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ reason: 'BodyTooLarge' });
  });

  test('wrong method and unknown route', async () => {
    expect((await fetch(`${rt.url}/v2/models/simple/infer`)).status).toBe(405);
    expect((await fetch(`${rt.url}/v3/anything`)).status).toBe(404);
  });
});

/** Mutations of a valid request: each either a well-formed 4xx or a correct 200. */
function mutate(rand: () => number): { body: Buffer; headers: Record<string, string | number> } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const weird = [null, true, -1, 0, 1.5, 1e308, 'x', '', [], {}, [[]], [-1], [1e9, 1e9], { binary_data_size: -5 }, '🙂', NaN];
  const req: any = good();
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const which = Math.floor(rand() * 12);
    const candidate = Array.isArray(req.inputs) ? req.inputs[Math.floor(rand() * 2)] : undefined;
    const input = typeof candidate === 'object' && candidate !== null && !Array.isArray(candidate) ? candidate : undefined;
    switch (which) {
      case 0: if (input) input.shape = pick(weird); break;
      case 1: if (input) input.datatype = pick([...weird, 'FP16', 'BYTES', 'INT64']); break;
      case 2: if (input) input.data = pick(weird); break;
      case 3: if (input) input.name = pick([...weird, 'INPUT1', 'INPUT0']); break;
      case 4: req.outputs = pick([weird, [{ name: 'OUTPUT0' }], [{ name: pick(weird) }], [{ name: 'OUTPUT1', parameters: pick(weird) }]]); break;
      case 5: req.parameters = pick([...weird, { binary_data_output: pick(weird) }]); break;
      case 6: if (input) input.parameters = { binary_data_size: pick([64, 0, -1, 1e12, 'x']) }; break;
      case 7: req.inputs = pick([...weird, req.inputs]); break;
      case 8: if (input && Array.isArray(input.data)) input.data = input.data.map((v: number) => (rand() < 0.1 ? pick(weird) : v)); break;
      case 9: if (input && Array.isArray(input.shape)) input.shape = [...input.shape, 1]; break;
      case 10: req.id = pick(weird); break;
      default: if (input) delete input[pick(['name', 'shape', 'datatype', 'data'])];
    }
  }
  let body = Buffer.from(JSON.stringify(req) ?? 'null');
  const headers: Record<string, string | number> = {};
  const tail = rand();
  if (tail < 0.15) body = body.subarray(0, Math.floor(rand() * body.length));
  else if (tail < 0.3) {
    headers['Inference-Header-Content-Length'] = pick([body.length, body.length - 3, 0, 'abc', -1, body.length * 2]);
    body = Buffer.concat([body, Buffer.alloc(Math.floor(rand() * 200), Math.floor(rand() * 256))]);
  } else if (tail < 0.35) {
    const i = Math.floor(rand() * body.length);
    body[i] = Math.floor(rand() * 256);
  }
  return { body, headers };
}

function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('thousands of random and mutated requests: well-formed answers, still correct, memory back to baseline', async () => {
  const rand = rng(12345);
  const warm = async (k: number) => {
    for (let i = 0; i < k; i++) {
      const { body, headers } = mutate(rand);
      await rawPost(rt.url, '/v2/models/simple/infer', body, headers);
    }
  };
  await warm(300);
  const baseline = rt.rssKb();
  const statuses = new Map<number, number>();
  const total = 3000;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const { body, headers } = mutate(rand);
      const r = await rawPost(rt.url, '/v2/models/simple/infer', body, headers);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(r.status === 200 || (r.status >= 400 && r.status < 500)).toBe(true);
      const parsed = r.headers['inference-header-content-length'] ? null : JSON.parse(r.body);
      if (r.status >= 400) expect(typeof parsed.error).toBe('string');
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  expect(statuses.get(400)).toBeGreaterThan(total / 3);
  const after = await infer(rt.url, 'simple', good());
  expect(after.status).toBe(200);
  expect(after.json.outputs[0].data).toEqual(row.map((v) => 2 * v));
  // Garbage collection is lazy; allow a little settling, then compare with the level after warm-up.
  let rss = rt.rssKb();
  for (let i = 0; i < 20 && rss > baseline * 1.25; i++) {
    await new Promise((r) => setTimeout(r, 100));
    rss = rt.rssKb();
  }
  expect(rss).toBeLessThan(baseline * 1.25 + 16 * 1024);
});
