// Archives as model sources: real archives made by the system's tar and zip, served over loopback HTTP and read
// from disk, unpacked into a folder of the destination; hostile ones refused, each with its reason, leaving nothing.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FetchError, fetchModelWith, type FetchTuning } from '../../fetch/index.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../../fetch/archive-entries.js';
import { readManifest } from '../../fetch/integrity.js';
import { FAST, memoryLogger, randomModel, sha256, tempDir } from './support/helpers.js';
import { serveBody, startHttpServer, type TestServer } from './support/servers.js';
import { rawTar, rawZip, systemTar, systemZip, type RawTarEntry } from './support/archives.js';

const MODEL = randomModel(96 * 1024);
const WEIGHTS = randomModel(700 * 1024);
// The files of a generative model directory, as the runtime reads them beside model.onnx.
const FILES: Record<string, Buffer> = {
  'model.onnx': MODEL,
  'model.onnx_data': WEIGHTS,
  'config.json': Buffer.from('{"model_type":"tiny"}'),
  'generation_config.json': Buffer.from('{"eos_token_id":0}'),
  'tokenizer.json': Buffer.from('{"model":{}}'),
  'tokenizer_config.json': Buffer.from('{"eos_token":"<|im_end|>"}'),
};

let work: { path: string; cleanup: () => Promise<void> };
let http: TestServer;
/** What the server answers, by path: archives written by the tests. */
const served = new Map<string, Buffer>();

beforeAll(async () => {
  work = await tempDir();
  const model = join(work.path, 'src', 'gpt2');
  await mkdir(join(model, 'nested'), { recursive: true });
  for (const [name, data] of Object.entries(FILES)) await writeFile(join(model, name), data);
  await writeFile(join(model, 'nested', 'vocab.txt'), 'a\nb\n');
  http = await startHttpServer((req, res) => {
    const body = served.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (body) serveBody(req, res, body, { ranges: true });
    else res.writeHead(404).end();
  });
});
afterAll(async () => {
  await http.close();
  await work.cleanup();
});

let dest: string;
let n = 0;
beforeEach(() => {
  dest = join(work.path, `dest-${++n}`);
});

async function archiveFile(name: string, make: (out: string) => void): Promise<Buffer> {
  const out = join(work.path, 'archives', name);
  await mkdir(join(work.path, 'archives'), { recursive: true });
  make(out);
  return readFile(out);
}

function serve(path: string, body: Buffer): string {
  served.set(path, body);
  return `${http.url}${path}`;
}

async function fetchUri(uri: string, extra: { sha256?: string } = {}, tuning: Partial<FetchTuning> = {}) {
  const { logger, entries } = memoryLogger();
  const result = await fetchModelWith({ uri, dest, logger, ...extra }, { ...FAST, ...tuning });
  return { result, entries };
}

async function refusal(uri: string, extra: { sha256?: string } = {}, tuning: Partial<FetchTuning> = {}): Promise<FetchError> {
  const err = await fetchUri(uri, extra, tuning).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  return err as FetchError;
}

/** Whatever a refused archive may have left: nothing but an empty destination. */
async function leftovers(): Promise<string[]> {
  return existsSync(dest) ? (await readdir(dest)).sort() : [];
}

async function expectModelFolder(folder: string): Promise<void> {
  for (const [name, data] of Object.entries(FILES)) expect(sha256(await readFile(join(folder, name)))).toBe(sha256(data));
  expect(await readFile(join(folder, 'nested', 'vocab.txt'), 'utf8')).toBe('a\nb\n');
}

const src = () => join(work.path, 'src');

describe('archives made by tar and zip, over HTTP', () => {
  test.each<[string, string, (out: string) => void]>([
    ['a .tar.gz whose files lie in one top-level folder', 'gpt2.tar.gz', (out) => systemTar(src(), ['-czf', out, 'gpt2'])],
    ['a .tgz whose files lie at its top, named ./x', 'gpt2.tgz', (out) => systemTar(join(src(), 'gpt2'), ['-czf', out, '.'])],
    ['a plain pax .tar', 'gpt2.tar', (out) => systemTar(src(), ['--format=pax', '-cf', out, 'gpt2'])],
    ['a .zip whose files lie at its top', 'gpt2.zip', (out) => systemZip(join(src(), 'gpt2'), ['-qr', out, '.'])],
    ['a zip64 .zip in one top-level folder', 'gpt2.ZIP', (out) => systemZip(src(), ['-qr', '-fz', out, 'gpt2'])],
  ])('%s unpacks into <dest>/gpt2 and is reused when fetched again', async (_what, name, make) => {
    const archive = await archiveFile(name, make);
    const uri = serve(`/models/${name}`, archive);
    const { result, entries } = await fetchUri(uri, { sha256: sha256(archive) });
    expect(result).toEqual({ modelPath: join(dest, 'gpt2'), downloaded: true });
    await expectModelFolder(result.modelPath);
    // Only the model folder and the manifest remain: no archive, no staging folder.
    expect(await leftovers()).toEqual(['.modelplane-fetch.json', 'gpt2']);
    const manifest = await readManifest(dest);
    expect(manifest).toMatchObject({ modelPath: 'gpt2', archive: { sha256: sha256(archive), bytes: archive.length } });
    expect(manifest!.files.find((f) => f.path === 'gpt2/model.onnx_data')).toEqual({ path: 'gpt2/model.onnx_data', bytes: WEIGHTS.length, sha256: sha256(WEIGHTS) });
    expect(entries.some((e) => e.message === 'unpacking archive')).toBe(true);

    const requests = http.seen.length;
    const again = await fetchUri(uri, { sha256: sha256(archive) });
    expect(again.result).toEqual({ modelPath: join(dest, 'gpt2'), downloaded: false });
    expect(http.seen.length).toBe(requests);
  });

  test.each([
    ['at the top', [{ name: 'onnx/model.onnx', data: MODEL }, { name: 'tokenizer.json', data: 'tok' }], ''],
    ['in a single top-level folder', [{ name: 'tiny-gpt/onnx/model.onnx', data: MODEL }, { name: 'tiny-gpt/tokenizer.json', data: 'tok' }], 'tiny-gpt'],
  ])('a transformers.js repository (model.onnx under onnx/) %s is unpacked with its layout', async (_where, entries, folder) => {
    const { result } = await fetchUri(serve(`/tjs-${folder || 'top'}.tar.gz`, rawTar(entries)));
    expect(sha256(await readFile(join(result.modelPath, 'onnx', 'model.onnx')))).toBe(sha256(MODEL));
    expect(await readFile(join(result.modelPath, 'tokenizer.json'), 'utf8')).toBe('tok');
    // The single top-level folder's contents are the model directory: the folder itself is not kept.
    expect(existsSync(join(result.modelPath, 'tiny-gpt'))).toBe(false);
  });

  test('long names (GNU and pax headers), a pax global header, symbolic and hard links within the model are kept', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}.json`;
    const tar = rawTar([
      // What `git archive` puts first.
      { name: 'pax_global_header', type: 'g', data: paxRecord('comment', 'a'.repeat(40)) },
      { name: 'gpt2/model.onnx', data: MODEL },
      { name: 'gpt2/weights.bin', data: WEIGHTS },
      { name: 'gpt2/model.onnx_data', type: '1', linkname: 'gpt2/weights.bin' },
      { name: 'gpt2/sub/tokenizer.json', type: '2', linkname: '../weights.bin' },
      { name: '././@LongLink', type: 'L', data: `gpt2/${long}\0` },
      { name: 'ignored', data: 'long gnu' },
      { name: 'PaxHeaders/x', type: 'x', data: paxRecord('path', `gpt2/pax/${'p'.repeat(200)}`) },
      { name: 'ignored-too', data: 'long pax' },
    ]);
    const { result } = await fetchUri(serve('/links.tar.gz', tar));
    expect(result.modelPath).toBe(join(dest, 'links'));
    expect(sha256(await readFile(join(result.modelPath, 'model.onnx_data')))).toBe(sha256(WEIGHTS));
    expect(await readlink(join(result.modelPath, 'sub', 'tokenizer.json'))).toBe('../weights.bin');
    expect(sha256(await readFile(join(result.modelPath, 'sub', 'tokenizer.json')))).toBe(sha256(WEIGHTS));
    expect(await readFile(join(result.modelPath, long), 'utf8')).toBe('long gnu');
    expect(await readFile(join(result.modelPath, 'pax', 'p'.repeat(200)), 'utf8')).toBe('long pax');
  });

  test('a sha256 that does not match the archive bytes refuses it before it is unpacked', async () => {
    const archive = await archiveFile('mismatch.tar.gz', (out) => systemTar(src(), ['-czf', out, 'gpt2']));
    const err = await refusal(serve('/mismatch.tar.gz', archive), { sha256: 'a'.repeat(64) });
    expect(err.reason).toBe('ChecksumMismatch');
    expect(err.message).toContain(`expected ${'a'.repeat(64)}, got ${sha256(archive)}`);
    expect(await leftovers()).toEqual([]);
  });

  test('two fetches of one archive into one destination at once: one downloads, the other waits and reuses it', async () => {
    const archive = rawTar([{ name: 'model.onnx', data: MODEL }, { name: 'model.onnx_data', data: WEIGHTS }]);
    const uri = serve('/twice.tar.gz', archive);
    const before = http.seen.length;
    const [a, b] = await Promise.all([fetchUri(uri, { sha256: sha256(archive) }), fetchUri(uri, { sha256: sha256(archive) })]);
    // Either may take the lock first: one downloads, the other waits and reuses it.
    expect([a.result, b.result].sort((x, y) => Number(y.downloaded) - Number(x.downloaded))).toEqual([{ modelPath: join(dest, 'twice'), downloaded: true }, { modelPath: join(dest, 'twice'), downloaded: false }]);
    expect(http.seen.length - before).toBe(1);
    expect(await leftovers()).toEqual(['.modelplane-fetch.json', 'twice']);
  });

  test('a new archive at the same URI replaces the folder; the old one is not reused', async () => {
    const first = rawTar([{ name: 'model.onnx', data: 'one' }, { name: 'old.txt', data: 'old' }]);
    const uri = serve('/changing.tar.gz', first);
    await fetchUri(uri);
    served.set('/changing.tar.gz', rawTar([{ name: 'model.onnx', data: 'two' }]));
    const { result } = await fetchUri(uri, { sha256: sha256(served.get('/changing.tar.gz')!) });
    expect(result.downloaded).toBe(true);
    expect(await readFile(join(result.modelPath, 'model.onnx'), 'utf8')).toBe('two');
    expect(existsSync(join(result.modelPath, 'old.txt'))).toBe(false);
  });
});

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length++;
  return `${length}${body}`;
}

const model = { name: 'model.onnx', data: 'onnx' };

describe('hostile archives are refused, each with its reason, and leave nothing behind', () => {
  test.each<[string, string, () => Buffer, string, RegExp]>([
    ['a tar entry named ../', 'up.tar.gz', () => rawTar([model, { name: '../evil.txt', data: 'x' }]), 'PathEscape', /'\.\.\/evil\.txt' has a '\.\.' segment/],
    ['a tar entry with an absolute name', 'abs.tar', () => rawTar([model, { name: '/tmp/evil.txt', data: 'x' }], { gzip: false }), 'PathEscape', /absolute/],
    ['a zip entry named ../', 'up.zip', () => rawZip([model, { name: 'a/../../evil.txt', data: 'x' }]), 'PathEscape', /'\.\.' segment/],
    ['a tar symbolic link out of the model', 'symlink.tar.gz', () => rawTar([model, { name: 'etc', type: '2', linkname: '../../etc' }]), 'PathEscape', /symbolic link 'etc' points to '..\/..\/etc', outside the model/],
    ['a tar symbolic link to an absolute path', 'symabs.tar.gz', () => rawTar([model, { name: 'passwd', type: '2', linkname: '/etc/passwd' }]), 'PathEscape', /absolute path/],
    ['a zip symbolic link out of the model', 'symlink.zip', () => rawZip([model, { name: 'passwd', data: '../../../etc/passwd', mode: 0o120777 }]), 'PathEscape', /symbolic link 'passwd'/],
    ['a link out of a single top-level folder', 'folder.tar.gz', () => rawTar([{ name: 'm/model.onnx', data: 'x' }, { name: 'm/up', type: '2', linkname: '../m2' }]), 'PathEscape', /outside the model/],
    ['a tar hard link out of the model', 'hard.tar.gz', () => rawTar([model, { name: 'shadow', type: '1', linkname: '/etc/shadow' }]), 'PathEscape', /hard link 'shadow'/],
    ['a tar hard link through ..', 'hardup.tar.gz', () => rawTar([model, { name: 'x', type: '1', linkname: '../x' }]), 'PathEscape', /outside the model/],
    ['a tar character device', 'dev.tar.gz', () => rawTar([model, { name: 'null', type: '3' }]), 'ArchiveSpecialFile', /'null' is a character device/],
    ['a tar FIFO', 'fifo.tar.gz', () => rawTar([model, { name: 'pipe', type: '6' }]), 'ArchiveSpecialFile', /FIFO/],
    ['a zip block device', 'dev.zip', () => rawZip([model, { name: 'sda', mode: 0o060644 }]), 'ArchiveSpecialFile', /block device/],
    ['a tar with the same file twice', 'dup.tar.gz', () => rawTar([model, { name: './model.onnx', data: 'other' }]), 'ArchiveDuplicateEntry', /'model.onnx' appears more than once/],
    ['a zip with the same file twice', 'dup.zip', () => rawZip([model, { name: 'config.json' }, { name: 'config.json', data: 'x' }]), 'ArchiveDuplicateEntry', /'config.json' appears more than once/],
    ['a tar with a file under a link', 'under.tar.gz', () => rawTar([model, { name: 'd', type: '2', linkname: 'model.onnx' }, { name: 'd/x', data: 'x' }]), 'ArchiveDuplicateEntry', /lies under 'd'/],
    ['an archive without model.onnx', 'nomodel.tar.gz', () => rawTar([{ name: 'weights.bin', data: 'w' }, { name: 'cfg/config.json', data: '{}' }]), 'NotFound', /no model\.onnx at its top or in a single top-level folder, directly or under onnx\/ \(found: weights\.bin, cfg\/\)/],
    ['data that is not gzip named .tar.gz', 'text.tar.gz', () => Buffer.from('<html>not found</html>'), 'ArchiveInvalid', /not gzip/],
    ['data that is not tar named .tar', 'text.tar', () => Buffer.alloc(1024, 'x'), 'ArchiveInvalid', /checksum/],
    ['data that is not zip named .zip', 'text.zip', () => Buffer.from('plain text'), 'ArchiveInvalid', /no end of central directory/],
    ['a truncated tar.gz', 'cut.tar.gz', () => rawTar([model, { name: 'w.bin', data: WEIGHTS }]).subarray(0, 20_000), 'ArchiveInvalid', /tar\.gz|truncated/],
    ['zip entries that overlap', 'overlap.zip', () => overlappingZip(), 'ArchiveInvalid', /overlaps/],
  ])('%s', async (_what, name, make, reason, message) => {
    const err = await refusal(serve(`/hostile/${name}`, make()));
    expect({ reason: err.reason, message: err.message }).toEqual({ reason, message: expect.stringMatching(message) });
    expect(await leftovers()).toEqual([]);
    expect(existsSync(join(work.path, 'evil.txt'))).toBe(false);
  });

  test.each<[string, string, () => Buffer, Partial<FetchTuning>]>([
    ['a gzip bomb over the absolute limit', 'bomb.tar.gz', () => rawTar([model, { name: 'zeros', data: Buffer.alloc(8 << 20) }]), { archiveLimits: { ...DEFAULT_ARCHIVE_LIMITS, maxBytes: 4 << 20 } }],
    ['a gzip bomb over the ratio limit', 'ratio.tar.gz', () => rawTar([model, { name: 'zeros', data: Buffer.alloc(8 << 20) }]), { archiveLimits: { ...DEFAULT_ARCHIVE_LIMITS, ratioFloorBytes: 1 << 20 } }],
    ['a zip bomb, refused from its directory', 'bomb.zip', () => rawZip([model, { name: 'zeros', data: Buffer.alloc(8 << 20), deflate: true }]), { archiveLimits: { ...DEFAULT_ARCHIVE_LIMITS, ratioFloorBytes: 1 << 20 } }],
    ['an archive over MODELPLANE_MAX_UNPACKED_BYTES', 'env.tar.gz', () => rawTar([model, { name: 'w', data: WEIGHTS }]), { env: { MODELPLANE_MAX_UNPACKED_BYTES: '100000' } }],
    ['too many entries', 'many.tar.gz', () => rawTar([model, ...Array.from({ length: 20 }, (_v, i) => ({ name: `f${i}`, data: 'x' }))]), { archiveLimits: { ...DEFAULT_ARCHIVE_LIMITS, maxEntries: 10 } }],
  ])('%s is refused with ArchiveTooLarge', async (_what, name, make, tuning) => {
    const body = make();
    const err = await refusal(serve(`/hostile/${name}`, body), {}, tuning);
    expect(err.reason).toBe('ArchiveTooLarge');
    expect(err.message).toMatch(/more than \d+ (bytes|entries)/);
    expect(await leftovers()).toEqual([]);
  });

  test('MODELPLANE_MAX_UNPACKED_BYTES must be a number of bytes', async () => {
    const err = await refusal(serve('/ok.tar.gz', rawTar([model])), {}, { env: { MODELPLANE_MAX_UNPACKED_BYTES: '10GB' } });
    expect(err.reason).toBe('InvalidArgument');
    expect(err.message).toContain("MODELPLANE_MAX_UNPACKED_BYTES must be a positive whole number of bytes, got '10GB'");
  });
});

/** One entry listed twice in the central directory, both at the same data: what the smallest zip bombs do. */
function overlappingZip(): Buffer {
  const one = rawZip([{ name: 'model.onnx', data: 'onnx' }]);
  const cdStart = one.readUInt32LE(one.length - 22 + 16);
  const central = one.subarray(cdStart, one.length - 22);
  const end = Buffer.from(one.subarray(one.length - 22));
  end.writeUInt16LE(2, 8);
  end.writeUInt16LE(2, 10);
  end.writeUInt32LE(central.length * 2, 12);
  return Buffer.concat([one.subarray(0, cdStart), central, central, end]);
}

describe('archives on disk (file://) and on a claim (pvc://)', () => {
  test('a file:// archive is verified and unpacked into the destination, and unpacked again when it changes', async () => {
    const path = join(work.path, 'archives', 'local.tar.gz');
    await mkdir(join(work.path, 'archives'), { recursive: true });
    await writeFile(path, rawTar([{ name: 'model.onnx', data: 'first' }]));
    const first = await fetchUri(`file://${path}`);
    expect(first.result).toEqual({ modelPath: join(dest, 'local'), downloaded: true });
    expect((await fetchUri(`file://${path}`)).result.downloaded).toBe(false);
    await writeFile(path, rawTar([{ name: 'model.onnx', data: 'second' }]));
    const changed = await fetchUri(`file://${path}`);
    expect(changed.result.downloaded).toBe(true);
    expect(await readFile(join(dest, 'local', 'model.onnx'), 'utf8')).toBe('second');
    const err = await refusal(`file://${path}`, { sha256: 'b'.repeat(64) });
    expect(err.reason).toBe('ChecksumMismatch');
  });

  test('a pvc:// archive is read from the claim and unpacked into the destination', async () => {
    const pvcRoot = join(work.path, 'pvc');
    await mkdir(join(pvcRoot, 'store', 'llm'), { recursive: true });
    const archive = await archiveFile('claim.zip', (out) => systemZip(join(src(), 'gpt2'), ['-qr', out, '.']));
    await writeFile(join(pvcRoot, 'store', 'llm', 'gpt2.zip'), archive);
    const { result } = await fetchUri('pvc://store/llm/gpt2.zip', { sha256: sha256(archive) }, { env: { MODELPLANE_PVC_ROOT: pvcRoot } });
    expect(result).toEqual({ modelPath: join(dest, 'gpt2'), downloaded: true });
    await expectModelFolder(result.modelPath);
  });
});
