// Triton's repository index request over HTTP (`POST /v2/repository/index`), as the runtime and the gateway read it.
import type { IncomingMessage } from 'node:http';
import { RuntimeError } from '../errors.js';

export interface IndexRequest {
  repositoryName?: string;
  readyOnly?: boolean;
}

/** Largest repository index request body (a few bytes of JSON). */
export const INDEX_BODY_LIMIT = 64 * 1024;

/** Triton's RepositoryIndexRequest in JSON: an empty body, or `{"repository_name"?: string, "ready"?: boolean}`. */
function parseIndexRequest(body: Buffer): IndexRequest {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RuntimeError('MalformedJson', `request body: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RuntimeError('InvalidRequest', 'request body: must be a JSON object');
  const { repository_name: name, ready } = value as Record<string, unknown>;
  if (name !== undefined && typeof name !== 'string') throw new RuntimeError('InvalidRequest', 'repository_name: must be a string');
  if (ready !== undefined && typeof ready !== 'boolean') throw new RuntimeError('InvalidRequest', 'ready: must be a boolean');
  return { ...(name !== undefined ? { repositoryName: name } : {}), ...(ready !== undefined ? { readyOnly: ready } : {}) };
}

/** A control route's whole body, refused past `limit` bytes (a repository index request is a few bytes of JSON). */
async function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RuntimeError('BodyTooLarge', `a repository index request of more than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The request's body read whole (at most INDEX_BODY_LIMIT bytes) and parsed; a RuntimeError naming the fault otherwise. */
export async function readIndexRequest(req: IncomingMessage): Promise<IndexRequest> {
  return parseIndexRequest(await readSmallBody(req, INDEX_BODY_LIMIT));
}
