// grpc.health.v1.Health: SERVING once the model is loaded and warmed up, NOT_SERVING while loading or draining,
// so a pod can use Kubernetes' native gRPC probe.
import { status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServerState } from '../core.js';
import { INFERENCE_SERVICE } from './proto.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** The overall server ("") and the inference service are the services this server reports on. */
export const HEALTH_SERVICES: readonly string[] = ['', INFERENCE_SERVICE];

export function servingStatus(state: ServerState): ServingStatus {
  return state === 'ready' ? 'SERVING' : 'NOT_SERVING';
}

interface HealthRequest {
  service: string;
}

export interface HealthService {
  implementation: UntypedServiceImplementation;
  /** Sends the current status to every Watch whose status changed. */
  notify(): void;
  /** Ends every Watch stream (the server is closing). */
  close(): void;
}

export function createHealthService(state: () => ServerState): HealthService {
  const watchers = new Map<ServerWritableStream<HealthRequest, unknown>, ServingStatus>();

  const statusOf = (service: string): ServingStatus => (HEALTH_SERVICES.includes(service) ? servingStatus(state()) : 'SERVICE_UNKNOWN');

  const implementation: UntypedServiceImplementation = {
    Check(call: ServerUnaryCall<HealthRequest, unknown>, callback: sendUnaryData<unknown>) {
      const s = statusOf(call.request.service);
      if (s === 'SERVICE_UNKNOWN') {
        callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"; this server reports on "" and "${INFERENCE_SERVICE}"` });
        return;
      }
      callback(null, { status: s });
    },
    Watch(call: ServerWritableStream<HealthRequest, unknown>) {
      const s = statusOf(call.request.service);
      watchers.set(call, s);
      call.write({ status: s });
      const forget = () => watchers.delete(call);
      call.on('cancelled', forget);
      call.on('error', forget);
    },
  };

  return {
    implementation,
    notify() {
      for (const [call, last] of watchers) {
        const s = statusOf(call.request.service);
        if (s === last) continue;
        watchers.set(call, s);
        call.write({ status: s });
      }
    },
    close() {
      for (const call of watchers.keys()) call.end();
      watchers.clear();
    },
  };
}
