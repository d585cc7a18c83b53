import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import S3rver from 's3rver';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { FetchError, fetchModelWith } from '../../fetch/index.js';
import { downloadedModelPath, MODELS_DIR } from '../../operator/resources/model-source.js';
import { FAST, memoryLogger, randomModel, sha256, tempDir } from './support/helpers.js';
import { serveBody, startHttpServer, type TestServer } from './support/servers.js';
import { rawTar, rawZip } from './support/archives.js';

// The SDK's notice about future Node versions is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const MODEL = randomModel(64 * 1024);
const WEIGHTS = randomModel(300 * 1024);
const EXTRA = randomModel(1000);
// A model folder as archives: tar.gz with a single top-level folder, zip with the files at its top.
const TAR_GZ = rawTar([{ name: 'gpt2/', type: '5' }, { name: 'gpt2/model.onnx', data: MODEL }, { name: 'gpt2/model.onnx_data', data: WEIGHTS }, { name: 'gpt2/tokenizer.json', data: '{}' }]);
const ZIP = rawZip([{ name: 'model.onnx', data: MODEL, deflate: true }, { name: 'model.onnx_data', data: WEIGHTS, deflate: true }, { name: 'config.json', data: '{}' }]);

let work: { path: string; cleanup: () => Promise<void> };
let s3rver: S3rver;
let endpoint: string;
let creds: string;

async function writeCreds(dirPath: string, files: Record<string, string>): Promise<string> {
  await mkdir(dirPath, { recursive: true });
  for (const [name, value] of Object.entries(files)) await writeFile(join(dirPath, name), `${value}\n`);
  return dirPath;
}

beforeAll(async () => {
  work = await tempDir();
  s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(work.path, 's3rver'),
    configureBuckets: [{ name: 'models', configs: [] }],
  });
  const { port } = (await s3rver.run()) as { port: number };
  endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const put = (Key: string, Body: Buffer | string) => client.send(new PutObjectCommand({ Bucket: 'models', Key, Body }));
  await put('single/resnet.onnx', MODEL);
  await put('resnet/', Buffer.alloc(0));
  await put('resnet/model.onnx', MODEL);
  await put('resnet/weights.bin', WEIGHTS);
  await put('resnet/sub/extra.bin', EXTRA);
  await put('nomodel/weights.bin', WEIGHTS);
  await put('tiny-gpt/onnx/model.onnx', MODEL);
  await put('tiny-gpt/tokenizer.json', EXTRA);
  await put('raw/resnet', MODEL);
  await put('archives/gpt2.tar.gz', TAR_GZ);
  await put('archives/gpt2.zip', ZIP);
  await put('archives/evil.tar.gz', rawTar([{ name: 'model.onnx', data: MODEL }, { name: '../../evil.bin', data: 'x' }]));
  client.destroy();
  creds = await writeCreds(join(work.path, 'creds'), {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
  });
});

afterAll(async () => {
  await s3rver?.close();
  await work?.cleanup();
});

let dest: string;
let n = 0;
beforeEach(() => {
  dest = join(work.path, `dest-${++n}`);
});

async function fetchS3(uri: string, extra: { sha256?: string; credentialsDir?: string } = {}) {
  const { logger, entries } = memoryLogger();
  const result = await fetchModelWith({ uri, dest, logger, credentialsDir: creds, ...extra }, FAST);
  return { result, entries };
}

async function s3Failure(uri: string, extra: { sha256?: string; credentialsDir?: string } = {}): Promise<FetchError> {
  const err = await fetchS3(uri, extra).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  return err as FetchError;
}

describe('s3 source (s3rver, custom endpoint, path-style)', () => {
  test('a single object is downloaded and verified', async () => {
    const { result } = await fetchS3('s3://models/single/resnet.onnx', { sha256: sha256(MODEL) });
    expect(result).toEqual({ modelPath: join(dest, 'resnet.onnx'), downloaded: true });
    expect(sha256(await readFile(result.modelPath))).toBe(sha256(MODEL));
  });

  test('a prefix brings every object with its relative path; modelPath is the directory', async () => {
    const { result } = await fetchS3('s3://models/resnet/', { sha256: sha256(MODEL) });
    expect(result).toEqual({ modelPath: dest, downloaded: true });
    expect(sha256(await readFile(join(dest, 'model.onnx')))).toBe(sha256(MODEL));
    expect(sha256(await readFile(join(dest, 'weights.bin')))).toBe(sha256(WEIGHTS));
    expect(sha256(await readFile(join(dest, 'sub', 'extra.bin')))).toBe(sha256(EXTRA));
    expect((await readdir(dest)).sort()).toEqual(['.modelplane-fetch.json', 'model.onnx', 'sub', 'weights.bin']);
    // Fetched again: every file is re-verified from the manifest, nothing is downloaded.
    const { result: again } = await fetchS3('s3://models/resnet/', { sha256: sha256(MODEL) });
    expect(again).toEqual({ modelPath: dest, downloaded: false });
  });

  test('a single object not named .onnx lands as model.onnx, where the operator tells the runtime to look', async () => {
    const uri = 's3://models/raw/resnet';
    const { result } = await fetchS3(uri, { sha256: sha256(MODEL) });
    expect(result).toEqual({ modelPath: join(dest, 'model.onnx'), downloaded: true });
    expect(sha256(await readFile(join(dest, 'model.onnx')))).toBe(sha256(MODEL));
    // The runtime gets the directory, and a directory is served from its model.onnx.
    expect(downloadedModelPath(uri)).toBe(MODELS_DIR);
  });

  test('a key without a trailing slash that names a folder is fetched as a prefix', async () => {
    const { result } = await fetchS3('s3://models/resnet');
    expect(result.modelPath).toBe(dest);
    expect(existsSync(join(dest, 'sub', 'extra.bin'))).toBe(true);
  });

  test('a prefix whose model.onnx does not match the sha256 leaves nothing behind', async () => {
    const err = await s3Failure('s3://models/resnet/', { sha256: 'b'.repeat(64) });
    expect(err.reason).toBe('ChecksumMismatch');
    expect(err.message).toContain(`expected ${'b'.repeat(64)}, got ${sha256(MODEL)}`);
    expect(existsSync(dest) ? await readdir(dest) : []).toEqual([]);
  });

  test('a transformers.js prefix (model.onnx under onnx/) is fetched whole, its sha256 that of onnx/model.onnx, and reused', async () => {
    const { result } = await fetchS3('s3://models/tiny-gpt/', { sha256: sha256(MODEL) });
    expect(result).toEqual({ modelPath: dest, downloaded: true });
    expect(sha256(await readFile(join(dest, 'onnx', 'model.onnx')))).toBe(sha256(MODEL));
    expect(sha256(await readFile(join(dest, 'tokenizer.json')))).toBe(sha256(EXTRA));
    expect((await fetchS3('s3://models/tiny-gpt/', { sha256: sha256(MODEL) })).result).toEqual({ modelPath: dest, downloaded: false });
    expect((await s3Failure('s3://models/tiny-gpt/', { sha256: 'b'.repeat(64) })).reason).toBe('ChecksumMismatch');
  });

  test('a prefix without model.onnx fails with NotFound and lists what it found', async () => {
    const err = await s3Failure('s3://models/nomodel/');
    expect(err.reason).toBe('NotFound');
    expect(err.message).toContain('weights.bin');
  });

  test.each([
    ['s3://models/archives/gpt2.tar.gz', TAR_GZ, ['model.onnx', 'model.onnx_data', 'tokenizer.json']],
    ['s3://models/archives/gpt2.zip', ZIP, ['config.json', 'model.onnx', 'model.onnx_data']],
  ])('an archive object %s is verified and unpacked into <dest>/gpt2, where the operator points the runtime', async (uri, archive, files) => {
    const { result } = await fetchS3(uri, { sha256: sha256(archive) });
    expect(result).toEqual({ modelPath: join(dest, 'gpt2'), downloaded: true });
    expect((await readdir(result.modelPath)).sort()).toEqual(files);
    expect(sha256(await readFile(join(result.modelPath, 'model.onnx_data')))).toBe(sha256(WEIGHTS));
    expect((await readdir(dest)).sort()).toEqual(['.modelplane-fetch.json', 'gpt2']);
    expect(downloadedModelPath(uri)).toBe(`${MODELS_DIR}/gpt2`);
    const { result: again } = await fetchS3(uri, { sha256: sha256(archive) });
    expect(again).toEqual({ modelPath: join(dest, 'gpt2'), downloaded: false });
  });

  test('an archive object with a wrong sha256, a hostile entry, or no such key is refused and leaves nothing', async () => {
    const mismatch = await s3Failure('s3://models/archives/gpt2.tar.gz', { sha256: 'c'.repeat(64) });
    expect(mismatch.reason).toBe('ChecksumMismatch');
    expect(await readdir(dest)).toEqual([]);
    const hostile = await s3Failure('s3://models/archives/evil.tar.gz');
    expect(hostile.reason).toBe('PathEscape');
    expect(await readdir(dest)).toEqual([]);
    expect(existsSync(join(work.path, 'evil.bin'))).toBe(false);
    const missing = await s3Failure('s3://models/archives/none.tar.gz');
    expect(missing.reason).toBe('NotFound');
    expect(missing.message).toContain("no object 'archives/none.tar.gz' in bucket models");
  });

  test('a wrong access key fails with AccessDenied', async () => {
    const bad = await writeCreds(join(work.path, 'bad-creds'), {
      AWS_ACCESS_KEY_ID: 'NOT-A-KEY',
      AWS_SECRET_ACCESS_KEY: 'nope',
      AWS_ENDPOINT_URL: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
    });
    const err = await s3Failure('s3://models/single/resnet.onnx', { credentialsDir: bad });
    expect(err.reason).toBe('AccessDenied');
    expect(err.message).toContain('403');
    expect(err.message).not.toContain('nope');
  });

  test('a missing bucket and a missing key fail with NotFound', async () => {
    const bucket = await s3Failure('s3://no-such-bucket/model.onnx');
    expect(bucket.reason).toBe('NotFound');
    expect(bucket.message).toContain('bucket does not exist');
    const key = await s3Failure('s3://models/missing/model.onnx');
    expect(key.reason).toBe('NotFound');
  });
});

describe('s3 source against a store that misbehaves', () => {
  // A minimal S3-compatible endpoint, to serve what s3rver never would: hostile object names and cuts.
  let store: TestServer;
  let storeCreds: string;
  let keys: string[];
  let getCalls = 0;

  beforeAll(async () => {
    store = await startHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('list-type') === '2') {
        const contents = keys.map((k) => `<Contents><Key>${k}</Key><Size>${MODEL.length}</Size></Contents>`).join('');
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>models</Name><Prefix>${url.searchParams.get('prefix') ?? ''}</Prefix><KeyCount>${keys.length}</KeyCount><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`);
      } else if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': MODEL.length, etag: '"e1"' }).end();
      } else {
        getCalls++;
        if (getCalls === 1) res.writeHead(500, { 'content-type': 'application/xml' }).end('<Error><Code>InternalError</Code></Error>');
        else serveBody(req, res, MODEL, { ranges: true, etag: '"e1"', ...(getCalls === 2 ? { cutAfter: 20_000 } : {}) });
      }
    });
    storeCreds = await writeCreds(join(work.path, 'store-creds'), {
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_ENDPOINT_URL: store.url,
      S3_FORCE_PATH_STYLE: 'true',
    });
  });
  afterAll(() => store.close());

  test.each([
    ['a .. segment', 'evil/../../outside.bin'],
    ['an absolute name', 'evil//etc/passwd'],
    ['a backslash', 'evil/..\\outside.bin'],
  ])('an object name with %s is refused before anything is written', async (_what, badKey) => {
    keys = ['evil/model.onnx', badKey];
    const before = store.seen.length;
    const err = await s3Failure('s3://models/evil/', { credentialsDir: storeCreds });
    expect(err.reason).toBe('PathEscape');
    expect(store.seen.slice(before).every((r) => r.method === 'GET' && r.url.includes('list-type=2'))).toBe(true);
    expect(existsSync(join(dest, 'model.onnx'))).toBe(false);
    expect(existsSync(join(work.path, 'outside.bin'))).toBe(false);
  });

  test('a 500 is retried and a cut object resumes with a Range request', async () => {
    getCalls = 0;
    const before = store.seen.length;
    const { result, entries } = await fetchS3('s3://models/flaky/model.onnx', { credentialsDir: storeCreds, sha256: sha256(MODEL) });
    expect(sha256(await readFile(result.modelPath))).toBe(sha256(MODEL));
    const gets = store.seen.slice(before).filter((r) => r.method === 'GET');
    expect(gets).toHaveLength(3);
    expect(gets[2]!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(gets[2]!.headers['if-match']).toBe('"e1"');
    expect(entries.find((e) => e.message === 'download complete')).toMatchObject({ resumes: 1, attempts: 3 });
  });
});
