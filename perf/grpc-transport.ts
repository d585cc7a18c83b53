// The Open Inference Protocol over gRPC (KServe v2 / Triton `inference.GRPCInferenceService`), with the service
// loaded at run time from its .proto files: --grpc-proto, else the runtime's own proto/inference/grpc_service.proto.
// Inputs always travel in raw_input_contents (little-endian, BYTES length-prefixed), as Triton's client sends them.
import { credentials, loadPackageDefinition, status as GrpcStatus, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBinaryData } from '../runtime/tensors.js';
import { PerfError } from './errors.js';
import { parseModelMetadata, type ModelMetadata, type RequestSample } from './inputs.js';
import type { Transport, TransportOptions } from './transport.js';

/** The runtime's own service definition (proto/ next to package.json), used when no --grpc-proto is given. */
export const DEFAULT_PROTO_FILE = 'proto/inference/grpc_service.proto';
export const SERVICE_NAME = 'inference.GRPCInferenceService';

function packageRoot(): string {
  // This file runs as dist/perf/grpc-transport.js, or as perf/grpc-transport.ts under the test runner.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return dir;
}

/** The .proto files to load: the file given, every .proto in the directory given, or the runtime's. */
export function protoFiles(path: string | undefined): { files: string[]; includeDir: string; where: string } {
  const target = resolve(path ?? join(packageRoot(), DEFAULT_PROTO_FILE));
  const where = path ? `--grpc-proto ${path}` : target;
  const unavailable = (why: string) =>
    new PerfError('ProtocolUnavailable', `gRPC is not available: ${why}; point --grpc-proto (or MODELPLANE_GRPC_PROTO) at the .proto files defining ${SERVICE_NAME}, or use --protocol http`);
  if (!existsSync(target)) throw unavailable(`${where} does not exist`);
  // The runtime's file imports its siblings as inference/..., so its include directory is proto/.
  if (!path) return { files: [target], includeDir: dirname(dirname(target)), where };
  if (statSync(target).isFile()) return { files: [target], includeDir: dirname(target), where };
  const files = readdirSync(target).filter((f) => f.endsWith('.proto')).map((f) => join(target, f));
  if (files.length === 0) throw unavailable(`${where} holds no .proto file`);
  return { files, includeDir: target, where };
}

type ServiceClient = Client & Record<string, (req: unknown, opts: { deadline: number }, cb: (err: ServiceError | null, res: any) => void) => void>;
type ServiceConstructor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: object) => ServiceClient;

export function loadInferenceService(path: string | undefined): ServiceConstructor {
  const { files, includeDir, where } = protoFiles(path);
  let def;
  try {
    def = loadSync(files, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [includeDir] });
  } catch (err) {
    throw new PerfError('ProtocolUnavailable', `gRPC is not available: ${where} does not load: ${(err as Error).message}`);
  }
  const ctor = (loadPackageDefinition(def) as any).inference?.GRPCInferenceService;
  if (typeof ctor !== 'function') throw new PerfError('ProtocolUnavailable', `gRPC is not available: ${where} does not define ${SERVICE_NAME}; use --protocol http`);
  return ctor as ServiceConstructor;
}

/** host:port from --url: grpc://host:port, http://host:port or a bare host:port. */
export function grpcAddress(url: string): string {
  const m = /^(?:(?:grpc|http|https):\/\/)?([^/]+?)\/*$/.exec(url);
  if (!m || !/:\d+$/.test(m[1])) throw new PerfError('InvalidArgument', `--url: "${url}" is not host:port (e.g. grpc://localhost:9000)`);
  return m[1];
}

/** Trailing metadata in which a modelplane runtime names the stable reason of an error (QueueFull, ...). */
export const REASON_METADATA_KEY = 'modelplane-reason';

/** The error key of a failed call: the status name and, when the server names one, the reason code. */
export function grpcErrorKey(err: ServiceError): string {
  const name = GrpcStatus[err.code] ?? `grpc ${err.code}`;
  const reason = err.metadata?.get(REASON_METADATA_KEY)[0];
  return typeof reason === 'string' && /^[A-Za-z][\w.-]{0,63}$/.test(reason) ? `${name} ${reason}` : name;
}

export function encodeGrpcRequest(model: string, version: string | undefined, sample: RequestSample, outputs: string[]): object {
  return {
    model_name: model,
    model_version: version ?? '',
    inputs: sample.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    outputs: outputs.map((name) => ({ name })),
    raw_input_contents: sample.map((t) => {
      const b = encodeBinaryData('strings' in t.payload ? t.payload.strings : t.payload.bytes);
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    }),
  };
}

export class GrpcTransport implements Transport {
  private readonly client: ServiceClient;
  private prepared: object[] = [];

  constructor(private readonly opts: TransportOptions, Service: ServiceConstructor) {
    this.client = new Service(grpcAddress(opts.url), credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  }

  private call(method: string, req: unknown, timeoutMs: number): Promise<any> {
    return new Promise((res, rej) => this.client[method](req, { deadline: Date.now() + timeoutMs }, (err, out) => (err ? rej(err) : res(out))));
  }

  async metadata(): Promise<ModelMetadata> {
    const address = grpcAddress(this.opts.url);
    await new Promise<void>((res, rej) =>
      this.client.waitForReady(Date.now() + Math.min(this.opts.timeoutMs, 10_000), (err) => (err ? rej(new PerfError('Unreachable', `cannot reach gRPC server ${address}: ${err.message}`)) : res())),
    );
    let meta: any;
    try {
      meta = await this.call('ModelMetadata', { name: this.opts.model, version: this.opts.modelVersion ?? '' }, 10_000);
    } catch (err) {
      const e = err as ServiceError;
      if (e.code === GrpcStatus.UNAVAILABLE) throw new PerfError('Unreachable', `cannot reach gRPC server ${address}: ${e.details}`);
      throw new PerfError('ModelUnavailable', `ModelMetadata(${this.opts.model}) failed: ${grpcErrorKey(e)}: ${e.details}`);
    }
    const ready = await this.call('ModelReady', { name: this.opts.model, version: this.opts.modelVersion ?? '' }, 10_000).catch(() => undefined);
    if (ready && ready.ready === false) throw new PerfError('ModelUnavailable', `model ${this.opts.model} is not ready (ModelReady answered false)`);
    return parseModelMetadata(meta);
  }

  prepare(samples: RequestSample[], outputs: string[]): void {
    this.prepared = samples.map((s) => encodeGrpcRequest(this.opts.model, this.opts.modelVersion, s, outputs));
  }

  infer(i: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.client.ModelInfer(this.prepared[i % this.prepared.length], { deadline: Date.now() + this.opts.timeoutMs }, (err) => resolve(err ? grpcErrorKey(err) : undefined));
    });
  }

  close(): void {
    this.client.close();
  }
}

export function createGrpcTransport(opts: TransportOptions): Transport {
  if (opts.binary) throw new PerfError('InvalidArgument', '--binary: applies to HTTP; gRPC always sends tensors as raw bytes');
  return new GrpcTransport(opts, loadInferenceService(opts.grpcProto));
}
