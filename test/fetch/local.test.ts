import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FetchError, fetchModelWith } from '../../fetch/index.js';
import { pvcMountPath } from '../../fetch/local.js';
import { isInside } from '../../common/paths.js';
import { FAST, memoryLogger, randomModel, sha256, tempDir } from './support/helpers.js';

const MODEL = randomModel(4096);

let dir: { path: string; cleanup: () => Promise<void> };
let pvcRoot: string;
beforeEach(async () => {
  dir = await tempDir();
  pvcRoot = join(dir.path, 'pvc');
  await mkdir(join(pvcRoot, 'models', 'resnet'), { recursive: true });
  await writeFile(join(pvcRoot, 'models', 'resnet', 'model.onnx'), MODEL);
  await writeFile(join(pvcRoot, 'models', 'single.onnx'), MODEL);
  await mkdir(join(pvcRoot, 'models', 'empty'));
  await writeFile(join(dir.path, 'secret.onnx'), MODEL);
});
afterEach(() => dir.cleanup());

function fetchLocal(uri: string, sha?: string) {
  const { logger } = memoryLogger();
  return fetchModelWith(
    { uri, dest: join(dir.path, 'unused'), logger, ...(sha !== undefined ? { sha256: sha } : {}) },
    { ...FAST, env: { MODELPLANE_PVC_ROOT: pvcRoot } },
  );
}

async function localFailure(uri: string, sha?: string): Promise<FetchError> {
  const err = await fetchLocal(uri, sha).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  return err as FetchError;
}

describe('pvc:// and file:// sources are used in place', () => {
  test('the claim is found under MODELPLANE_PVC_ROOT, defaulting to /mnt/pvc', () => {
    expect(pvcMountPath('models', {})).toBe('/mnt/pvc/models');
    expect(pvcMountPath('models', { MODELPLANE_PVC_ROOT: '/data' })).toBe('/data/models');
  });

  test.each([
    ['pvc://models/resnet', 'models/resnet'],
    ['pvc://models/resnet/', 'models/resnet'],
    ['pvc://models/single.onnx', 'models/single.onnx'],
  ])('%s resolves in place without a copy', async (uri, rel) => {
    const result = await fetchLocal(uri, sha256(MODEL));
    expect(result).toEqual({ modelPath: join(pvcRoot, rel), downloaded: false });
  });

  test('file:// resolves to the path, percent-decoded', async () => {
    await writeFile(join(dir.path, 'my model.onnx'), MODEL);
    const result = await fetchLocal(`file://${dir.path}/my%20model.onnx`);
    expect(result).toEqual({ modelPath: join(dir.path, 'my model.onnx'), downloaded: false });
  });

  test('a sha256 mismatch fails but leaves the file alone', async () => {
    const err = await localFailure('pvc://models/single.onnx', 'c'.repeat(64));
    expect(err.reason).toBe('ChecksumMismatch');
    expect(err.message).toContain(sha256(MODEL));
    expect(await fetchLocal('pvc://models/single.onnx')).toMatchObject({ downloaded: false });
  });

  test.each([
    ['pvc://models/missing.onnx', 'NotFound', 'does not exist'],
    ['pvc://models/empty', 'NotFound', 'holds no model.onnx'],
    ['pvc://unmounted/model.onnx', 'NotFound', 'not mounted'],
    ['pvc://models/../secret.onnx', 'PathEscape', '..'],
    ['pvc://models//etc/passwd', 'PathEscape', 'relative'],
    ['file:///tmp/../etc/passwd', 'PathEscape', '..'],
    ['file:///no/such/model.onnx', 'NotFound', 'does not exist'],
  ])('%s fails with %s', async (uri, reason, text) => {
    const err = await localFailure(uri);
    expect(err.reason).toBe(reason);
    expect(err.message).toContain(text);
  });

  test('a model directory (model.onnx, external weights, config and tokenizer beside it) is used in place with its files', async () => {
    const files = ['model.onnx', 'model.onnx_data', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];
    const model = join(dir.path, 'gpt2');
    await mkdir(model);
    for (const f of files) await writeFile(join(model, f), f === 'model.onnx' ? MODEL : f);
    const result = await fetchLocal(`file://${model}`, sha256(MODEL));
    expect(result).toEqual({ modelPath: model, downloaded: false });
    // Nothing was copied: the destination was never made.
    expect(existsSync(join(dir.path, 'unused'))).toBe(false);
    await writeFile(join(pvcRoot, 'models', 'resnet', 'tokenizer.json'), '{}');
    expect(await fetchLocal('pvc://models/resnet')).toEqual({ modelPath: join(pvcRoot, 'models', 'resnet'), downloaded: false });
  });

  test('a transformers.js repository (model.onnx under onnx/) is used in place; its sha256 is that of onnx/model.onnx', async () => {
    const repo = join(dir.path, 'tiny-gpt');
    await mkdir(join(repo, 'onnx'), { recursive: true });
    await writeFile(join(repo, 'onnx', 'model.onnx'), MODEL);
    await writeFile(join(repo, 'tokenizer.json'), '{}');
    expect(await fetchLocal(`file://${repo}`, sha256(MODEL))).toEqual({ modelPath: repo, downloaded: false });
    expect((await localFailure(`file://${repo}`, 'b'.repeat(64))).reason).toBe('ChecksumMismatch');
  });

  test('a directory without model.onnx at its top is refused, naming what it holds', async () => {
    await mkdir(join(pvcRoot, 'models', 'outer', 'gpt2'), { recursive: true });
    await writeFile(join(pvcRoot, 'models', 'outer', 'gpt2', 'model.onnx'), MODEL);
    await writeFile(join(pvcRoot, 'models', 'outer', 'README.md'), 'x');
    const err = await localFailure('pvc://models/outer');
    expect(err.reason).toBe('NotFound');
    expect(err.message).toBe(`directory ${join(pvcRoot, 'models', 'outer')} holds no model.onnx at its top or under onnx/ (found: README.md, gpt2/)`);
  });

  test('a symlink inside the claim that points outside it is refused', async () => {
    await symlink(join(dir.path, 'secret.onnx'), join(pvcRoot, 'models', 'link.onnx'));
    const err = await localFailure('pvc://models/link.onnx');
    expect(err.reason).toBe('PathEscape');
  });

  test('isInside', () => {
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/c')).toBe(true);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a')).toBe(false);
  });
});
