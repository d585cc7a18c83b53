// Request building: shapes from metadata and flags, contents, and the bytes on the wire, read back by the
// runtime's own request parser (the contract's other side).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { typeInfo, type Datatype } from '../../runtime/datatypes.js';
import { parseInferRequest } from '../../runtime/request.js';
import type { ModelSignature } from '../../runtime/signature.js';
import { PerfError } from '../../perf/errors.js';
import { encodeHttpRequest, httpErrorKey } from '../../perf/http-transport.js';
import { buildSamples, parseModelMetadata, resolveShapes, type TensorMetadata } from '../../perf/inputs.js';
import { tempDir } from '../support/runtime-process.js';

const simple: TensorMetadata[] = [
  { name: 'INPUT0', datatype: 'FP32', shape: [-1, 16] },
  { name: 'INPUT1', datatype: 'FP32', shape: [-1, 16] },
];

function refusal(fn: () => unknown): PerfError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PerfError) return e;
    throw e;
  }
  throw new Error('no refusal');
}

describe('resolveShapes', () => {
  test.each([
    ['batch size fills a variable first dimension', simple, {}, 1, { INPUT0: [1, 16], INPUT1: [1, 16] }],
    ['--batch-size', simple, {}, 8, { INPUT0: [8, 16], INPUT1: [8, 16] }],
    ['--shape wins', simple, { INPUT0: [4, 16] }, 8, { INPUT0: [4, 16], INPUT1: [8, 16] }],
    ['fixed shapes stay', [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], {}, 3, { x: [1, 4] }],
    ['symbolic inner dims from --shape', [{ name: 'ids', datatype: 'INT64', shape: [-1, -1] }], { ids: [2, 128] }, 1, { ids: [2, 128] }],
  ] as [string, TensorMetadata[], Record<string, number[]>, number, Record<string, number[]>][])('%s', (_n, inputs, given, batch, want) => {
    expect(resolveShapes(inputs, given, batch)).toEqual(want);
  });

  test.each([
    [simple, { NOPE: [1] }, '--shape: the model has no input "NOPE"; its inputs are INPUT0, INPUT1'],
    [simple, { INPUT0: [1, 16, 1] }, '--shape INPUT0: has rank 3 but the input has rank 2 ([-1,16])'],
    [simple, { INPUT0: [1, 15] }, '--shape INPUT0: dimension 1 is 15 but the input requires 16 ([-1,16])'],
    [[{ name: 'ids', datatype: 'INT64', shape: [-1, -1] }], {}, 'input ids has variable dimension 1 ([-1,-1]); give its shape with --shape ids:1,N'],
  ] as [TensorMetadata[], Record<string, number[]>, string][])('refuses %j %j', (inputs, given, message) => {
    const e = refusal(() => resolveShapes(inputs, given, 1));
    expect(e.reason).toBe('InvalidArgument');
    expect(e.message).toBe(message);
  });
});

test('metadata from any server is checked before use', () => {
  expect(parseModelMetadata({ name: 'm', inputs: [{ name: 'a', datatype: 'INT8', shape: [-1] }] })).toEqual({ name: 'm', versions: undefined, platform: undefined, inputs: [{ name: 'a', datatype: 'INT8', shape: [-1] }], outputs: [] });
  expect(refusal(() => parseModelMetadata({ name: 'm', inputs: [{ name: 'a', datatype: 'FLOAT', shape: [1] }] })).message).toMatch(/inputs\[0\] \(a\): datatype "FLOAT" is not a protocol datatype/);
  expect(refusal(() => parseModelMetadata({ name: 'm', inputs: [] })).reason).toBe('ModelUnavailable');
  expect(refusal(() => parseModelMetadata('<html>')).reason).toBe('ModelUnavailable');
});

const ALL: Datatype[] = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

describe('every datatype travels, JSON and binary, and the runtime reads back exactly what was generated', () => {
  const inputs: TensorMetadata[] = ALL.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [-1, 3] }));
  const sig: ModelSignature = {
    inputs: inputs.map((t) => ({ ...t, ortType: typeInfo(t.datatype).ort })),
    outputs: [{ name: 'out', datatype: 'FP32', ortType: 'float32', shape: [-1, 3] }],
  };
  const shapes = resolveShapes(inputs, {}, 2);

  test.each(['random', 'zero'] as const)('%s data', (kind) => {
    const samples = buildSamples(inputs, shapes, { kind }, 7);
    expect(samples).toHaveLength(kind === 'random' ? 8 : 1);
    // Callers get different contents when the data is random.
    if (kind === 'random') expect(Buffer.from((samples[0][10].payload as { bytes: Uint8Array }).bytes)).not.toEqual(Buffer.from((samples[1][10].payload as { bytes: Uint8Array }).bytes));
    for (const binary of [false, true]) {
      const { body, headers } = encodeHttpRequest(samples[0], ['out'], binary);
      expect(headers['Content-Length']).toBe(String(body.byteLength));
      const hl = headers['Inference-Header-Content-Length'];
      const parsed = parseInferRequest(body, hl === undefined ? undefined : Number(hl), sig);
      expect(parsed.outputs).toEqual(binary ? [{ name: 'out', binary: true }] : [{ name: 'out', binary: false }]);
      parsed.inputs.forEach((got, i) => {
        const sent = samples[0][i];
        expect(got.shape).toEqual([2, 3]);
        if ('strings' in sent.payload) expect(got.payload).toEqual(sent.payload);
        else expect(Buffer.from((got.payload as { bytes: Uint8Array }).bytes)).toEqual(Buffer.from(sent.payload.bytes));
      });
    }
  });

  test('binary without output names asks for every output in binary', () => {
    const { body, headers } = encodeHttpRequest(buildSamples(inputs, shapes, { kind: 'zero' }, 1)[0], [], true);
    expect(parseInferRequest(body, Number(headers['Inference-Header-Content-Length']), sig).outputs).toEqual([{ name: 'out', binary: true }]);
  });

  test('the same seed gives the same requests', () => {
    const a = buildSamples(inputs, shapes, { kind: 'random' }, 3);
    const b = buildSamples(inputs, shapes, { kind: 'random' }, 3);
    expect(encodeHttpRequest(a[5], [], true).body).toEqual(encodeHttpRequest(b[5], [], true).body);
  });
});

describe('--input-data FILE (perf_analyzer layout)', () => {
  const dir = tempDir('modelplane-perf-inputs-');
  afterAll(() => dir.remove());
  const file = (name: string, doc: unknown) => {
    const p = join(dir.path, name);
    writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return p;
  };
  const shapes = { INPUT0: [1, 16], INPUT1: [1, 16] };

  test('flat arrays, nested arrays and {content, shape}, cycled in order', () => {
    const row = Array.from({ length: 16 }, (_, i) => i);
    const p = file('ok.json', { data: [{ INPUT0: row, INPUT1: [row] }, { INPUT0: { content: [...row, ...row], shape: [2, 16] }, INPUT1: { content: [...row, ...row], shape: [2, 16] } }] });
    const samples = buildSamples(simple, shapes, { kind: 'file', path: p }, 1);
    expect(samples.map((s) => s.map((t) => t.shape))).toEqual([[[1, 16], [1, 16]], [[2, 16], [2, 16]]]);
    expect(Array.from(new Float32Array((samples[0][1].payload as { bytes: Uint8Array }).bytes.slice().buffer))).toEqual(row);
  });

  test.each([
    ['missing.json', undefined, 'no such file (or use random or zero)'],
    ['bad.json', '{nope', 'not readable JSON'],
    ['empty.json', { data: [] }, 'needs {"data": [{"<input>": [values], ...}, ...]}'],
    ['unknown.json', { data: [{ INPUT0: [], INPUT1: [], X: [] }] }, 'data[0].X: the model has no such input'],
    ['absent.json', { data: [{ INPUT0: Array(16).fill(0) }] }, 'data[0].INPUT1 is missing'],
    ['count.json', { data: [{ INPUT0: [1, 2], INPUT1: Array(16).fill(0) }] }, 'data[0].INPUT0.data: has 2 elements but shape [1,16] needs 16'],
    ['type.json', { data: [{ INPUT0: Array(16).fill('a'), INPUT1: Array(16).fill(0) }] }, 'data[0].INPUT0.data[0]: expected a number for FP32'],
  ])('refuses %s', (name, doc, message) => {
    const p = doc === undefined ? join(dir.path, name) : file(name, doc);
    const e = refusal(() => buildSamples(simple, shapes, { kind: 'file', path: p }, 1));
    expect(e.reason).toBe('InvalidArgument');
    expect(e.message).toContain(`--input-data ${p}: `);
    expect(e.message).toContain(message);
  });
});

test.each([
  [503, '{"error":"queue is full","reason":"QueueFull"}', '503 QueueFull'],
  [400, '{"error":"bad"}', '400'],
  [502, '<html>Bad Gateway</html>', '502'],
  [500, '{"reason":"has spaces in it"}', '500'],
])('error key of %d %s', (status, body, key) => expect(httpErrorKey(status, body)).toBe(key));
