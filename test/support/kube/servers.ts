// The API servers a fidelity test runs against: the in-repo fake always, and the real control plane when the run
// has one. Each behaviour the fake imitates is checked against both with the same expectations, so they cannot drift.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { startFakeApiServer, type FakeApiServer } from '../fake-apiserver/index.js';
import { freshNamespace, realCluster } from './real-cluster.js';
import { randomBytes } from 'node:crypto';

export interface RawResponse {
  status: number;
  body: string;
  json(): Record<string, any>;
}

export interface TestApiServer {
  name: 'fake' | 'real';
  kc: KubeConfig;
  /** A namespace of its own for one test. */
  namespace(prefix: string): Promise<string>;
  /** One HTTP request with the admin's credentials, answered whatever its status. */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<RawResponse>;
  /** The fake itself, for what its stand-ins for controllers must be told to do. */
  fake?: FakeApiServer;
  stop(): Promise<void>;
}

function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, ca?: Buffer): Promise<RawResponse> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, ...(ca ? { ca } : {}), timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) as Record<string, any> });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timeout`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function fakeServer(): Promise<TestApiServer> {
  const fake = await startFakeApiServer();
  const kc = new KubeConfig();
  kc.loadFromString(fake.kubeconfigYaml());
  return {
    name: 'fake', kc, fake,
    // The fake serves every namespace without creating it.
    namespace: async (prefix) => `${prefix}-${randomBytes(3).toString('hex')}`,
    request: (method, path, body, contentType = 'application/json') =>
      send(new URL(path, fake.url), method, { 'content-type': contentType }, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)),
    stop: () => fake.stop(),
  };
}

function realServer(): TestApiServer | undefined {
  const cluster = realCluster();
  if (!cluster) return undefined;
  const ca = readFileSync(cluster.caFile);
  return {
    name: 'real', kc: cluster.kc,
    namespace: (prefix) => freshNamespace(cluster.kc, prefix),
    request: (method, path, body, contentType = 'application/json') =>
      send(new URL(path, cluster.server), method, { 'content-type': contentType, authorization: `Bearer ${cluster.adminToken}` }, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), ca),
    stop: async () => undefined,
  };
}

/** The servers to run fidelity tests against, as `describe.each` rows: [name, start]. */
export function apiServersUnderTest(): Array<[string, () => Promise<TestApiServer>]> {
  const rows: Array<[string, () => Promise<TestApiServer>]> = [['fake', fakeServer]];
  if (realCluster()) rows.push(['real', async () => realServer()!]);
  return rows;
}
