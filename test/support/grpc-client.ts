// A grpc-js client for inference.GRPCInferenceService and grpc.health.v1, with promise-returning calls.
import { credentials, Metadata, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { healthService, inferenceService } from '../../runtime/grpc/proto.js';

export type Message = Record<string, any>;

export interface GrpcClient {
  raw: Client & Record<string, any>;
  health: Client & Record<string, any>;
  /** Calls a unary RPC of the inference service; rejects with the ServiceError (code, details, metadata). */
  call(method: string, request?: Message, opts?: { deadlineMs?: number }): Promise<Message>;
  check(service?: string): Promise<string>;
  stream(): ClientDuplexStream<Message, Message>;
  close(): void;
}

export function grpcClient(port: number, options: Record<string, number> = {}): GrpcClient {
  const address = `127.0.0.1:${port}`;
  const raw = new (inferenceService().client)(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, ...options }) as Client & Record<string, any>;
  const health = new (healthService().client)(address, credentials.createInsecure()) as Client & Record<string, any>;
  const deadline = (ms = 20_000) => ({ deadline: Date.now() + ms });
  return {
    raw,
    health,
    call: (method, request = {}, opts = {}) => new Promise((resolve, reject) => {
      raw[method](request, new Metadata(), deadline(opts.deadlineMs), (err: ServiceError | null, res: Message) => (err ? reject(err) : resolve(res)));
    }),
    check: (service = '') => new Promise((resolve, reject) => {
      health.Check({ service }, deadline(), (err: ServiceError | null, res: Message) => (err ? reject(err) : resolve(res.status)));
    }),
    stream: () => raw.ModelStreamInfer(deadline(60_000)),
    close: () => {
      raw.close();
      health.close();
    },
  };
}

/** Awaits a rejected call and returns its error. */
export async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('the call succeeded; an error was expected');
}
