// The Open Inference Protocol surface of a real `modelplane serve` process, over real HTTP.
import { gzipSync } from 'node:zlib';
import { identityTypesModel, imageModel, simpleModel, IDENTITY_TYPES } from '../../examples/onnx-models.js';
import { infer, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

const dir = tempDir();
let simple: RuntimeProcess;
let types: RuntimeProcess;

const row = (start: number) => Array.from({ length: 16 }, (_, i) => start + i);

beforeAll(async () => {
  [simple, types] = await Promise.all([
    startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--log-level', 'warn']),
    startRuntime(['--model', modelFile(dir.path, 'types', identityTypesModel()), '--log-level', 'warn', '--max-batch-size', '1']),
  ]);
});

afterAll(async () => {
  await Promise.all([simple?.stop(), types?.stop()]);
  dir.remove();
});

describe('health and metadata', () => {
  test('live, ready, server metadata', async () => {
    expect((await fetch(`${simple.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${simple.url}/v2/health/ready`)).status).toBe(200);
    const meta = await (await fetch(`${simple.url}/v2`)).json();
    expect(meta).toEqual({ name: 'modelplane', version: expect.any(String), extensions: ['binary_tensor_data', 'statistics'] });
  });

  test("Triton's repository index: the model served; ready: true; a named repository, bad JSON and GET refused", async () => {
    const index = (body?: string, method = 'POST') => fetch(`${simple.url}/v2/repository/index`, { method, ...(body !== undefined ? { body, headers: { 'Content-Type': 'application/json' } } : {}) });
    const entry = { name: 'simple', version: '1', state: 'READY', reason: '' };
    expect(await (await index()).json()).toEqual([entry]);
    expect(await (await index('{"ready":true}')).json()).toEqual([entry]);
    expect(await (await index('{"repository_name":"","ready":false}')).json()).toEqual([entry]);
    const refusals: [string, number, string, RegExp][] = [
      ['{"repository_name":"models"}', 501, 'RepositoryNotSupported', /repository_name "models"/],
      ['{"ready":"yes"}', 400, 'InvalidRequest', /^ready: must be a boolean$/],
      ['[1]', 400, 'InvalidRequest', /must be a JSON object/],
      ['{"ready":', 400, 'MalformedJson', /^request body: /],
      [' '.repeat(70 * 1024), 413, 'BodyTooLarge', /more than 65536 bytes/],
    ];
    for (const [body, status, reason, message] of refusals) {
      const r = await index(body);
      const json = await r.json();
      expect([r.status, json.reason]).toEqual([status, reason]);
      expect(json.error).toMatch(message);
    }
    const get = await index(undefined, 'GET');
    expect([get.status, (await get.json()).reason]).toEqual([405, 'MethodNotAllowed']);
  });

  test.each(['/v2/models/simple', '/v2/models/simple/versions/1'])('model metadata at %s', async (path) => {
    const meta = await (await fetch(`${simple.url}${path}`)).json();
    expect(meta).toEqual({
      name: 'simple',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'INPUT0', datatype: 'FP32', shape: [-1, 16] },
        { name: 'INPUT1', datatype: 'FP32', shape: [-1, 16] },
      ],
      outputs: [
        { name: 'OUTPUT0', datatype: 'FP32', shape: [-1, 16] },
        { name: 'OUTPUT1', datatype: 'FP32', shape: [-1, 16] },
      ],
      parameters: { execution_provider: 'cpu', instances: 1, inline_run_max_us: expect.any(Number) },
      // What the warm-up ran (no --warmup: generated inputs) and how it went.
      warmup: { status: 'ok', inputs: 'generated' },
    });
  });

  test.each(['/v2/models/simple/ready', '/v2/models/simple/versions/1/ready'])('model ready at %s', async (path) => {
    expect((await fetch(`${simple.url}${path}`)).status).toBe(200);
  });

  test('every ONNX tensor type maps to its protocol datatype', async () => {
    const meta = await (await fetch(`${types.url}/v2/models/types`)).json();
    const expected: Record<string, string> = {
      FLOAT: 'FP32', FLOAT16: 'FP16', DOUBLE: 'FP64', UINT8: 'UINT8', UINT16: 'UINT16', UINT32: 'UINT32', UINT64: 'UINT64',
      INT8: 'INT8', INT16: 'INT16', INT32: 'INT32', INT64: 'INT64', BOOL: 'BOOL', STRING: 'BYTES',
    };
    for (const t of IDENTITY_TYPES) {
      expect(meta.inputs).toContainEqual({ name: `in_${t}`, datatype: expected[t], shape: [-1, -1] });
    }
  });

  test('unknown model and version answer 404 with an error body', async () => {
    const r1 = await fetch(`${simple.url}/v2/models/nope`);
    expect(r1.status).toBe(404);
    // Triton's wording, which its clients match on, with the stable reason beside it.
    expect(await r1.json()).toEqual({ error: "Request for unknown model: 'nope' is not found", reason: 'ModelNotFound' });
    const r2 = await fetch(`${simple.url}/v2/models/simple/versions/7/ready`);
    expect(r2.status).toBe(404);
    expect((await r2.json()).error).toMatch(/no version "7"/);
    const r3 = await infer(simple.url, 'nope', { inputs: [] });
    expect(r3.status).toBe(404);
    expect(r3.json).toEqual({ error: "Request for unknown model: 'nope' is not found", reason: 'ModelNotFound' });
  });

  test('the control surface answers JSON errors with a reason for unknown routes and wrong methods, and HEAD like GET', async () => {
    const missing = await fetch(`${simple.url}/v2/nothing/here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no route for GET /v2/nothing/here', reason: 'NotFound' });
    const wrong = await fetch(`${simple.url}/v2/health/live`, { method: 'POST' });
    expect(wrong.status).toBe(405);
    expect(await wrong.json()).toEqual({ error: 'POST /v2/health/live: use GET', reason: 'MethodNotAllowed' });
    const head = await fetch(`${simple.url}/v2/health/ready`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-powered-by')).toBeNull();
    const inferGet = await fetch(`${simple.url}/v2/models/simple/versions/1/infer`);
    expect(inferGet.status).toBe(405);
    expect((await inferGet.json()).reason).toBe('MethodNotAllowed');
  });

  test('Triton model configuration (batching is off unless asked for: max_batch_size 0, full dims)', async () => {
    const cfg = await (await fetch(`${simple.url}/v2/models/simple/config`)).json();
    expect(cfg).toMatchObject({ name: 'simple', platform: 'onnxruntime_onnx', max_batch_size: 0, input: [{ name: 'INPUT0', data_type: 'TYPE_FP32', dims: [-1, 16] }, expect.anything()] });
    expect(cfg.dynamic_batching).toBeUndefined();
  });
});

describe('inference with JSON tensors', () => {
  test('flat and nested data, id echoed, all outputs by default', async () => {
    const r = await infer(simple.url, 'simple', {
      id: 'req-42',
      inputs: [
        { name: 'INPUT0', shape: [2, 16], datatype: 'FP32', data: [...row(0), ...row(100)] },
        { name: 'INPUT1', shape: [2, 16], datatype: 'FP32', data: [row(1), row(1)] },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json.model_name).toBe('simple');
    expect(r.json.id).toBe('req-42');
    expect(r.json.outputs.map((o: { name: string }) => o.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
    const [sum, diff] = r.json.outputs;
    expect(sum.shape).toEqual([2, 16]);
    expect(sum.datatype).toBe('FP32');
    expect(sum.data).toEqual([...row(0).map((v, i) => v + row(1)[i]), ...row(100).map((v, i) => v + row(1)[i])]);
    expect(diff.data).toEqual([...Array(16).fill(-1), ...Array(16).fill(99)]);
  });

  test('requested outputs come back exactly, in the order asked', async () => {
    const r = await infer(simple.url, 'simple', {
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: row(5) },
        { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: row(1) },
      ],
      outputs: [{ name: 'OUTPUT1' }],
    });
    expect(r.json.outputs.map((o: { name: string }) => o.name)).toEqual(['OUTPUT1']);
    const r2 = await infer(simple.url, 'simple', {
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: row(5) },
        { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: row(1) },
      ],
      outputs: [{ name: 'OUTPUT1' }, { name: 'OUTPUT0' }],
    });
    expect(r2.json.outputs.map((o: { name: string }) => o.name)).toEqual(['OUTPUT1', 'OUTPUT0']);
    expect(r2.json.outputs[0].data).toEqual(Array(16).fill(4));
  });

  test('the versioned infer path works and a gzip body is accepted', async () => {
    const body = JSON.stringify({ inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: row(0) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: row(0) },
    ] });
    const r = await fetch(`${simple.url}/v2/models/simple/versions/1/infer`, { method: 'POST', body: gzipSync(body), headers: { 'Content-Encoding': 'gzip' } });
    expect(r.status).toBe(200);
    expect((await r.json()).outputs[0].data).toEqual(row(0).map((v) => 2 * v));
  });
});

describe('every datatype round-trips through the model', () => {
  const values: Record<string, unknown[]> = {
    FP32: [1.5, -2.25, 0, 1e10], FP16: [1.5, -2, 0.099975586, 65504], FP64: [1.000000000001, -2, 1e-300, 3],
    UINT8: [0, 1, 254, 255], UINT16: [0, 1, 65534, 65535], UINT32: [0, 1, 4294967294, 4294967295],
    UINT64: [0, 1, 2 ** 40, 2 ** 53 - 1], INT8: [-128, -1, 0, 127], INT16: [-32768, -1, 0, 32767],
    INT32: [-2147483648, -1, 0, 2147483647], INT64: [-(2 ** 53 - 1), -1, 0, 2 ** 53 - 1],
    BOOL: [true, false, false, true], BYTES: ['a', '', 'héllo', 'x'.repeat(300)],
  };
  const onnxName: Record<string, string> = {
    FP32: 'FLOAT', FP16: 'FLOAT16', FP64: 'DOUBLE', UINT8: 'UINT8', UINT16: 'UINT16', UINT32: 'UINT32', UINT64: 'UINT64',
    INT8: 'INT8', INT16: 'INT16', INT32: 'INT32', INT64: 'INT64', BOOL: 'BOOL', BYTES: 'STRING',
  };

  function inputsJson() {
    return Object.entries(values).map(([dt, data]) => ({ name: `in_${onnxName[dt]}`, datatype: dt, shape: [2, 2], data }));
  }

  test('as JSON', async () => {
    const r = await infer(types.url, 'types', { inputs: inputsJson() });
    expect(r.status).toBe(200);
    for (const [dt, data] of Object.entries(values)) {
      const out = r.json.outputs.find((o: { name: string }) => o.name === `out_${onnxName[dt]}`);
      expect({ dt, datatype: out.datatype, shape: out.shape }).toEqual({ dt, datatype: dt, shape: [2, 2] });
      if (dt === 'FP16') expect(out.data).toEqual([1.5, -2, 0.0999755859375, 65504]);
      else expect({ dt, data: out.data }).toEqual({ dt, data });
    }
  });

  test('as binary, in and out, with BYTES length prefixes', async () => {
    const chunks: Uint8Array[] = [];
    const encode = (dt: string, data: unknown[]): Uint8Array => {
      switch (dt) {
        case 'FP32': return new Uint8Array(Float32Array.from(data as number[]).buffer);
        case 'FP64': return new Uint8Array(Float64Array.from(data as number[]).buffer);
        case 'FP16': return new Uint8Array(Uint16Array.from([0x3e00, 0xc000, 0x2e66, 0x7bff]).buffer);
        case 'UINT8': return Uint8Array.from(data as number[]);
        case 'UINT16': return new Uint8Array(Uint16Array.from(data as number[]).buffer);
        case 'UINT32': return new Uint8Array(Uint32Array.from(data as number[]).buffer);
        case 'UINT64': return new Uint8Array(BigUint64Array.from((data as number[]).map(BigInt)).buffer);
        case 'INT8': return new Uint8Array(Int8Array.from(data as number[]).buffer);
        case 'INT16': return new Uint8Array(Int16Array.from(data as number[]).buffer);
        case 'INT32': return new Uint8Array(Int32Array.from(data as number[]).buffer);
        case 'INT64': return new Uint8Array(BigInt64Array.from((data as number[]).map(BigInt)).buffer);
        case 'BOOL': return Uint8Array.from((data as boolean[]).map(Number));
        default: return Buffer.concat((data as string[]).map((s) => { const b = Buffer.from(s); const l = Buffer.alloc(4); l.writeUInt32LE(b.length); return Buffer.concat([l, b]); }));
      }
    };
    const inputs = Object.entries(values).map(([dt, data]) => {
      const bytes = encode(dt, data);
      chunks.push(bytes);
      return { name: `in_${onnxName[dt]}`, datatype: dt, shape: [2, 2], parameters: { binary_data_size: bytes.byteLength } };
    });
    const r = await infer(types.url, 'types', { inputs, parameters: { binary_data_output: true } }, chunks);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    let off = 0;
    r.json.outputs.forEach((o: { name: string; parameters: { binary_data_size: number } }, i: number) => {
      const size = o.parameters.binary_data_size;
      expect({ name: o.name, bytes: [...r.binary.subarray(off, off + size)] }).toEqual({ name: o.name, bytes: [...chunks[i]] });
      off += size;
    });
    expect(off).toBe(r.binary.byteLength);
  });

  test('a per-output binary_data: false wins over binary_data_output', async () => {
    const r = await infer(types.url, 'types', {
      inputs: inputsJson(),
      parameters: { binary_data_output: true },
      outputs: [{ name: 'out_INT32', parameters: { binary_data: false } }, { name: 'out_FLOAT' }],
    });
    expect(r.json.outputs[0]).toMatchObject({ name: 'out_INT32', data: values.INT32 });
    expect(r.json.outputs[1]).toMatchObject({ name: 'out_FLOAT', parameters: { binary_data_size: 16 } });
    expect([...new Float32Array(r.binary.buffer.slice(r.binary.byteOffset, r.binary.byteOffset + 16))]).toEqual(values.FP32);
  });
});

describe("Triton's HTTP client wire format", () => {
  // tritonclient.http sends binary inputs with no Content-Type, asks for binary outputs per output, and reads
  // the response by Inference-Header-Content-Length.
  test('binary request without content type, per-output binary_data', async () => {
    const in0 = Float32Array.from(row(0));
    const in1 = Float32Array.from(Array(16).fill(1));
    const header = JSON.stringify({
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } },
        { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', parameters: { binary_data_size: 64 } },
      ],
      outputs: [
        { name: 'OUTPUT0', parameters: { binary_data: true } },
        { name: 'OUTPUT1', parameters: { binary_data: true } },
      ],
    });
    const body = Buffer.concat([Buffer.from(header), Buffer.from(in0.buffer), Buffer.from(in1.buffer)]);
    const r = await fetch(`${simple.url}/v2/models/simple/infer`, {
      method: 'POST',
      body,
      headers: { 'Inference-Header-Content-Length': String(Buffer.byteLength(header)), 'Content-Type': '' },
    });
    expect(r.status).toBe(200);
    const buf = Buffer.from(await r.arrayBuffer());
    const hl = Number(r.headers.get('inference-header-content-length'));
    const meta = JSON.parse(buf.subarray(0, hl).toString());
    expect(meta.outputs).toEqual([
      { name: 'OUTPUT0', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } },
      { name: 'OUTPUT1', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } },
    ]);
    const out = new Float32Array(buf.buffer.slice(buf.byteOffset + hl, buf.byteOffset + hl + 128));
    expect([...out.subarray(0, 16)]).toEqual(row(1));
    expect([...out.subarray(16)]).toEqual(row(-1));
  });
});

describe('a fixed-batch model', () => {
  test('image model serves a 1x3x224x224 binary input', async () => {
    const rt = await startRuntime(['--model', modelFile(dir.path, 'image', imageModel()), '--log-level', 'warn']);
    try {
      const img = new Float32Array(3 * 224 * 224).fill(0.5);
      const r = await infer(rt.url, 'image', { inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 3, 224, 224], parameters: { binary_data_size: img.byteLength } }] }, [new Uint8Array(img.buffer)]);
      expect(r.status).toBe(200);
      expect(r.json.outputs[0].shape).toEqual([1, 8]);
      expect(r.json.outputs[0].data.every((v: number) => Number.isFinite(v))).toBe(true);
    } finally {
      await rt.stop();
    }
  });
});
