// Exact data or a clear refusal: bytes that cannot be carried unaltered are refused naming the element, and
// everything that can be carried comes back byte for byte, over JSON and binary, in and out.
import { request } from 'node:http';
import { simpleModel, type GraphSpec } from '../../examples/onnx-models.js';
import { infer, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

const dir = tempDir();
let strings: RuntimeProcess;
let floats: RuntimeProcess;
let simple: RuntimeProcess;

/** in_<TYPE> -> Identity -> out_<TYPE> for each type. */
function identity(name: string, types: ('STRING' | 'FLOAT' | 'FLOAT16' | 'DOUBLE')[]): GraphSpec {
  return {
    name,
    inputs: types.map((t) => ({ name: `in_${t}`, type: t, shape: ['batch', 'n'] })),
    outputs: types.map((t) => ({ name: `out_${t}`, type: t, shape: ['batch', 'n'] })),
    nodes: types.map((t) => ({ op: 'Identity', inputs: [`in_${t}`], outputs: [`out_${t}`] })),
  };
}

beforeAll(async () => {
  [strings, floats, simple] = await Promise.all([
    startRuntime(['--model', modelFile(dir.path, 'strings', identity('strings', ['STRING'])), '--log-level', 'error']),
    startRuntime(['--model', modelFile(dir.path, 'floats', identity('floats', ['FLOAT', 'FLOAT16', 'DOUBLE'])), '--log-level', 'error']),
    startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--log-level', 'error']),
  ]);
});

afterAll(async () => {
  await Promise.all([strings?.stop(), floats?.stop(), simple?.stop()]);
  dir.remove();
});

/** BYTES elements as the binary extension lays them out: a 4-byte little-endian length, then the bytes. */
function lengthPrefixed(elements: Uint8Array[]): Buffer {
  return Buffer.concat(elements.flatMap((e) => {
    const l = Buffer.alloc(4);
    l.writeUInt32LE(e.byteLength);
    return [l, Buffer.from(e)];
  }));
}

function elementsOf(chunk: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < chunk.byteLength;) {
    const n = chunk.readUInt32LE(off);
    out.push(chunk.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  return out;
}

function rawPost(url: string, path: string, body: Buffer, headers: Record<string, string | number>): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'Content-Length': body.byteLength, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bytesInput = (size: number, count: number) => ({ name: 'in_STRING', datatype: 'BYTES', shape: [1, count], parameters: { binary_data_size: size } });

describe('BYTES', () => {
  // Empty, ASCII, 2-, 3- and 4-byte sequences, a leading byte-order mark, control characters.
  const valid = ['', 'plain', 'héllo', '日本語', '🙂 emoji', '\ufeffbom first', 'tab\tand\u0001', 'x'.repeat(1000)];

  test('valid UTF-8 round-trips exactly as binary, in and out', async () => {
    const encoded = valid.map((s) => Buffer.from(s, 'utf8'));
    const chunk = lengthPrefixed(encoded);
    const r = await infer(strings.url, 'strings', { inputs: [bytesInput(chunk.byteLength, valid.length)], outputs: [{ name: 'out_STRING', parameters: { binary_data: true } }] }, [chunk]);
    expect(r.status).toBe(200);
    expect(r.json.outputs[0]).toMatchObject({ name: 'out_STRING', datatype: 'BYTES', shape: [1, valid.length] });
    expect(elementsOf(r.binary).map((b) => b.toString('hex'))).toEqual(encoded.map((b) => b.toString('hex')));
  });

  test('valid UTF-8 round-trips exactly as JSON, in and out, and across the two', async () => {
    const json = await infer(strings.url, 'strings', { inputs: [{ name: 'in_STRING', datatype: 'BYTES', shape: [1, valid.length], data: valid }], outputs: [{ name: 'out_STRING' }] });
    expect(json.status).toBe(200);
    expect(json.json.outputs[0].data).toEqual(valid);
    const toBinary = await infer(strings.url, 'strings', { inputs: [{ name: 'in_STRING', datatype: 'BYTES', shape: [1, valid.length], data: valid }], outputs: [{ name: 'out_STRING', parameters: { binary_data: true } }] });
    expect(elementsOf(toBinary.binary).map((b) => b.toString('hex'))).toEqual(valid.map((s) => Buffer.from(s).toString('hex')));
    const chunk = lengthPrefixed(valid.map((s) => Buffer.from(s)));
    const toJson = await infer(strings.url, 'strings', { inputs: [bytesInput(chunk.byteLength, valid.length)], outputs: [{ name: 'out_STRING' }] }, [chunk]);
    expect(toJson.json.outputs[0].data).toEqual(valid);
  });

  test.each([
    ['a JPEG header', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46])],
    ['a truncated sequence', Buffer.from([0x61, 0xe6, 0x97])],
    ['an overlong encoding', Buffer.from([0xc0, 0xaf])],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
  ])('binary element that is not UTF-8 (%s) is refused naming the input and element', async (_name, bad) => {
    const chunk = lengthPrefixed([Buffer.from('ok'), Buffer.from(''), bad]);
    const r = await infer(strings.url, 'strings', { inputs: [bytesInput(chunk.byteLength, 3)] }, [chunk]);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ reason: 'DataMismatch', error: expect.stringMatching(/^inputs\[0\]: BYTES element 2 is not valid UTF-8/) });
  });

  test('a body large enough to be parsed on the codec worker: the same exact answer, the same refusal', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `élément ${i} `.repeat(8));
    const chunk = lengthPrefixed(many.map((e) => Buffer.from(e)));
    expect(chunk.byteLength).toBeGreaterThan(128 * 1024);
    const ok = await infer(strings.url, 'strings', { inputs: [bytesInput(chunk.byteLength, many.length)], outputs: [{ name: 'out_STRING' }] }, [chunk]);
    expect(ok.status).toBe(200);
    expect(ok.json.outputs[0].data).toEqual(many);
    const bad = lengthPrefixed(many.map((e, i) => (i === 2500 ? Buffer.from([0xff, 0xfe]) : Buffer.from(e))));
    const refused = await infer(strings.url, 'strings', { inputs: [bytesInput(bad.byteLength, many.length)] }, [bad]);
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({ reason: 'DataMismatch', error: expect.stringMatching(/^inputs\[0\]: BYTES element 2500 is not valid UTF-8/) });
    const json = await infer(floats.url, 'floats', { inputs: [
      { name: 'in_DOUBLE', datatype: 'FP64', shape: [1000, 16], data: Array.from({ length: 16000 }, (_, i) => i / 7) },
      { name: 'in_FLOAT16', datatype: 'FP16', shape: [1, 1], data: [1] },
      { name: 'in_FLOAT', datatype: 'FP32', shape: [1000, 16], data: Array.from({ length: 16000 }, (_, i) => (i === 15999 ? 1e39 : i)) },
    ] });
    expect(json.status).toBe(400);
    expect(json.json.error).toMatch(/^inputs\[2\]\.data\[15999\]: 1e\+39 is outside the range for FP32/);
    const big = Array.from({ length: 40_000 }, (_, i) => i / 7);
    const fine = await infer(floats.url, 'floats', { inputs: [
      { name: 'in_FLOAT', datatype: 'FP32', shape: [2500, 16], data: big },
      { name: 'in_FLOAT16', datatype: 'FP16', shape: [1, 1], data: [1] },
      { name: 'in_DOUBLE', datatype: 'FP64', shape: [2500, 16], data: big },
    ], outputs: [{ name: 'out_DOUBLE' }, { name: 'out_FLOAT', parameters: { binary_data: true } }] });
    expect(fine.status).toBe(200);
    expect(fine.json.outputs[0].data).toEqual(big);
    expect([...new Float32Array(fine.binary.buffer.slice(fine.binary.byteOffset, fine.binary.byteOffset + fine.binary.byteLength))]).toEqual(big.map(Math.fround));
  });

  test('an element holding a NUL byte is refused, JSON or binary, not cut short', async () => {
    const chunk = lengthPrefixed([Buffer.from('ok'), Buffer.from('nul\u0000inside')]);
    const binary = await infer(strings.url, 'strings', { inputs: [bytesInput(chunk.byteLength, 2)] }, [chunk]);
    expect(binary.status).toBe(400);
    expect(binary.json.error).toMatch(/^inputs\[0\]: BYTES element 1 contains a NUL byte/);
    const json = await infer(strings.url, 'strings', { inputs: [{ name: 'in_STRING', datatype: 'BYTES', shape: [1, 2], data: ['ok', 'nul\u0000inside'] }] });
    expect(json.status).toBe(400);
    expect(json.json.error).toMatch(/^inputs\[0\]\.data\[1\]: contains a NUL byte/);
  });

  test('short requests, computed on the event loop rather than a session worker, round-trip exactly too', async () => {
    // A limit no warm-up on a busy machine misses: this test is about the data, not the decision.
    const rt = await startRuntime(['--model', modelFile(dir.path, 'strings', identity('strings', ['STRING'])), '--inline-run-max-us', '100000', '--log-level', 'error']);
    try {
      // At most four elements: no more than four times the warm-up's one, so these run on the event loop.
      for (let i = 0; i < valid.length; i += 4) {
        const group = valid.slice(i, i + 4);
        const chunk = lengthPrefixed(group.map((s) => Buffer.from(s)));
        const binary = await infer(rt.url, 'strings', { inputs: [bytesInput(chunk.byteLength, group.length)], outputs: [{ name: 'out_STRING', parameters: { binary_data: true } }] }, [chunk]);
        expect(elementsOf(binary.binary).map((b) => b.toString('hex'))).toEqual(group.map((s) => Buffer.from(s).toString('hex')));
        const json = await infer(rt.url, 'strings', { inputs: [{ name: 'in_STRING', datatype: 'BYTES', shape: [1, group.length], data: group }] });
        expect(json.json.outputs[0].data).toEqual(group);
      }
      const text = await (await fetch(`${rt.url}/metrics`)).text();
      expect(text).toMatch(/^modelplane_inference_runs_total\{model="strings",place="event_loop"\} 4$/m);
    } finally {
      await rt.stop();
    }
  });

  test('a JSON string with a lone surrogate is refused naming the element', async () => {
    const body = Buffer.from(`{"inputs":[{"name":"in_STRING","datatype":"BYTES","shape":[1,2],"data":["fine","\\ud800alone"]}]}`);
    const r = await rawPost(strings.url, '/v2/models/strings/infer', body, { 'Content-Type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/^inputs\[0\]\.data\[1\]: BYTES element has a lone UTF-16 surrogate/);
  });
});

describe('numbers outside the datatype are refused, not turned into infinity', () => {
  test.each([
    ['FP32', 'in_FLOAT', '[1,2,1e39,4]', /^inputs\[0\]\.data\[2\]: 1e\+39 is outside the range for FP32/],
    ['FP32 negative', 'in_FLOAT', '[-3.5e38,2,3,4]', /^inputs\[0\]\.data\[0\]: -3\.5e\+38 is outside the range for FP32/],
    ['FP16', 'in_FLOAT16', '[1,70000,3,4]', /^inputs\[0\]\.data\[1\]: 70000 is outside the range for FP16/],
    ['FP64', 'in_DOUBLE', '[1,2,3,1e999]', /^inputs\[0\]\.data\[3\]: Infinity is outside the range for FP64/],
  ])('%s', async (_name, input, data, message) => {
    const datatype = _name.split(' ')[0];
    const body = Buffer.from(`{"inputs":[{"name":"${input}","datatype":"${datatype}","shape":[2,2],"data":${data}}]}`);
    const r = await rawPost(floats.url, '/v2/models/floats/infer', body, { 'Content-Type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.json.reason).toBe('DataMismatch');
    expect(r.json.error).toMatch(message);
  });

  test('the largest finite values are still accepted', async () => {
    const r = await infer(floats.url, 'floats', { inputs: [
      { name: 'in_FLOAT', datatype: 'FP32', shape: [1, 2], data: [3.4028234663852886e38, -3.4028235e38] },
      { name: 'in_FLOAT16', datatype: 'FP16', shape: [1, 2], data: [65504, -65504] },
      { name: 'in_DOUBLE', datatype: 'FP64', shape: [1, 2], data: [Number.MAX_VALUE, -Number.MAX_VALUE] },
    ], outputs: [{ name: 'out_FLOAT' }, { name: 'out_FLOAT16' }] });
    expect(r.status).toBe(200);
    expect(r.json.outputs[0].data).toEqual([3.4028234663852886e38, -3.4028234663852886e38]);
    expect(r.json.outputs[1].data).toEqual([65504, -65504]);
  });

  test('-0 keeps its sign over JSON, in and out, for FP32, FP16 and FP64', async () => {
    // Written by hand: JSON.stringify writes -0 as 0.
    const body = Buffer.from(`{"inputs":[${[['in_FLOAT', 'FP32'], ['in_FLOAT16', 'FP16'], ['in_DOUBLE', 'FP64']]
      .map(([name, datatype]) => `{"name":"${name}","datatype":"${datatype}","shape":[1,3],"data":[-0,0,-1.5]}`).join(',')}]}`);
    const r = await rawPost(floats.url, '/v2/models/floats/infer', body, { 'Content-Type': 'application/json' });
    expect(r.status).toBe(200);
    for (const name of ['out_FLOAT', 'out_FLOAT16', 'out_DOUBLE']) {
      const data = r.json.outputs.find((o: { name: string }) => o.name === name).data as number[];
      expect([name, data.map((v) => (Object.is(v, -0) ? '-0' : String(v)))]).toEqual([name, ['-0', '0', '-1.5']]);
    }
  });
});

describe('malformed request framing is a 400 naming what is wrong', () => {
  test.each(['/v2/models/%E0%A4%A/infer', '/v2/models/sim%ZZple/infer', '/v2/models/simple/versions/%/infer'])('POST %s', async (path) => {
    const r = await rawPost(simple.url, path, Buffer.from('{}'), {});
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ reason: 'InvalidRequest', error: expect.stringMatching(/^request path: model (name|version) ".*" has a malformed percent-escape$/) });
  });

  test.each(['/v2/models/sim%ZZple', '/v2/models/%E0%A4%A/config', '/v2/models/sim%ZZple/stats'])('GET %s', async (path) => {
    const r = await fetch(`${simple.url}${path}`);
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ reason: 'InvalidRequest', error: expect.stringMatching(/^request path: segment ".*%.*" has a malformed percent-escape$/) });
  });

  test('a negative Inference-Header-Content-Length says so', async () => {
    const r = await rawPost(simple.url, '/v2/models/simple/infer', Buffer.from('{"inputs":[]}'), { 'Inference-Header-Content-Length': -5 });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ reason: 'BinaryDataMismatch', error: 'Inference-Header-Content-Length: -5 is negative; it is the byte length of the JSON before the binary data' });
  });
});

describe('large binary bodies, whose tensors are handed to the model without a copy where they can be', () => {
  test('concurrent callers with different data each get their own answer, whatever the JSON header length', async () => {
    const rows = 3, n = 1667; // 5001 elements: FP16 data of an odd element count leaves what follows unaligned
    const count = rows * n;
    const call = async (k: number) => {
      const half = Uint16Array.from({ length: count }, (_, i) => (0x3c00 + ((i * 7 + k * 131) % 0x3ff)) & 0xffff);
      const single = Float32Array.from({ length: count }, (_, i) => Math.fround(k * 1000 + i / 3));
      const double = Float64Array.from({ length: count }, (_, i) => -k - i / 7);
      const chunks = [new Uint8Array(half.buffer), new Uint8Array(single.buffer), new Uint8Array(double.buffer)];
      const input = (t: string, c: Uint8Array) => ({ name: `in_${t}`, datatype: t === 'FLOAT16' ? 'FP16' : t === 'FLOAT' ? 'FP32' : 'FP64', shape: [rows, n], parameters: { binary_data_size: c.byteLength } });
      // An id of k characters moves where the binary data starts relative to an 8-byte boundary.
      const r = await infer(floats.url, 'floats', {
        id: 'x'.repeat(k),
        inputs: [input('FLOAT16', chunks[0]), input('FLOAT', chunks[1]), input('DOUBLE', chunks[2])],
        outputs: ['FLOAT16', 'FLOAT', 'DOUBLE'].map((t) => ({ name: `out_${t}`, parameters: { binary_data: true } })),
      }, chunks);
      expect(r.status).toBe(200);
      expect(r.json.id).toBe('x'.repeat(k));
      expect(Buffer.compare(r.binary, Buffer.concat(chunks))).toBe(0);

      // The simple model, one input in binary and one in JSON, answered in binary.
      const a = Float32Array.from({ length: 1100 * 16 }, (_, i) => Math.fround(k + i / 8));
      const b = Array.from({ length: 1100 * 16 }, (_, i) => k * 2 - i);
      const s = await infer(simple.url, 'simple', {
        id: 'y'.repeat(k),
        inputs: [
          { name: 'INPUT0', datatype: 'FP32', shape: [1100, 16], parameters: { binary_data_size: a.byteLength } },
          { name: 'INPUT1', datatype: 'FP32', shape: [1100, 16], data: b },
        ],
        outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }],
      }, [new Uint8Array(a.buffer)]);
      expect(s.status).toBe(200);
      const sum = new Float32Array(s.binary.buffer.slice(s.binary.byteOffset, s.binary.byteOffset + s.binary.byteLength));
      expect(sum).toEqual(Float32Array.from(a, (v, i) => Math.fround(v + b[i])));
    };
    for (let round = 0; round < 2; round++) await Promise.all(Array.from({ length: 12 }, (_, k) => call(k + 1)));
  });
});
