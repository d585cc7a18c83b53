// Sample requests from a file, in the shape of an Open Inference Protocol infer request body: what `serve --warmup`
// warms a model up with and `optimize --samples` compares on. One file format for both: a JSON request, a JSON array
// of them, or one request body of JSON followed by binary tensor data (the binary extension's layout).
import { readFileSync } from 'node:fs';
import { parseInferRequest, type InferRequest } from './request.js';
import type { ModelSignature } from './signature.js';

/** A sample file that cannot be read or does not fit the model; the message names the file and the field. */
export class SampleFileError extends Error {}

export interface SampleRequest {
  /** Where it came from: `file`, or `file[i]` for the i-th request of an array. */
  where: string;
  request: InferRequest;
}

/** The length of the JSON object at the start of a body (the binary data, if any, follows it). */
export function jsonPrefixLength(body: Buffer): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i + 1;
  }
  return body.length;
}

function checked(body: Buffer, headerLength: number | undefined, sig: ModelSignature, where: string): SampleRequest {
  try {
    return { where, request: parseInferRequest(body, headerLength, sig) };
  } catch (err) {
    throw new SampleFileError(`${where}: ${(err as Error).message}`);
  }
}

/** Reads and validates every request of a sample file against the model's inputs. */
export function readSampleRequests(file: string, sig: ModelSignature): SampleRequest[] {
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch (err) {
    throw new SampleFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const first = body.subarray(0, 64).toString('utf8').trimStart()[0];
  const headerLength = first === '{' ? jsonPrefixLength(body) : body.length;
  if (headerLength < body.length && body.subarray(headerLength).toString('utf8').trim() !== '') {
    return [checked(body, headerLength, sig, file)];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SampleFileError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (list.length === 0) throw new SampleFileError(`${file} holds no request`);
  return list.map((r, i) => checked(Buffer.from(JSON.stringify(r)), undefined, sig, Array.isArray(parsed) ? `${file}[${i}]` : file));
}
