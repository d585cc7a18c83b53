// perf over gRPC. The runtime's gRPC endpoint lives elsewhere; here a gRPC front on loopback speaks the standard
// service (the fixture proto) and hands each request to a real `modelplane serve` over its binary HTTP route, so
// the tensors perf encodes are decoded and computed for real.
import { Server, ServerCredentials, status, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mlpModel, simpleModel } from '../../examples/onnx-models.js';
import { encodeGrpcRequest, grpcAddress, loadInferenceService } from '../../perf/grpc-transport.js';
import { PerfError } from '../../perf/errors.js';
import { modelFile, REPO, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';
import { readResults, runPerfCli } from './perf-cli.js';

const PROTO = join(REPO, 'test/perf/fixtures/grpc_service.proto');
const dir = tempDir('modelplane-perf-grpc-');
let rt: RuntimeProcess;
let slow: RuntimeProcess;
/** The runtime behind the front, by model name. */
const backend = (model: string) => (model === 'slow' ? slow : rt).url;
let server: Server;
let address: string;
const seen: { inputs: { name: string; datatype: string; shape: number[] }[]; raw: number[] }[] = [];

beforeAll(async () => {
  [rt, slow] = await Promise.all([
    startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--log-level', 'warn']),
    startRuntime(['--model', modelFile(dir.path, 'slow', mlpModel(1024, 4)), '--max-batch-size', '1', '--max-queue-size', '1', '--log-level', 'error']),
  ]);
  const def = loadSync(PROTO, { keepCase: true, longs: Number, defaults: true });
  const svc = (loadPackageDefinition(def) as any).inference.GRPCInferenceService.service;
  server = new Server();
  const fail = (code: status, details: string) => Object.assign(new Error(details), { code, details }) as ServiceError;
  server.addService(svc, {
    ModelReady: (_call: any, cb: any) => cb(null, { ready: true }),
    ModelMetadata: async (call: any, cb: any) => {
      const r = await fetch(`${backend(call.request.name)}/v2/models/${call.request.name}`);
      if (r.status !== 200) return cb(fail(status.NOT_FOUND, (await r.json()).error));
      cb(null, await r.json());
    },
    ModelInfer: async (call: any, cb: any) => {
      const req = call.request;
      if (seen.length < 3) seen.push({ inputs: req.inputs.map((i: any) => ({ name: i.name, datatype: i.datatype, shape: i.shape })), raw: req.raw_input_contents.map((b: Buffer) => b.length) });
      const header = JSON.stringify({
        inputs: req.inputs.map((i: any, n: number) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: req.raw_input_contents[n].length } })),
        outputs: req.outputs.map((o: any) => ({ name: o.name, parameters: { binary_data: true } })),
      });
      const r = await fetch(`${backend(req.model_name)}/v2/models/${req.model_name}/infer`, {
        method: 'POST',
        headers: { 'Inference-Header-Content-Length': String(Buffer.byteLength(header)) },
        body: Buffer.concat([Buffer.from(header), ...req.raw_input_contents]),
      });
      const body = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200) return cb(fail(r.status === 503 ? status.UNAVAILABLE : status.INVALID_ARGUMENT, body.toString()));
      const hl = Number(r.headers.get('inference-header-content-length'));
      const json = JSON.parse(body.subarray(0, hl).toString());
      let at = hl;
      const raw = json.outputs.map((o: any) => body.subarray(at, (at += o.parameters.binary_data_size)));
      cb(null, { model_name: json.model_name, outputs: json.outputs.map((o: any) => ({ name: o.name, datatype: o.datatype, shape: o.shape })), raw_output_contents: raw });
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))));
  address = `127.0.0.1:${port}`;
});

afterAll(async () => {
  server?.forceShutdown();
  await Promise.all([rt?.stop(), slow?.stop()]);
  dir.remove();
});

test('a sweep over gRPC: raw tensors of the right size, results with the server breakdown from --metrics-url', async () => {
  const out = join(dir.path, 'grpc');
  const run = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', PROTO, '--url', `grpc://${address}`, '--metrics-url', `${rt.url}/metrics`, '--model', 'simple', '--concurrency', '1,4', '--duration', '500ms', '--warmup', '100ms', '--out', out]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(out);
  expect(r.target.protocol).toBe('grpc');
  expect(r.steps.map((s) => s.concurrency)).toEqual([1, 4]);
  for (const s of r.steps) {
    expect(s.requests).toBeGreaterThan(5);
    expect(s.errorCount).toBe(0);
    expect(s.server).toEqual({ queueMs: expect.any(Number), computeMs: expect.any(Number), batchSize: expect.any(Number) });
  }
  expect(seen[0]).toEqual({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 16] }, { name: 'INPUT1', datatype: 'FP32', shape: [1, 16] }], raw: [64, 64] });
});

test('gRPC errors are counted by status code', async () => {
  // The slow model's queue holds one request: the runtime's 503s reach perf as UNAVAILABLE.
  const run = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', PROTO, '--url', address, '--model', 'slow', '--batch-size', '16', '--concurrency', '8', '--duration', '600ms', '--warmup', '0', '--quiet', '--out', join(dir.path, 'busy')]);
  expect(run.code).toBe(5);
  const s = readResults(join(dir.path, 'busy')).steps[0];
  expect(Object.keys(s.errors)).toEqual(['UNAVAILABLE']);
  expect(s.errors.UNAVAILABLE).toBeGreaterThan(0);
  expect(s.requests).toBeGreaterThan(s.errorCount);
});

test('a request the server refuses outright stops the run at once, naming the status', async () => {
  // INPUT0 of 15 columns: the runtime answers 400, the front INVALID_ARGUMENT.
  const data = join(dir.path, 'bad.json');
  writeFileSync(data, JSON.stringify({ data: [{ INPUT0: { content: Array(15).fill(1), shape: [1, 15] }, INPUT1: Array(16).fill(1) }] }));
  const run = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', PROTO, '--url', address, '--model', 'simple', '--input-data', data, '--duration', '300ms', '--warmup', '0']);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/InvalidArgument: the server refused the request perf built for simple \(INVALID_ARGUMENT\)/);
});

test('unknown model over gRPC: exit 4; nothing listening: exit 3', async () => {
  const missing = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', PROTO, '--url', address, '--model', 'nope', '--duration', '200ms']);
  expect(missing.code).toBe(4);
  expect(missing.stderr).toMatch(/ModelUnavailable: ModelMetadata\(nope\) failed: NOT_FOUND: unknown model "nope"/);
  const dead = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', PROTO, '--url', '127.0.0.1:1', '--model', 'simple', '--duration', '200ms', '--timeout', '2s']);
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
    const run = await runPerfCli(['--protocol', 'grpc', '--grpc-proto', path, '--url', address, '--model', 'simple']);
    expect(run.code).toBe(7);
    expect(run.stderr).toContain(`ProtocolUnavailable: gRPC is not available: ${message}`);
  });
});

test('request encoding and addresses', () => {
  const req = encodeGrpcRequest('m', undefined, [{ name: 's', datatype: 'BYTES', shape: [1, 2], payload: { strings: ['ab', ''] } }], ['o']) as any;
  expect(req).toMatchObject({ model_name: 'm', model_version: '', inputs: [{ name: 's', datatype: 'BYTES', shape: [1, 2] }], outputs: [{ name: 'o' }] });
  expect(Buffer.from(req.raw_input_contents[0])).toEqual(Buffer.from([2, 0, 0, 0, 97, 98, 0, 0, 0, 0]));
  expect(grpcAddress('grpc://h:9000/')).toBe('h:9000');
  expect(grpcAddress('h:9000')).toBe('h:9000');
  expect(() => grpcAddress('grpc://h')).toThrow(/--url: "grpc:\/\/h" is not host:port/);
});
