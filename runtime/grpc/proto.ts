// The service definitions, loaded once from the .proto files in the repository's proto/ folder (the one
// definition of the wire contract; see proto/inference/grpc_service.proto).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * How messages look in JavaScript: field names as in the .proto, 64-bit integers as decimal strings (exact),
 * enums by name, bytes as Buffers, every field present (empty repeated fields as []), and the name of the set
 * member of a oneof in its own property.
 */
export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/**
 * The proto/ folder: next to package.json, found by walking up from this module, so it resolves from the
 * TypeScript sources (runtime/grpc/) and from the compiled output (dist/runtime/grpc/) alike.
 */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'proto');
    const parent = dirname(dir);
    if (parent === dir) throw new Error('proto/ folder not found above the runtime module');
    dir = parent;
  }
}

let loaded: GrpcObject | undefined;

/** The loaded `inference` and `grpc.health.v1` packages (servers and clients alike). */
export function protoPackages(): GrpcObject {
  if (!loaded) {
    const definition = loadSync(['inference/grpc_service.proto', 'grpc/health/v1/health.proto'], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
    loaded = loadPackageDefinition(definition);
  }
  return loaded;
}

function lookup(path: string): ServiceClientConstructor {
  let node: unknown = protoPackages();
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`${path} is not a service in the loaded protos`);
  return node as ServiceClientConstructor;
}

export function inferenceService(): { client: ServiceClientConstructor; definition: ServiceDefinition } {
  const client = lookup(INFERENCE_SERVICE);
  return { client, definition: client.service };
}

export function healthService(): { client: ServiceClientConstructor; definition: ServiceDefinition } {
  const client = lookup(HEALTH_SERVICE);
  return { client, definition: client.service };
}
