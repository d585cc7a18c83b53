// How the HTTP transport answers: JSON bodies, errors in the protocol's shape, path segments decoded.
import type { ServerResponse } from 'node:http';
import { errorBody, RuntimeError } from '../errors.js';

export function sendJson(res: ServerResponse, status: number, body: object | string, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: RuntimeError): void {
  sendJson(res, err.status, errorBody(err), err.headers);
}

/** A path segment, percent-decoded; a malformed escape is the client's mistake (400), naming the segment. */
export function decodeSegment(raw: string, what: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new RuntimeError('InvalidRequest', `request path: ${what} ${JSON.stringify(raw)} has a malformed percent-escape`);
  }
}
