// Local mode's model cache uses fetch's own code: a generative model directory packed as a .tar.gz and served over
// loopback HTTP is unpacked into the cache under its key, reused by later replicas, and the real runtime generates
// text from the folder it gives, its tokenizer and config read beside model.onnx.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { writeDecoderModelDir } from '../../examples/decoder-model.js';
import { cacheKey, cacheModel, LocalModeError } from '../../local/model-cache.js';
import { startRuntime, tempDir } from '../support/runtime-process.js';
import { serveBody, startHttpServer, type TestServer } from '../fetch/support/servers.js';
import { memoryLogger, sha256 } from '../fetch/support/helpers.js';
import { rawTar, systemTar } from '../fetch/support/archives.js';
import { md } from '../operator/resources/fixtures.js';

const tmp = tempDir('modelplane-model-cache-');
let http: TestServer;
let archive: Buffer;

beforeAll(async () => {
  writeDecoderModelDir(join(tmp.path, 'src', 'gpt2'));
  systemTar(join(tmp.path, 'src'), ['-czf', join(tmp.path, 'gpt2.tar.gz'), 'gpt2']);
  archive = await readFile(join(tmp.path, 'gpt2.tar.gz'));
  const evil = rawTar([{ name: 'model.onnx', data: 'x' }, { name: '../escape', data: 'x' }]);
  http = await startHttpServer((req, res) => {
    if (req.url === '/llm/gpt2.tar.gz') serveBody(req, res, archive, { ranges: true });
    else if (req.url === '/llm/evil.tar.gz') serveBody(req, res, evil);
    else res.writeHead(404).end();
  });
});
afterAll(async () => {
  await http.close();
  tmp.remove();
});

test('a .tar.gz over HTTP is unpacked into the cache, reused, and served as a generative model', async () => {
  const uri = `${http.url}/llm/gpt2.tar.gz`;
  const deployment = md({ model: { uri, sha256: sha256(archive) } }, { name: 'gpt2' });
  const cacheDir = join(tmp.path, 'cache');
  const { logger } = memoryLogger();
  const path = await cacheModel(deployment, cacheDir, logger);
  expect(path).toBe(join(cacheDir, cacheKey(uri, sha256(archive)), 'gpt2'));
  const requests = http.seen.length;
  expect(await cacheModel(deployment, cacheDir, logger)).toBe(path);
  expect(http.seen.length).toBe(requests);

  const rt = await startRuntime(['--model', path, '--name', 'gpt2']);
  try {
    const res = await fetch(`${rt.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt2', prompt: 'Hello', max_tokens: 4, temperature: 0, ignore_eos: true }),
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.usage).toMatchObject({ completion_tokens: 4 });
    expect(typeof body.choices[0].text).toBe('string');
  } finally {
    await rt.stop();
  }
}, 120_000);

test('a hostile archive fails the deployment with ModelFetchFailed and its reason', async () => {
  const deployment = md({ model: { uri: `${http.url}/llm/evil.tar.gz` } }, { name: 'evil' });
  const err = await cacheModel(deployment, join(tmp.path, 'cache'), memoryLogger().logger).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(LocalModeError);
  expect((err as LocalModeError).reason).toBe('ModelFetchFailed');
  expect((err as Error).message).toBe(`fetch ${http.url}/llm/evil.tar.gz failed: PathEscape: archive entry '../escape' has a '..' segment that would escape the target directory`);
});
