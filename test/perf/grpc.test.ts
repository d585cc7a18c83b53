// perf over gRPC against real `modelplane serve --grpc-port` processes, with the service definition perf loads by
// default: the runtime's own proto/inference/grpc_service.proto, the one definition of the wire contract.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mlpModel, simpleModel } from '../../examples/onnx-models.js';
import { encodeGrpcRequest, grpcAddress, loadInferenceService } from '../../perf/grpc-transport.js';
import { PerfError } from '../../perf/errors.js';
import type { PerfResults } from '../../perf/results.js';
import { freePort, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';
import { readResults, runPerfCli, withoutClientCpuWarnings } from './perf-cli.js';

const dir = tempDir('modelplane-perf-grpc-');

interface GrpcRuntime {
  rt: RuntimeProcess;
  /** host:port of the gRPC endpoint, the port as the runtime reports it bound. */
  address: string;
}

/** `--grpc-port 0` means no gRPC: a free port is chosen here, and the runtime's 'listening' line must name it. */
async function serveGrpc(name: string, model: Parameters<typeof modelFile>[2], args: string[]): Promise<GrpcRuntime> {
  const port = await freePort();
  const rt = await startRuntime(['--model', modelFile(dir.path, name, model), '--grpc-port', String(port), '--log-level', 'info', ...args]);
  const grpcListening = () => rt.logLines().find((l) => l.message === 'listening' && l.protocol === 'grpc');
  for (let i = 0; i < 100 && !grpcListening(); i++) await new Promise((r) => setTimeout(r, 50));
  const listening = grpcListening();
  expect(listening).toMatchObject({ port, host: '127.0.0.1' });
  return { rt, address: `127.0.0.1:${listening!.port}` };
}

/** A counter of the runtime's /metrics (over HTTP), 0 when the series is absent. */
async function requestsTotal(rt: RuntimeProcess, model: string, protocol: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${rt.url}/metrics`)).text();
  const m = new RegExp(`^modelplane_inference_requests_total\\{model="${model}",protocol="${protocol}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function expectValidSteps(r: PerfResults): void {
  for (const s of r.steps) {
    expect(s.requests).toBeGreaterThan(5);
    expect(s.throughput).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p90);
    expect(s.latencyMs.p90).toBeLessThanOrEqual(s.latencyMs.p95);
    expect(s.latencyMs.p95).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
    expect(s.errorCount).toBe(0);
    expect(s.errors).toEqual({});
  }
}

let simple: GrpcRuntime;
let slow: GrpcRuntime;

beforeAll(async () => {
  [simple, slow] = await Promise.all([
    serveGrpc('simple', simpleModel(), []),
    serveGrpc('slow', mlpModel(1024, 4), ['--max-batch-size', '1', '--max-queue-size', '1']),
  ]);
});

afterAll(async () => {
  await Promise.all([simple?.rt.stop(), slow?.rt.stop()]);
  dir.remove();
});

test('a sweep over gRPC against the runtime: valid results, the server breakdown from its HTTP /metrics', async () => {
  const out = join(dir.path, 'grpc');
  const before = await requestsTotal(simple.rt, 'simple', 'grpc', 'success');
  const run = await runPerfCli(['--protocol', 'grpc', '--url', `grpc://${simple.address}`, '--metrics-url', `${simple.rt.url}/metrics`, '--model', 'simple', '--concurrency', '1,4', '--duration', '500ms', '--warmup', '100ms', '--quiet', '--out', out]);
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(out);
  expect(r.target).toMatchObject({ protocol: 'grpc', url: `grpc://${simple.address}`, inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 16] }, { name: 'INPUT1', datatype: 'FP32', shape: [1, 16] }] });
  expect(r.steps.map((s) => s.concurrency)).toEqual([1, 4]);
  expectValidSteps(r);
  for (const s of r.steps) {
    expect(s.server).toEqual({ queueMs: expect.any(Number), computeMs: expect.any(Number), batchSize: expect.any(Number) });
    expect(s.server!.batchSize).toBeGreaterThanOrEqual(1);
  }
  expect(r.serverMetrics).toEqual({ url: `${simple.rt.url}/metrics`, note: null });
  // Every request perf counted was answered by the runtime over gRPC, none over HTTP.
  const answered = (await requestsTotal(simple.rt, 'simple', 'grpc', 'success')) - before;
  expect(answered).toBeGreaterThanOrEqual(r.steps.reduce((n, s) => n + s.requests, 0));
  expect(await requestsTotal(simple.rt, 'simple', 'http', 'success')).toBe(0);
});

test('without --metrics-url a gRPC run says why it has no server breakdown', async () => {
  const out = join(dir.path, 'no-metrics');
  const run = await runPerfCli(['--protocol', 'grpc', '--url', simple.address, '--model', 'simple', '--duration', '300ms', '--warmup', '0', '--quiet', '--out', out]);
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(out);
  expectValidSteps(r);
  expect(r.steps[0].server).toBeNull();
  expect(r.serverMetrics.url).toBeNull();
  expect(r.serverMetrics.note).toMatch(/^no server-side breakdown: gRPC carries no metrics; give the runtime's HTTP metrics with --metrics-url/);
});

test('a tiny queue: errors counted by gRPC status and reason, exit 5, the same count as the runtime refused', async () => {
  // One request may wait: of eight callers most are refused with UNAVAILABLE (reason QueueFull).
  const out = join(dir.path, 'busy');
  const run = await runPerfCli(['--protocol', 'grpc', '--url', slow.address, '--metrics-url', `${slow.rt.url}/metrics`, '--model', 'slow', '--batch-size', '16', '--concurrency', '8', '--duration', '600ms', '--warmup', '0', '--quiet', '--out', out]);
  expect(run.code).toBe(5);
  expect(run.stderr).toMatch(/ErrorRateExceeded: \d+ of \d+ requests failed/);
  const s = readResults(out).steps[0];
  expect(Object.keys(s.errors)).toEqual(['UNAVAILABLE QueueFull']);
  expect(s.errors['UNAVAILABLE QueueFull']).toBeGreaterThan(0);
  expect(s.requests).toBeGreaterThan(s.errorCount);
  expect(await requestsTotal(slow.rt, 'slow', 'grpc', 'rejected')).toBe(s.errors['UNAVAILABLE QueueFull']);
});

test('a request the runtime refuses outright stops the run at once, naming the status and reason', async () => {
  // INPUT0 of 15 columns against the model's 16.
  const data = join(dir.path, 'bad.json');
  writeFileSync(data, JSON.stringify({ data: [{ INPUT0: { content: Array(15).fill(1), shape: [1, 15] }, INPUT1: Array(16).fill(1) }] }));
  const run = await runPerfCli(['--protocol', 'grpc', '--url', simple.address, '--model', 'simple', '--input-data', data, '--duration', '300ms', '--warmup', '0']);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/InvalidArgument: the server refused the request perf built for simple \(INVALID_ARGUMENT \w+\)/);
});

test('unknown model over gRPC: exit 4; nothing listening: exit 3', async () => {
  const missing = await runPerfCli(['--protocol', 'grpc', '--url', simple.address, '--model', 'nope', '--duration', '200ms']);
  expect(missing.code).toBe(4);
  expect(missing.stderr).toMatch(/ModelUnavailable: ModelMetadata\(nope\) failed: NOT_FOUND ModelNotFound: Request for unknown model: 'nope' is not found/);
  const dead = await runPerfCli(['--protocol', 'grpc', '--url', '127.0.0.1:1', '--model', 'simple', '--duration', '200ms', '--timeout', '2s']);
  expect(dead.code).toBe(3);
  expect(dead.stderr).toMatch(/Unreachable: cannot reach gRPC server 127\.0\.0\.1:1/);
});

describe('without the service definition gRPC says it is not available (exit 7)', () => {
  const noProto = join(dir.path, 'empty');
  const otherProto = join(dir.path, 'other');
  beforeAll(() => {
    mkdirSync(noProto, { recursive: true });
    mkdirSync(otherProto, { recursive: true });
    writeFileSync(join(otherProto, 'x.proto'), 'syntax = "proto3"; package other; message M { string a = 1; }');
  });
  test.each([
    ['/nonexistent/protos', '--grpc-proto /nonexistent/protos does not exist'],
    [noProto, `--grpc-proto ${noProto} holds no .proto file`],
    [otherProto, `--grpc-proto ${otherProto} does not define inference.GRPCInferenceService`],
  ])('%s', async (path, message) => {
    expect(() => loadInferenceService(path)).toThrow(PerfError);
    const run = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', path, '--url', simple.address, '--model', 'simple']);
    expect(run.code).toBe(7);
    expect(run.stderr).toContain(`ProtocolUnavailable: gRPC is not available: ${message}`);
  });
});

test('request encoding and addresses', () => {
  expect(() => loadInferenceService(undefined)).not.toThrow();
  const req = encodeGrpcRequest('m', undefined, [{ name: 's', datatype: 'BYTES', shape: [1, 2], payload: { strings: ['ab', ''] } }], ['o']) as any;
  expect(req).toMatchObject({ model_name: 'm', model_version: '', inputs: [{ name: 's', datatype: 'BYTES', shape: [1, 2] }], outputs: [{ name: 'o' }] });
  expect(Buffer.from(req.raw_input_contents[0])).toEqual(Buffer.from([2, 0, 0, 0, 97, 98, 0, 0, 0, 0]));
  expect(grpcAddress('grpc://h:9000/')).toBe('h:9000');
  expect(grpcAddress('h:9000')).toBe('h:9000');
  expect(() => grpcAddress('grpc://h')).toThrow(/--url: "grpc:\/\/h" is not host:port/);
});
