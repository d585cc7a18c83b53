// The pure parts of the gRPC transport: the error catalogue in status codes, statistics in Triton's shape, and
// which decoded requests own the buffers their inputs lie in.
import { status } from '@grpc/grpc-js';
import { ERRORS, RuntimeError, type ErrorReason } from '../../runtime/errors.js';
import { GRPC_CODES, grpcMessage, toServiceError } from '../../runtime/grpc/status.js';
import { grpcStatistics } from '../../runtime/grpc/statistics.js';
import type { ModelStatistics } from '../../runtime/statistics.js';
import { servingStatus } from '../../runtime/grpc/health.js';
import { decodeInferRequest, ownershipTracking, type ModelInferRequest } from '../../runtime/grpc/codec.js';
import { inferenceService } from '../../runtime/grpc/proto.js';
import type { ModelSignature } from '../../runtime/signature.js';

describe('error catalogue as gRPC status codes', () => {
  const expected = (httpStatus: number, reason: ErrorReason): status => {
    if (reason === 'MethodNotAllowed' || httpStatus === 501) return status.UNIMPLEMENTED;
    // The in-flight budget is a resource the request's size exhausts, like the size limit.
    if (reason === 'InflightBytesExceeded') return status.RESOURCE_EXHAUSTED;
    if (httpStatus === 404) return status.NOT_FOUND;
    if (httpStatus === 408) return status.DEADLINE_EXCEEDED;
    if (httpStatus === 413) return status.RESOURCE_EXHAUSTED;
    if (httpStatus === 503) return status.UNAVAILABLE;
    if (httpStatus >= 500) return status.INTERNAL;
    return status.INVALID_ARGUMENT;
  };
  test.each(Object.entries(ERRORS) as [ErrorReason, number][])('%s (HTTP %d)', (reason, httpStatus) => {
    expect(GRPC_CODES[reason]).toBe(expected(httpStatus, reason));
  });

  test.each([
    ['QueueFull', 'queue is full (2 requests waiting); retry later', 'queue is full (2 requests waiting); retry later'],
    ['NotReady', 'model m is loading', 'model m is loading; retry later'],
    ['ShuttingDown', 'server is shutting down', 'server is shutting down; retry later'],
    ['ShapeMismatch', 'inputs[0].shape[1]: is 4', 'inputs[0].shape[1]: is 4'],
  ] as [ErrorReason, string, string][])('%s keeps the HTTP message, with retry advice when UNAVAILABLE', (reason, message, sent) => {
    expect(grpcMessage(new RuntimeError(reason, message))).toBe(sent);
  });

  test('the reason code and retry pushback travel as trailing metadata', () => {
    const full = toServiceError(new RuntimeError('QueueFull', 'queue is full; retry later', { 'Retry-After': '1' }));
    expect(full.code).toBe(status.UNAVAILABLE);
    expect(full.metadata!.get('modelplane-reason')).toEqual(['QueueFull']);
    expect(full.metadata!.get('grpc-retry-pushback-ms')).toEqual(['1000']);
    expect(toServiceError(new RuntimeError('DataMismatch', 'x')).metadata!.get('grpc-retry-pushback-ms')).toEqual([]);
  });
});

describe('ModelStatistics from the runtime statistics in Triton JSON shape', () => {
  const d = (count: number, ns: number) => ({ count, ns });
  const stats = (name: string, version = '1'): ModelStatistics => ({
    name, version, last_inference: 1764400000123, inference_count: 96, execution_count: 40,
    inference_stats: { success: d(64, 5e6), fail: d(2, 1e4), queue: d(64, 2.5e5), compute_input: d(40, 1e5), compute_infer: d(40, 4e6), compute_output: d(40, 2e5), cache_hit: d(0, 0), cache_miss: d(0, 0) },
    batch_stats: [{ batch_size: 2, compute_input: d(20, 5e4), compute_infer: d(20, 2e6), compute_output: d(20, 1e5) }],
  });
  test('every figure travels, 64-bit counters as exact decimal strings', () => {
    const [a, b] = grpcStatistics([stats('a'), stats('b')]).model_stats as Record<string, any>[];
    expect(b.name).toBe('b');
    expect(a).toEqual({
      name: 'a', version: '1', last_inference: '1764400000123', inference_count: '96', execution_count: '40',
      inference_stats: {
        success: { count: '64', ns: '5000000' }, fail: { count: '2', ns: '10000' }, queue: { count: '64', ns: '250000' },
        compute_input: { count: '40', ns: '100000' }, compute_infer: { count: '40', ns: '4000000' }, compute_output: { count: '40', ns: '200000' },
      },
      batch_stats: [{ batch_size: '2', compute_input: { count: '20', ns: '50000' }, compute_infer: { count: '20', ns: '2000000' }, compute_output: { count: '20', ns: '100000' } }],
    });
  });
});

test.each([
  ['loading', 'NOT_SERVING'],
  ['ready', 'SERVING'],
  ['draining', 'NOT_SERVING'],
] as const)('health: a server %s is %s', (state, expected) => {
  expect(servingStatus(state)).toBe(expected);
});

describe('inputs owned by their request go to the session worker without a copy', () => {
  const sig: ModelSignature = {
    inputs: [{ name: 'x', datatype: 'FP32', ortType: 'float32', shape: [-1, 4] }, { name: 'y', datatype: 'FP32', ortType: 'float32', shape: [-1, 4] }],
    outputs: [{ name: 'z', datatype: 'FP32', ortType: 'float32', shape: [-1, 4] }],
  };
  const method = inferenceService().definition.ModelInfer;
  const deserialize = ownershipTracking(method.requestDeserialize as (b: Buffer) => ModelInferRequest);
  const rows = (n: number, seed: number) => Buffer.from(Float32Array.from({ length: 4 * n }, (_, i) => seed + i).buffer);
  const message = (n: number, raw: Buffer[]) => method.requestSerialize({
    model_name: 'm', inputs: sig.inputs.slice(0, raw.length).map((s) => ({ name: s.name, datatype: 'FP32', shape: [String(n), '4'] })), raw_input_contents: raw,
  });
  /** As grpc-js hands a message over: framed in a buffer of its own (big ones) and without the 5-byte prefix. */
  const framed = (bytes: Buffer) => Buffer.concat([Buffer.alloc(5), bytes]).subarray(5);
  const one = { ...sig, inputs: sig.inputs.slice(0, 1) };

  test('a message in a buffer of its own: its raw input is exclusive, a view with the values sent', () => {
    const msg = deserialize(framed(message(1024, [rows(1024, 1)])));
    const [x] = decodeInferRequest(msg, one).inputs;
    expect(x.payload).toMatchObject({ exclusive: true });
    const bytes = (x.payload as { bytes: Uint8Array }).bytes;
    expect(bytes.buffer).toBe(msg.raw_input_contents[0].buffer);
    expect(new Float32Array(new Uint8Array(bytes).buffer).slice(0, 3)).toEqual(Float32Array.of(1, 2, 3));
  });

  test.each([
    ['a small message in node\'s shared pool', () => framed(message(2, [rows(2, 1)]))],
    ['a message inside a larger buffer', () => Buffer.concat([Buffer.alloc(64), message(1024, [rows(1024, 1)])]).subarray(64)],
  ])('%s is copied', (_, bytes) => {
    const msg = deserialize(bytes());
    expect(decodeInferRequest(msg, one).inputs[0].payload).not.toHaveProperty('exclusive', true);
  });

  test('a message decoded without the tracking deserializer is copied', () => {
    const msg = method.requestDeserialize(framed(message(1024, [rows(1024, 1)]))) as ModelInferRequest;
    expect(decodeInferRequest(msg, one).inputs[0].payload).not.toHaveProperty('exclusive', true);
  });

  test('several raw inputs are gathered into one fresh buffer, which the request then owns', () => {
    const msg = deserialize(framed(message(1024, [rows(1024, 1), rows(1024, 9)])));
    const [x, y] = decodeInferRequest(msg, sig).inputs;
    for (const t of [x, y]) expect(t.payload).toMatchObject({ exclusive: true });
    expect((x.payload as { bytes: Uint8Array }).bytes.buffer).not.toBe(msg.raw_input_contents[0].buffer);
    expect(new Float32Array(new Uint8Array((y.payload as { bytes: Uint8Array }).bytes).buffer).slice(0, 2)).toEqual(Float32Array.of(9, 10));
  });
});
