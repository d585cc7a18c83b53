import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FetchError, fetchModelWith } from '../../fetch/index.js';
import { makeCert, serveBody, startHttpServer, startHttpsServer, type TestCert, type TestServer } from './support/servers.js';
import { FAST, memoryLogger, randomModel, sha256, tempDir } from './support/helpers.js';

const MODEL = randomModel(256 * 1024);
const DIGEST = sha256(MODEL);

let dir: { path: string; cleanup: () => Promise<void> };
const servers: TestServer[] = [];
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await dir.cleanup();
});

async function server(handler: Parameters<typeof startHttpServer>[0]): Promise<TestServer> {
  const s = await startHttpServer(handler);
  servers.push(s);
  return s;
}

async function fetchInto(uri: string, extra: { sha256?: string; credentialsDir?: string } = {}) {
  const { logger, entries } = memoryLogger();
  const dest = join(dir.path, 'dest');
  const result = await fetchModelWith({ uri, dest, logger, ...extra }, FAST);
  return { result, entries, dest };
}

async function failure(uri: string, extra: { sha256?: string; credentialsDir?: string } = {}): Promise<FetchError> {
  const { logger } = memoryLogger();
  const err = await fetchModelWith({ uri, dest: join(dir.path, 'dest'), logger, ...extra }, FAST).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FetchError);
  return err as FetchError;
}

async function visibleFiles(path: string): Promise<string[]> {
  return existsSync(path) ? (await readdir(path)).sort() : [];
}

describe('http source', () => {
  test('downloads a file, verifies its sha256 and stores it under its URL name', async () => {
    const s = await server((req, res) => serveBody(req, res, MODEL, { ranges: true }));
    const { result, entries, dest } = await fetchInto(`${s.url}/models/resnet.onnx`, { sha256: DIGEST.toUpperCase() });
    expect(result).toEqual({ modelPath: join(dest, 'resnet.onnx'), downloaded: true });
    expect(sha256(await readFile(result.modelPath))).toBe(DIGEST);
    // Only the model and the manifest remain: no temporary file.
    expect(await visibleFiles(dest)).toEqual(['.modelplane-fetch.json', 'resnet.onnx']);
    const done = entries.find((e) => e.message === 'download complete');
    expect(done).toMatchObject({ bytes: MODEL.length, total: MODEL.length, percent: 100, sha256: DIGEST });
    expect(entries.some((e) => e.message === 'download progress' && typeof e.bytesPerSecond === 'number')).toBe(true);
  });

  test('a URL without a file name is stored as model.onnx', async () => {
    const s = await server((req, res) => serveBody(req, res, MODEL));
    const { result, dest } = await fetchInto(`${s.url}/`);
    expect(result.modelPath).toBe(join(dest, 'model.onnx'));
  });

  test('https with a self-signed certificate works once ca.crt is in the credentials directory, and fails without it', async () => {
    const cert: TestCert = await makeCert();
    const s = await startHttpsServer(cert, (req, res) => serveBody(req, res, MODEL));
    servers.push(s);
    const untrusted = await failure(`${s.url}/m.onnx`);
    expect(untrusted.reason).toBe('NetworkError');
    expect(untrusted.message).toMatch(/TLS|certificate|self.signed/i);
    const creds = join(dir.path, 'creds');
    await mkdir(creds);
    await writeFile(join(creds, 'ca.crt'), cert.cert);
    const { result } = await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST, credentialsDir: creds });
    expect(sha256(await readFile(result.modelPath))).toBe(DIGEST);
  });

  test('the Authorization header comes from the credentials directory and is not sent across origins', async () => {
    const other = await server((req, res) => serveBody(req, res, MODEL));
    const s = await server((req, res) => {
      if (req.url === '/start') res.writeHead(302, { location: '/model.onnx' }).end();
      else if (req.url === '/model.onnx') res.writeHead(307, { location: `${other.url}/blob/model.onnx` }).end();
      else res.writeHead(404).end();
    });
    const creds = join(dir.path, 'creds');
    await mkdir(creds);
    await writeFile(join(creds, 'authorization'), 'Bearer s3cr3t\n');
    const { result } = await fetchInto(`${s.url}/start`, { sha256: DIGEST, credentialsDir: creds });
    // Named after the URI the user gave, not after where redirects led.
    expect(result.modelPath.endsWith('/start')).toBe(true);
    expect(s.seen.map((r) => [r.url, r.headers.authorization])).toEqual([
      ['/start', 'Bearer s3cr3t'],
      ['/model.onnx', 'Bearer s3cr3t'],
    ]);
    expect(other.seen).toHaveLength(1);
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
  });

  test('a redirect loop fails with TooManyRedirects', async () => {
    const s = await server((_req, res) => res.writeHead(302, { location: '/again' }).end());
    const err = await failure(`${s.url}/again`);
    expect(err.reason).toBe('TooManyRedirects');
  });

  test('500 then 200: retried, and the result verifies', async () => {
    let calls = 0;
    const s = await server((req, res) => (++calls === 1 ? res.writeHead(500).end('boom') : serveBody(req, res, MODEL)));
    const { result, entries } = await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST });
    expect(result.downloaded).toBe(true);
    expect(s.seen).toHaveLength(2);
    expect(entries.find((e) => e.message === 'download failed; retrying')).toMatchObject({ reason: 'ServerError', attempt: 1 });
  });

  test('a server that keeps failing gives up after the configured attempts', async () => {
    const s = await server((_req, res) => res.writeHead(503).end());
    const err = await failure(`${s.url}/m.onnx`);
    expect(err.reason).toBe('ServerError');
    expect(err.message).toContain('HTTP 503');
    expect(s.seen).toHaveLength(4);
    expect(await visibleFiles(join(dir.path, 'dest'))).toEqual([]);
  });

  test.each([
    [403, 'AccessDenied'],
    [401, 'AccessDenied'],
    [404, 'NotFound'],
    [410, 'NotFound'],
    [400, 'RequestRejected'],
  ])('HTTP %i fails at once with %s, without a retry', async (status, reason) => {
    const s = await server((_req, res) => res.writeHead(status).end());
    const err = await failure(`${s.url}/m.onnx`);
    expect(err.reason).toBe(reason);
    expect(err.message).toContain(`HTTP ${status}`);
    expect(s.seen).toHaveLength(1);
  });

  test('a connection cut mid-body resumes with a Range request and the result verifies', async () => {
    let calls = 0;
    const s = await server((req, res) => serveBody(req, res, MODEL, { ranges: true, etag: '"v1"', ...(++calls === 1 ? { cutAfter: 100_000 } : {}) }));
    const { result, entries } = await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST });
    expect(sha256(await readFile(result.modelPath))).toBe(DIGEST);
    expect(s.seen).toHaveLength(2);
    expect(s.seen[0]!.headers.range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(s.seen[1]!.headers.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(100_000);
    expect(s.seen[1]!.headers['if-range']).toBe('"v1"');
    expect(entries.find((e) => e.message === 'download complete')).toMatchObject({ resumes: 1, attempts: 2 });
  });

  test('a server without range support is downloaded again from the start after a cut', async () => {
    let calls = 0;
    const s = await server((req, res) => serveBody(req, res, MODEL, { ranges: false, ...(++calls === 1 ? { cutAfter: 100_000 } : {}) }));
    const { result, entries } = await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST });
    expect(sha256(await readFile(result.modelPath))).toBe(DIGEST);
    expect(s.seen).toHaveLength(2);
    expect(s.seen[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    expect(entries.some((e) => e.message === 'server sent the whole object instead of a range; starting over')).toBe(true);
  });

  test('a body that stalls hits the idle timeout, then the retry succeeds', async () => {
    let calls = 0;
    const s = await server((req, res) => {
      if (++calls === 1) {
        res.writeHead(200, { 'content-length': MODEL.length });
        res.write(MODEL.subarray(0, 1000)); // then nothing
      } else serveBody(req, res, MODEL);
    });
    const { logger, entries } = memoryLogger();
    const result = await fetchModelWith({ uri: `${s.url}/m.onnx`, dest: join(dir.path, 'dest'), logger, sha256: DIGEST }, { ...FAST, idleTimeoutMs: 200 });
    expect(result.downloaded).toBe(true);
    expect(entries.find((e) => e.message === 'download failed; retrying')).toMatchObject({ reason: 'Timeout' });
  });

  test('a server that never answers fails with Timeout', async () => {
    const s = await server(() => undefined);
    const { logger } = memoryLogger();
    const err = await fetchModelWith(
      { uri: `${s.url}/m.onnx`, dest: join(dir.path, 'dest'), logger },
      { ...FAST, responseTimeoutMs: 150, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } },
    ).catch((e: unknown) => e as FetchError);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).reason).toBe('Timeout');
    expect(s.seen).toHaveLength(2);
  });

  test('a checksum mismatch deletes the download and names both digests', async () => {
    const s = await server((req, res) => serveBody(req, res, MODEL));
    const wrong = 'a'.repeat(64);
    const err = await failure(`${s.url}/m.onnx`, { sha256: wrong });
    expect(err.reason).toBe('ChecksumMismatch');
    expect(err.message).toContain(`expected ${wrong}`);
    expect(err.message).toContain(`got ${DIGEST}`);
    expect(await visibleFiles(join(dir.path, 'dest'))).toEqual([]);
  });

  test('a destination already holding the verified file is reused without a request', async () => {
    const s = await server((req, res) => serveBody(req, res, MODEL));
    const first = await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST });
    expect(first.result.downloaded).toBe(true);
    const again = await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST });
    expect(again.result).toEqual({ modelPath: first.result.modelPath, downloaded: false });
    // Without a sha256 the manifest's recorded digest is what the file is checked against.
    const noDigest = await fetchInto(`${s.url}/m.onnx`);
    expect(noDigest.result.downloaded).toBe(false);
    expect(s.seen).toHaveLength(1);
  });

  test('a file placed by someone else is reused when it matches the sha256, replaced when it does not', async () => {
    const s = await server((req, res) => serveBody(req, res, MODEL));
    const dest = join(dir.path, 'dest');
    await mkdir(dest);
    await writeFile(join(dest, 'm.onnx'), MODEL);
    expect((await fetchInto(`${s.url}/m.onnx`, { sha256: DIGEST })).result.downloaded).toBe(false);
    expect(s.seen).toHaveLength(0);
    await writeFile(join(dest, 'm.onnx'), MODEL.subarray(0, 10)); // truncated behind our back
    const { result } = await fetchInto(`${s.url}/m.onnx`);
    expect(result.downloaded).toBe(true);
    expect(sha256(await readFile(result.modelPath))).toBe(DIGEST);
  });

  test('a file name that would escape the destination is refused', async () => {
    const s = await server((req, res) => serveBody(req, res, MODEL));
    const err = await failure(`${s.url}/x/..%2F..%2Fevil.onnx`);
    expect(err.reason).toBe('PathEscape');
    expect(s.seen).toHaveLength(0);
  });
});
