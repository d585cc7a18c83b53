// The Open Inference Protocol over gRPC on real `modelplane serve` processes, driven by a grpc-js client: every
// RPC, every datatype raw and typed, the stream, errors with their status codes, the message size limit, metrics.
import { connect } from 'node:net';
import { status } from '@grpc/grpc-js';
import { identityTypesModel, mlpModel, simpleModel, type ElemType, type GraphSpec } from '../../examples/onnx-models.js';
import { grpcClient, grpcError, type GrpcClient, type Message } from '../support/grpc-client.js';
import { freePort, metricValue, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

const dir = tempDir();
const MAX_BODY = 65536;

interface Served {
  rt: RuntimeProcess;
  grpcPort: number;
  client: GrpcClient;
}

async function serve(name: string, g: GraphSpec, args: string[]): Promise<Served> {
  const grpcPort = await freePort();
  const rt = await startRuntime(['--model', modelFile(dir.path, name, g), '--grpc-port', String(grpcPort), '--log-level', 'warn', ...args]);
  return { rt, grpcPort, client: grpcClient(grpcPort) };
}

/** The identity model without FP16, which has no typed contents field. */
function typedTypesModel(): GraphSpec {
  const g = identityTypesModel();
  const keep = (v: { name: string }) => !v.name.endsWith('_FLOAT16');
  return { ...g, name: 'typed', inputs: g.inputs.filter(keep), outputs: g.outputs.filter(keep), nodes: g.nodes.filter((n) => keep({ name: n.inputs[0] })) };
}

let simple: Served;
let types: Served;
let typed: Served;

beforeAll(async () => {
  [simple, types, typed] = await Promise.all([
    serve('simple', simpleModel(), ['--max-body-bytes', String(MAX_BODY), '--max-batch-size', '8']),
    serve('types', identityTypesModel(), ['--max-batch-size', '1']),
    serve('typed', typedTypesModel(), ['--max-batch-size', '1']),
  ]);
});

afterAll(async () => {
  for (const s of [simple, types, typed]) s?.client.close();
  await Promise.all([simple?.rt.stop(), types?.rt.stop(), typed?.rt.stop()]);
  dir.remove();
});

const f32 = (xs: ArrayLike<number>) => Buffer.from(new Float32Array(xs).buffer);
const fromF32 = (b: Uint8Array) => Array.from(new Float32Array(new Uint8Array(b).buffer));

function simpleRequest(seed: number, id: string, rows = 1): { req: Message; sum: number[]; diff: number[] } {
  const a = Array.from({ length: 16 * rows }, (_, i) => seed + i * 0.5);
  const b = Array.from({ length: 16 * rows }, (_, i) => (i % 5) - seed);
  return {
    req: {
      model_name: 'simple',
      id,
      inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [rows, 16] }, { name: 'INPUT1', datatype: 'FP32', shape: [rows, 16] }],
      raw_input_contents: [f32(a), f32(b)],
    },
    sum: Array.from(new Float32Array(a.map((v, i) => v + b[i]))),
    diff: Array.from(new Float32Array(a.map((v, i) => v - b[i]))),
  };
}

describe('health, metadata, configuration, statistics', () => {
  test('ServerLive, ServerReady, ServerMetadata', async () => {
    expect(await simple.client.call('ServerLive')).toEqual({ live: true });
    expect(await simple.client.call('ServerReady')).toEqual({ ready: true });
    expect(await simple.client.call('ServerMetadata')).toEqual({ name: 'modelplane', version: expect.any(String), extensions: ['binary_tensor_data', 'statistics'] });
  });

  test('RepositoryIndex (Triton\'s) lists the model served, READY; a named repository is UNIMPLEMENTED', async () => {
    const entry = { name: 'simple', version: '1', state: 'READY', reason: '' };
    expect(await simple.client.call('RepositoryIndex', {})).toEqual({ models: [entry] });
    expect(await simple.client.call('RepositoryIndex', { ready: true })).toEqual({ models: [entry] });
    const named = await grpcError(simple.client.call('RepositoryIndex', { repository_name: 'models' }));
    expect(named.code).toBe(status.UNIMPLEMENTED);
    expect(named.metadata.get('modelplane-reason')).toEqual(['RepositoryNotSupported']);
  });

  test.each(['', '1'])('ModelReady and ModelMetadata with version "%s"', async (version) => {
    expect(await simple.client.call('ModelReady', { name: 'simple', version })).toEqual({ ready: true });
    const meta = await simple.client.call('ModelMetadata', { name: 'simple', version });
    const t = (name: string) => ({ name, datatype: 'FP32', shape: ['-1', '16'] });
    expect(meta).toEqual({ name: 'simple', versions: ['1'], platform: 'onnxruntime_onnx', inputs: [t('INPUT0'), t('INPUT1')], outputs: [t('OUTPUT0'), t('OUTPUT1')] });
  });

  test('ModelConfig is the configuration the HTTP side answers, in Triton protobuf form', async () => {
    const http = await (await fetch(`${simple.rt.url}/v2/models/simple/config`)).json();
    const { config } = await simple.client.call('ModelConfig', { name: 'simple' });
    expect(config).toMatchObject({ name: http.name, platform: http.platform, backend: http.backend, max_batch_size: http.max_batch_size, scheduling_choice: 'dynamic_batching' });
    expect(http.max_batch_size).toBe(8);
    const tensors = (xs: { name: string; data_type: string; dims: (number | string)[] }[]) => xs.map((x) => ({ name: x.name, data_type: x.data_type, dims: x.dims.map(String) }));
    expect(tensors(config.input)).toEqual(tensors(http.input));
    expect(tensors(config.output)).toEqual(tensors(http.output));
    const typesConfig = (await types.client.call('ModelConfig', { name: 'types' })).config;
    expect(typesConfig.max_batch_size).toBe(0);
    expect(typesConfig.input.find((i: Message) => i.name === 'in_STRING')).toEqual(expect.objectContaining({ data_type: 'TYPE_STRING', dims: ['-1', '-1'] }));
    expect(typesConfig.input.find((i: Message) => i.name === 'in_FLOAT16')).toEqual(expect.objectContaining({ data_type: 'TYPE_FP16' }));
  });

  test('ModelStatistics counts the inferences made over gRPC', async () => {
    const before = (await typed.client.call('ModelStatistics', { name: 'typed' })).model_stats[0];
    await typed.client.call('ModelInfer', typedRequest());
    await grpcError(typed.client.call('ModelInfer', { model_name: 'typed', inputs: [] }));
    const after = await typed.client.call('ModelStatistics', { name: 'typed', version: '1' });
    expect(after.model_stats).toHaveLength(1);
    const s = after.model_stats[0];
    expect(s).toMatchObject({ name: 'typed', version: '1' });
    // Without batching a request is one inference whatever its rows (Triton counts rows only for batching models).
    expect(Number(s.inference_count) - Number(before.inference_count)).toBe(1);
    expect(Number(s.execution_count) - Number(before.execution_count)).toBe(1);
    expect(Number(s.inference_stats.success.count) - Number(before.inference_stats.success.count)).toBe(1);
    expect(Number(s.inference_stats.fail.count) - Number(before.inference_stats.fail.count)).toBe(1);
    expect(Number(s.inference_stats.compute_infer.ns)).toBeGreaterThan(0);
    expect(Number(s.inference_stats.queue.count)).toBeGreaterThan(0);
    expect((await typed.client.call('ModelStatistics', {})).model_stats.map((m: Message) => m.name)).toEqual(['typed']);
    const unknown = await grpcError(typed.client.call('ModelStatistics', { name: 'nope' }));
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(unknown.metadata.get('modelplane-reason')).toEqual(['ModelNotFound']);
    const version = await grpcError(typed.client.call('ModelStatistics', { name: 'typed', version: '2' }));
    expect(version.code).toBe(status.NOT_FOUND);
    expect(version.metadata.get('modelplane-reason')).toEqual(['VersionNotFound']);
  });

  test('grpc.health.v1 Check: SERVING for the server and the inference service, NOT_FOUND for others', async () => {
    expect(await simple.client.check('')).toBe('SERVING');
    expect(await simple.client.check('inference.GRPCInferenceService')).toBe('SERVING');
    const err = await grpcError(simple.client.check('other.Service'));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toMatch(/unknown service "other.Service"/);
  });
});

describe('ModelInfer', () => {
  test('concurrent callers with different inputs each get their own answer, id echoed, batched with HTTP callers', async () => {
    const reqs = Array.from({ length: 48 }, (_, i) => simpleRequest(i * 3, `g${i}`, 1 + (i % 3)));
    const http = Array.from({ length: 16 }, (_, i) => fetch(`${simple.rt.url}/v2/models/simple/infer`, {
      method: 'POST',
      body: JSON.stringify({ id: `h${i}`, inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, shape: [1, 16], datatype: 'FP32', data: Array(16).fill(i) })) }),
    }).then((r) => r.json()));
    const answers = await Promise.all(reqs.map((r) => simple.client.call('ModelInfer', r.req)));
    answers.forEach((a, i) => {
      const rows = 1 + (i % 3);
      expect(a).toMatchObject({ model_name: 'simple', model_version: '1', id: `g${i}` });
      expect(a.outputs.map((o: Message) => [o.name, o.datatype, o.shape])).toEqual([['OUTPUT0', 'FP32', [String(rows), '16']], ['OUTPUT1', 'FP32', [String(rows), '16']]]);
      expect(fromF32(a.raw_output_contents[0])).toEqual(reqs[i].sum);
      expect(fromF32(a.raw_output_contents[1])).toEqual(reqs[i].diff);
    });
    (await Promise.all(http)).forEach((h, i) => {
      expect(h.id).toBe(`h${i}`);
      expect(h.outputs[0].data).toEqual(Array(16).fill(2 * i));
    });
  });

  test('typed contents give the same answer as raw contents', async () => {
    const { req, sum, diff } = simpleRequest(7, 'typed');
    const typedReq = {
      model_name: 'simple',
      inputs: req.inputs.map((t: Message, i: number) => ({ ...t, contents: { fp32_contents: fromF32(req.raw_input_contents[i]) } })),
    };
    const a = await simple.client.call('ModelInfer', typedReq);
    expect(a.id).toBe('');
    expect(fromF32(a.raw_output_contents[0])).toEqual(sum);
    expect(fromF32(a.raw_output_contents[1])).toEqual(diff);
  });

  test('requested outputs come back as asked, in that order; request parameters are read', async () => {
    const { req, diff } = simpleRequest(1, 'one', 2);
    const a = await simple.client.call('ModelInfer', { ...req, parameters: { priority: { int64_param: 1 }, sequence_start: { bool_param: false } }, outputs: [{ name: 'OUTPUT1' }] });
    expect(a.outputs.map((o: Message) => o.name)).toEqual(['OUTPUT1']);
    expect(a.raw_output_contents).toHaveLength(1);
    expect(fromF32(a.raw_output_contents[0])).toEqual(diff);
    const both = await simple.client.call('ModelInfer', { ...req, outputs: [{ name: 'OUTPUT1' }, { name: 'OUTPUT0' }] });
    expect(both.outputs.map((o: Message) => o.name)).toEqual(['OUTPUT1', 'OUTPUT0']);
    const classification = await grpcError(simple.client.call('ModelInfer', { ...req, outputs: [{ name: 'OUTPUT0', parameters: { classification: { int64_param: 3 } } }] }));
    expect(classification.code).toBe(status.INVALID_ARGUMENT);
    expect(classification.details).toBe('outputs[0].parameters.classification: the classification extension is not supported');
  });
});

// Values at the edges of each type, 4 elements each ([2,2]): exact round trips through Identity.
const EDGE: Record<ElemType, { datatype: string; raw: Buffer; typed?: [string, unknown[]] }> = (() => {
  const u8 = [0, 1, 128, 255];
  const i8 = [-128, -1, 0, 127];
  const u16 = [0, 1, 40000, 65535];
  const i16 = [-32768, -1, 0, 32767];
  const u32 = [0, 1, 3000000000, 4294967295];
  const i32 = [-2147483648, -1, 0, 2147483647];
  const i64 = [-(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n, -1n];
  const u64 = [0n, 2n ** 64n - 1n, 9007199254740993n, 1n];
  const fp32 = [1.5, -2.25, 3.4028234663852886e38, 1e-45];
  const fp64 = [Math.PI, -1e300, 5e-324, 0];
  const bools = [true, false, true, true];
  const strings = ['héllo', '', '日本語のテキスト', '🙂 emoji'];
  const b = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const lp = (xs: string[]) => Buffer.concat(xs.flatMap((s) => {
    const bytes = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(bytes.byteLength);
    return [len, bytes];
  }));
  return {
    FLOAT: { datatype: 'FP32', raw: b(new Float32Array(fp32)), typed: ['fp32_contents', fp32] },
    FLOAT16: { datatype: 'FP16', raw: b(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001])) },
    DOUBLE: { datatype: 'FP64', raw: b(new Float64Array(fp64)), typed: ['fp64_contents', fp64] },
    UINT8: { datatype: 'UINT8', raw: b(new Uint8Array(u8)), typed: ['uint_contents', u8] },
    UINT16: { datatype: 'UINT16', raw: b(new Uint16Array(u16)), typed: ['uint_contents', u16] },
    UINT32: { datatype: 'UINT32', raw: b(new Uint32Array(u32)), typed: ['uint_contents', u32] },
    UINT64: { datatype: 'UINT64', raw: b(new BigUint64Array(u64)), typed: ['uint64_contents', u64.map(String)] },
    INT8: { datatype: 'INT8', raw: b(new Int8Array(i8)), typed: ['int_contents', i8] },
    INT16: { datatype: 'INT16', raw: b(new Int16Array(i16)), typed: ['int_contents', i16] },
    INT32: { datatype: 'INT32', raw: b(new Int32Array(i32)), typed: ['int_contents', i32] },
    INT64: { datatype: 'INT64', raw: b(new BigInt64Array(i64)), typed: ['int64_contents', i64.map(String)] },
    BOOL: { datatype: 'BOOL', raw: b(new Uint8Array(bools.map(Number))), typed: ['bool_contents', bools] },
    STRING: { datatype: 'BYTES', raw: lp(strings), typed: ['bytes_contents', strings.map((s) => Buffer.from(s, 'utf8'))] },
  };
})();

function typedRequest(): Message {
  const kinds = (Object.keys(EDGE) as ElemType[]).filter((t) => EDGE[t].typed);
  return {
    model_name: 'typed',
    id: 'typed-all',
    inputs: kinds.map((t) => ({ name: `in_${t}`, datatype: EDGE[t].datatype, shape: [2, 2], contents: { [EDGE[t].typed![0]]: EDGE[t].typed![1] } })),
  };
}

describe('every datatype', () => {
  test('raw_input_contents: every type round-trips byte for byte (FP16, 64-bit extremes, BYTES with multi-byte UTF-8 and empty elements)', async () => {
    const kinds = Object.keys(EDGE) as ElemType[];
    const asked = [...kinds].reverse();
    const a = await types.client.call('ModelInfer', {
      model_name: 'types',
      inputs: kinds.map((t) => ({ name: `in_${t}`, datatype: EDGE[t].datatype, shape: [2, 2] })),
      raw_input_contents: kinds.map((t) => EDGE[t].raw),
      outputs: asked.map((t) => ({ name: `out_${t}` })),
    });
    expect(a.outputs.map((o: Message) => [o.name, o.datatype, o.shape])).toEqual(asked.map((t) => [`out_${t}`, EDGE[t].datatype, ['2', '2']]));
    asked.forEach((t, i) => expect(Buffer.from(a.raw_output_contents[i]).equals(EDGE[t].raw)).toBe(true));
  });

  test('typed contents: every type with a contents field arrives exactly (INT64/UINT64 past 2^53 included)', async () => {
    const a = await typed.client.call('ModelInfer', typedRequest());
    expect(a.id).toBe('typed-all');
    const kinds = (Object.keys(EDGE) as ElemType[]).filter((t) => EDGE[t].typed);
    expect(a.outputs.map((o: Message) => o.name)).toEqual(kinds.map((t) => `out_${t}`));
    kinds.forEach((t, i) => expect(Buffer.from(a.raw_output_contents[i]).equals(EDGE[t].raw)).toBe(true));
  });
});

describe('errors carry the HTTP message, the reason code, and the matching gRPC status', () => {
  const ok = () => simpleRequest(0, 'e').req;
  const cases: [string, () => Message, status, string, RegExp | string][] = [
    ['unknown model', () => ({ ...ok(), model_name: 'nope' }), status.NOT_FOUND, 'ModelNotFound', "Request for unknown model: 'nope' is not found"],
    ['unknown version', () => ({ ...ok(), model_version: '7' }), status.NOT_FOUND, 'VersionNotFound', /no version "7"/],
    ['unknown input', () => ({ ...ok(), inputs: [{ ...ok().inputs[0], name: 'X' }, ok().inputs[1]] }), status.INVALID_ARGUMENT, 'UnknownInput', /^inputs\[0\]\.name: unknown input "X"/],
    ['missing input', () => ({ ...ok(), inputs: [ok().inputs[0]], raw_input_contents: [ok().raw_input_contents[0]] }), status.INVALID_ARGUMENT, 'MissingInput', 'inputs: missing "INPUT1"'],
    ['wrong datatype', () => ({ ...ok(), inputs: [{ ...ok().inputs[0], datatype: 'INT32' }, ok().inputs[1]] }), status.INVALID_ARGUMENT, 'DatatypeMismatch', 'inputs[0].datatype: is INT32 but input INPUT0 is FP32'],
    ['not a datatype', () => ({ ...ok(), inputs: [{ ...ok().inputs[0], datatype: 'FLOAT' }, ok().inputs[1]] }), status.INVALID_ARGUMENT, 'DatatypeMismatch', /^inputs\[0\]\.datatype: "FLOAT" is not a protocol datatype/],
    ['wrong shape', () => ({ ...ok(), inputs: [{ ...ok().inputs[0], shape: [4, 4] }, ok().inputs[1]] }), status.INVALID_ARGUMENT, 'ShapeMismatch', 'inputs[0].shape[1]: is 4 but input INPUT0 requires 16 ([-1,16])'],
    ['negative dimension', () => ({ ...ok(), inputs: [{ ...ok().inputs[0], shape: [-1, 16] }, ok().inputs[1]] }), status.INVALID_ARGUMENT, 'ShapeMismatch', 'inputs[0].shape[0]: -1 is not a non-negative integer'],
    ['raw entries fewer than inputs', () => ({ ...ok(), raw_input_contents: [ok().raw_input_contents[0]] }), status.INVALID_ARGUMENT, 'InvalidRequest', /^raw_input_contents: has 1 entries but the request has 2 inputs/],
    ['raw bytes short of the shape', () => ({ ...ok(), raw_input_contents: [Buffer.alloc(60), ok().raw_input_contents[1]] }), status.INVALID_ARGUMENT, 'BinaryDataMismatch', 'raw_input_contents[0]: is 60 bytes but inputs[0] (shape [1,16] of FP32) needs 64'],
    ['raw and typed contents together', () => ({ ...ok(), inputs: [{ ...ok().inputs[0], contents: { fp32_contents: [1] } }, ok().inputs[1]] }), status.INVALID_ARGUMENT, 'InvalidRequest', 'inputs[0].contents: must be empty when raw_input_contents is used'],
    ['typed contents in the wrong field', () => ({ model_name: 'simple', inputs: ok().inputs.map((t: Message) => ({ ...t, contents: { int_contents: Array(16).fill(1) } })) }), status.INVALID_ARGUMENT, 'DataMismatch', 'inputs[0].contents.int_contents: FP32 data goes in contents.fp32_contents'],
    ['typed contents short of the shape', () => ({ model_name: 'simple', inputs: ok().inputs.map((t: Message) => ({ ...t, contents: { fp32_contents: [1, 2, 3] } })) }), status.INVALID_ARGUMENT, 'DataMismatch', 'inputs[0].contents.fp32_contents: has 3 elements but the shape needs 16'],
    ['no data at all', () => ({ model_name: 'simple', inputs: ok().inputs }), status.INVALID_ARGUMENT, 'InvalidRequest', 'inputs[0]: needs contents.fp32_contents or raw_input_contents'],
    ['unknown output', () => ({ ...ok(), outputs: [{ name: 'OUTPUT9' }] }), status.INVALID_ARGUMENT, 'UnknownOutput', /^outputs\[0\]\.name: unknown output "OUTPUT9"/],
    ['duplicate input', () => ({ ...ok(), inputs: [ok().inputs[0], ok().inputs[0]] }), status.INVALID_ARGUMENT, 'DuplicateInput', 'inputs[1].name: input "INPUT0" appears more than once'],
  ];
  test.each(cases)('%s', async (_, build, code, reason, message) => {
    const err = await grpcError(simple.client.call('ModelInfer', build()));
    expect(err.code).toBe(code);
    if (typeof message === 'string') expect(err.details).toBe(message);
    else expect(err.details).toMatch(message);
    expect(err.metadata.get('modelplane-reason')).toEqual([reason]);
  });

  test('typed contents out of range, and FP16 sent typed', async () => {
    const int8 = await grpcError(typed.client.call('ModelInfer', { ...typedRequest(), inputs: typedRequest().inputs.map((t: Message) => (t.name === 'in_INT8' ? { ...t, contents: { int_contents: [1, 2, 300, 4] } } : t)) }));
    expect(int8.code).toBe(status.INVALID_ARGUMENT);
    expect(int8.details).toMatch(/^inputs\[\d+\]\.contents\.int_contents\[2\]: 300 is out of range for INT8$/);
    const fp16 = await grpcError(types.client.call('ModelInfer', { model_name: 'types', inputs: [{ name: 'in_FLOAT16', datatype: 'FP16', shape: [1, 1], contents: { fp32_contents: [1] } }] }));
    expect(fp16.code).toBe(status.INVALID_ARGUMENT);
    expect(fp16.details).toBe('inputs[0]: FP16 data travels only in raw_input_contents');
  });

  test('BYTES raw data that does not match its length prefixes', async () => {
    const kinds = Object.keys(EDGE) as ElemType[];
    const raw = kinds.map((t) => (t === 'STRING' ? EDGE[t].raw.subarray(0, EDGE[t].raw.byteLength - 1) : EDGE[t].raw));
    const err = await grpcError(types.client.call('ModelInfer', { model_name: 'types', inputs: kinds.map((t) => ({ name: `in_${t}`, datatype: EDGE[t].datatype, shape: [2, 2] })), raw_input_contents: raw }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^inputs\[12\]: BYTES element 3 claims \d+ bytes past the end of its data$/);
  });

  test(`a message past --max-body-bytes is RESOURCE_EXHAUSTED, and the server goes on serving`, async () => {
    const rows = Math.ceil(MAX_BODY / 64) + 1;
    const err = await grpcError(simple.client.call('ModelInfer', simpleRequest(0, 'big', rows).req));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    const r = simpleRequest(2, 'after');
    expect(fromF32((await simple.client.call('ModelInfer', r.req)).raw_output_contents[0])).toEqual(r.sum);
  });

  test('a gzip-compressed message is held to the limit by its decompressed size', async () => {
    const gzip = grpcClient(simple.grpcPort, { 'grpc.default_compression_algorithm': 2 });
    try {
      const zeros = (rows: number) => ({ ...simpleRequest(0, 'z', rows).req, raw_input_contents: [Buffer.alloc(rows * 64), Buffer.alloc(rows * 64)] });
      const err = await grpcError(gzip.call('ModelInfer', zeros(4096)));
      expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(err.details).toMatch(/decompresses to a size larger than 65536/);
      expect((await gzip.call('ModelInfer', zeros(4))).raw_output_contents[0]).toEqual(Buffer.alloc(4 * 64));
    } finally {
      gzip.close();
    }
  });

  test('an RPC the server does not implement is UNIMPLEMENTED', async () => {
    const err = await grpcError(new Promise((resolve, reject) => {
      simple.client.raw.makeUnaryRequest('/inference.GRPCInferenceService/RepositoryModelLoad', () => Buffer.alloc(0), (b: Buffer) => b, {}, (e: Error | null, v?: Buffer) => (e ? reject(e) : resolve(v)));
    }));
    expect(err.code).toBe(status.UNIMPLEMENTED);
  });
});

describe('ModelStreamInfer', () => {
  test('many requests with ids on one stream: each answered once with its own data, errors in the stream', async () => {
    const stream = simple.client.stream();
    const answers: Message[] = [];
    const done = new Promise<{ code: number }>((resolve, reject) => {
      stream.on('data', (m: Message) => answers.push(m));
      stream.on('status', resolve);
      stream.on('error', reject);
    });
    const reqs = Array.from({ length: 200 }, (_, i) => simpleRequest(i, `s${i}`, 1 + (i % 2)));
    const bad = (i: number) => ({ ...reqs[i].req, id: `bad${i}`, inputs: [{ ...reqs[i].req.inputs[0], name: 'NOPE' }, reqs[i].req.inputs[1]] });
    stream.write(reqs[0].req);
    stream.write(bad(0));
    for (let i = 1; i < reqs.length; i++) {
      stream.write(reqs[i].req);
      if (i % 50 === 0) stream.write(bad(i));
    }
    stream.end();
    expect((await done).code).toBe(status.OK);
    expect(answers).toHaveLength(reqs.length + 4); // bad0, bad50, bad100, bad150
    const ids = answers.map((a) => a.infer_response.id);
    expect(new Set(ids).size).toBe(answers.length);
    for (const a of answers) {
      const id: string = a.infer_response.id;
      if (id.startsWith('bad')) {
        expect(a.error_message).toMatch(/^inputs\[0\]\.name: unknown input "NOPE"/);
        expect(a.infer_response.model_name).toBe('simple');
        continue;
      }
      const r = reqs[Number(id.slice(1))];
      expect(a.error_message).toBe('');
      expect(fromF32(a.infer_response.raw_output_contents[0])).toEqual(r.sum);
      expect(fromF32(a.infer_response.raw_output_contents[1])).toEqual(r.diff);
    }
  });

  test('an unknown model in the stream is an in-stream error; the stream stays open for the next request', async () => {
    const stream = simple.client.stream();
    const answers: Message[] = [];
    stream.on('data', (m: Message) => answers.push(m));
    const done = new Promise<{ code: number }>((resolve) => stream.on('status', resolve));
    stream.write({ ...simpleRequest(0, 'x').req, model_name: 'nope' });
    while (answers.length < 1) await new Promise((r) => setTimeout(r, 5));
    const r = simpleRequest(3, 'y');
    stream.write(r.req);
    stream.end();
    expect((await done).code).toBe(status.OK);
    expect(answers[0]).toMatchObject({ error_message: "Request for unknown model: 'nope' is not found", infer_response: { id: 'x' } });
    expect(answers[1].infer_response.id).toBe('y');
    expect(fromF32(answers[1].infer_response.raw_output_contents[0])).toEqual(r.sum);
  });
});

test('metrics count gRPC requests apart from HTTP ones', async () => {
  const text = await (await fetch(`${simple.rt.url}/metrics`)).text();
  const value = (labels: string) => Number(text.split('\n').find((l) => l.startsWith('modelplane_inference_requests_total{') && l.includes(labels))?.split(' ').pop());
  expect(value('protocol="grpc",outcome="success"')).toBeGreaterThan(200);
  expect(value('protocol="grpc",outcome="client_error"')).toBeGreaterThan(0);
  expect(value('protocol="http",outcome="success"')).toBe(16);
  expect(text).toMatch(/modelplane_inference_request_duration_seconds_count\{model="simple",protocol="grpc"\} \d+/);
});

describe('a large raw input handed to the model where it arrived', () => {
  // Messages past 4 KB come in a buffer of their own, so their one raw input goes to the session worker without a
  // copy; ids of every length shift it through each alignment. Each answer must equal HTTP's for the same input.
  const WIDTH = 1100;
  let mlp: Served;
  beforeAll(async () => {
    mlp = await serve('mlp', mlpModel(WIDTH, 1), ['--max-batch-size', '1']);
  });
  afterAll(async () => {
    mlp?.client.close();
    await mlp?.rt.stop();
  });

  test('concurrent callers at every byte offset get their own exact answers', async () => {
    const inputs = Array.from({ length: 12 }, (_, i) => Array.from({ length: WIDTH }, (_, j) => Math.fround(Math.sin(i * 7 + j) * (1 + i))));
    const [grpc, http] = await Promise.all([
      Promise.all(inputs.map((x, i) => mlp.client.call('ModelInfer', {
        model_name: 'mlp', id: 'r'.repeat(i), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, WIDTH] }], raw_input_contents: [f32(x)],
      }))),
      Promise.all(inputs.map((x) => fetch(`${mlp.rt.url}/v2/models/mlp/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, WIDTH], datatype: 'FP32', data: x }] }),
      }).then((r) => r.json()))),
    ]);
    grpc.forEach((a, i) => {
      expect(a.id).toBe('r'.repeat(i));
      expect(fromF32(a.raw_output_contents[0])).toEqual(http[i].outputs[0].data);
    });
    expect(new Set(grpc.map((a) => fromF32(a.raw_output_contents[0]).join())).size).toBe(inputs.length);
  });
});

describe('--max-inflight-bytes: one budget for HTTP and gRPC', () => {
  const BUDGET = 100_000;
  let budgeted: Served;
  beforeAll(async () => {
    budgeted = await serve('budgeted', simpleModel(), ['--max-inflight-bytes', String(BUDGET), '--body-timeout-seconds', '60']);
  });
  afterAll(async () => {
    budgeted?.client.close();
    await budgeted?.rt.stop();
  });

  const inflight = async () => metricValue(await (await fetch(`${budgeted.rt.url}/metrics`)).text(), 'modelplane_inference_inflight_requests');
  async function until(predicate: () => Promise<boolean>): Promise<void> {
    while (!(await predicate())) await new Promise((r) => setTimeout(r, 20));
  }

  test('bytes held by an HTTP body refuse a gRPC message (RESOURCE_EXHAUSTED) and an HTTP body (503) with the same message', async () => {
    // An HTTP client announces 80 kB and sends only part of it: its bytes are reserved until its request ends.
    const holder = connect(budgeted.rt.port, '127.0.0.1');
    holder.on('error', () => {});
    holder.write('POST /v2/models/budgeted/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 80000\r\n\r\n{"inputs":');
    await until(async () => (await inflight()) === 1);
    const rows = 320; // two inputs of 320 x 16 FP32: about 41 kB on the wire
    const big = simpleRequest(1, 'big', rows);
    const message = new RegExp(`^requests in flight hold 80000 bytes; this request's \\d+ more would exceed the budget of ${BUDGET} bytes \\(--max-inflight-bytes\\); retry later$`);
    const err = await grpcError(budgeted.client.call('ModelInfer', { ...big.req, model_name: 'budgeted' }));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(message);
    expect(err.metadata.get('modelplane-reason')).toEqual(['InflightBytesExceeded']);
    const json = Buffer.from(JSON.stringify({ inputs: big.req.inputs.map((t: Message, i: number) => ({ ...t, data: fromF32(big.req.raw_input_contents[i]) })) }));
    const refused = await fetch(`${budgeted.rt.url}/v2/models/budgeted/infer`, { method: 'POST', body: json });
    expect(refused.status).toBe(503);
    const body = await refused.json();
    expect(body.reason).toBe('InflightBytesExceeded');
    expect(body.error).toMatch(/^requests in flight hold 80000 bytes; this request's \d+ more would exceed the budget of 100000 bytes \(--max-inflight-bytes\); retry later$/);
    // A small message still fits beside the holder; both refusals are counted as rejected.
    const small = simpleRequest(3, 'small');
    expect(fromF32((await budgeted.client.call('ModelInfer', { ...small.req, model_name: 'budgeted' })).raw_output_contents[0])).toEqual(small.sum);
    const m = await (await fetch(`${budgeted.rt.url}/metrics`)).text();
    expect(metricValue(m, 'modelplane_inference_requests_total', 'protocol="grpc",outcome="rejected"')).toBe(1);
    expect(metricValue(m, 'modelplane_inference_requests_total', 'protocol="http",outcome="rejected"')).toBe(1);
    // Once the holder is gone its bytes come back, and the same message is served, exactly.
    holder.destroy();
    await until(async () => (await inflight()) === 0);
    const served = await budgeted.client.call('ModelInfer', { ...big.req, model_name: 'budgeted' });
    expect(fromF32(served.raw_output_contents[0])).toEqual(big.sum);
  });
});
