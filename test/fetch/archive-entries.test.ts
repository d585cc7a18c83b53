// The pure rules an archive's entries keep, as tables: names, declarations, where the model is, links, limits; and the
// tar and zip header fields that decide them.
import { checkLink, entryPath, EntryTable, modelRoot, unpackedByteLimit, type DeclaredKind } from '../../fetch/archive-entries.js';
import { FetchError } from '../../fetch/errors.js';
import { parsePax, tarNumber } from '../../fetch/tar.js';
import { zipEntryKind } from '../../fetch/zip.js';

const reasonOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(FetchError);
    return (err as FetchError).reason;
  }
};

function table(entries: Array<[string, DeclaredKind]>): EntryTable {
  const t = new EntryTable();
  for (const [path, kind] of entries) t.add(path, kind);
  return t;
}

test.each([
  ['model.onnx', 'model.onnx'],
  ['./gpt2//model.onnx', 'gpt2/model.onnx'],
  ['gpt2/', 'gpt2'],
  ['./', ''],
])('entryPath(%j) is %j', (name, path) => {
  expect(entryPath(name)).toBe(path);
});

test.each(['../x', 'a/../../x', '/etc/passwd', 'C:/x', 'a\\..\\x', 'a\0b', '.modelplane-fetch.json', './.modelplane-fetch.json'])('entryPath(%j) is refused with PathEscape', (name) => {
  expect(reasonOf(() => entryPath(name))).toBe('PathEscape');
});

test.each<[string, Array<[string, DeclaredKind]>, string | undefined]>([
  ['a folder declared after its files', [['a/b', 'file'], ['a', 'dir']], undefined],
  ['a file declared twice', [['a', 'file'], ['a', 'file']], 'ArchiveDuplicateEntry'],
  ['a folder declared twice', [['a', 'dir'], ['a', 'dir']], 'ArchiveDuplicateEntry'],
  ['a file where a folder is implied', [['a/b', 'file'], ['a', 'file']], 'ArchiveDuplicateEntry'],
  ['a file under a file', [['a', 'file'], ['a/b', 'file']], 'ArchiveDuplicateEntry'],
  ['a file under a symbolic link', [['a', 'symlink'], ['a/b/c', 'file']], 'ArchiveDuplicateEntry'],
])('EntryTable: %s', (_what, entries, reason) => {
  expect(reasonOf(() => table(entries))).toBe(reason);
});

test.each<[Array<[string, DeclaredKind]>, string]>([
  [[['model.onnx', 'file'], ['tokenizer.json', 'file']], ''],
  [[['gpt2/model.onnx', 'file'], ['gpt2/config.json', 'file']], 'gpt2'],
  [[['gpt2', 'dir'], ['gpt2/model.onnx', 'hardlink']], 'gpt2'],
  [[['model.onnx', 'file'], ['gpt2/model.onnx', 'file']], ''],
])('modelRoot of %j is %j', (entries, root) => {
  expect(modelRoot(table(entries))).toBe(root);
});

test.each<[Array<[string, DeclaredKind]>, RegExp]>([
  [[['a/model.onnx', 'file'], ['b/model.onnx', 'file']], /found: a\/, b\//],
  [[['gpt2/inner/model.onnx', 'file']], /found: gpt2\//],
  [[['model.onnx', 'symlink']], /found: model\.onnx\)/],
  [[['model.onnx', 'dir']], /found: model\.onnx\/\)/],
  [[], /found: nothing/],
])('modelRoot of %j is NotFound', (entries, message) => {
  const t = table(entries);
  expect(reasonOf(() => modelRoot(t))).toBe('NotFound');
  expect(() => modelRoot(t)).toThrow(message);
});

describe('checkLink', () => {
  const t = table([['m/model.onnx', 'file'], ['m/sub/a.bin', 'file'], ['m/l', 'symlink']]);
  test.each<['symlink' | 'hardlink', string, string, string | undefined]>([
    ['symlink', 'm/sub/link', '../model.onnx', 'm/model.onnx'],
    ['symlink', 'm/link', 'sub', 'm/sub'],
    ['symlink', 'm/link', 'l', 'm/l'],
    ['hardlink', 'm/h', 'm/sub/a.bin', 'm/sub/a.bin'],
    ['hardlink', 'm/h', './m/model.onnx', 'm/model.onnx'],
  ])('%s %s -> %s is the entry %s', (kind, path, target, resolved) => {
    expect(checkLink(t, 'm', { kind, path, target })).toBe(resolved);
  });
  test.each<['symlink' | 'hardlink', string, string]>([
    ['symlink', 'm/link', '../outside'],
    ['symlink', 'm/link', '../../../etc/passwd'],
    ['symlink', 'm/link', '/etc/passwd'],
    ['symlink', 'm/link', 'missing.bin'],
    ['symlink', 'm/link', 'l/x'],
    ['hardlink', 'm/h', 'm/sub'],
    ['hardlink', 'm/h', '/etc/shadow'],
    ['hardlink', 'm/h', 'other/model.onnx'],
  ])('%s %s -> %s is refused with PathEscape', (kind, path, target) => {
    expect(reasonOf(() => checkLink(t, 'm', { kind, path, target }))).toBe('PathEscape');
  });
});

test.each([
  [1000, 1024 ** 3],
  [100 * 1024 ** 2, 10_000 * 1024 ** 2],
  [4 * 1024 ** 3, 256 * 1024 ** 3],
])('an archive of %d bytes may unpack to %d', (archiveBytes, limit) => {
  expect(unpackedByteLimit(archiveBytes, { maxBytes: 256 * 1024 ** 3, maxRatio: 100, ratioFloorBytes: 1024 ** 3, maxEntries: 10 })).toBe(limit);
});

test('tar numbers: octal with NUL or space, and base-256 for sizes past 8 GiB', () => {
  expect(tarNumber(Buffer.from('00000001750\0'), 'size')).toBe(1000);
  expect(tarNumber(Buffer.from('     1750 \0'), 'size')).toBe(1000);
  const big = Buffer.alloc(12);
  big[0] = 0x80;
  big.writeUIntBE(12 * 1024 ** 3, 6, 6);
  expect(tarNumber(big, 'size')).toBe(12 * 1024 ** 3);
  expect(() => tarNumber(Buffer.from('12x4\0'), 'size')).toThrow(/size is not a number/);
  expect(() => tarNumber(Buffer.alloc(12, 0xff), 'size')).toThrow(/negative size/);
});

test('pax records', () => {
  expect(parsePax(Buffer.from('30 path=gpt2/a very long name\n12 size=100\n'))).toEqual({ path: 'gpt2/a very long name', size: '100' });
  expect(() => parsePax(Buffer.from('99 path=x\n'))).toThrow(/malformed pax/);
});

test.each([
  [(3 << 8) | 20, 0o120777 << 16, 'link', { kind: 'symlink' }],
  [(3 << 8) | 20, 0o100644 << 16, 'model.onnx', { kind: 'file' }],
  [(3 << 8) | 20, 0o040755 << 16, 'gpt2', { kind: 'dir' }],
  [(3 << 8) | 20, 0o020644 << 16, 'tty', { kind: 'special', what: 'character device' }],
  [(3 << 8) | 20, 0o140644 << 16, 'sock', { kind: 'special', what: 'socket' }],
  [20, 0x10, 'WINDIR', { kind: 'dir' }],
  [20, 0x20, 'gpt2/', { kind: 'dir' }],
  [20, 0o120777 << 16, 'not-unix', { kind: 'file' }],
])('zip entry made by %i with attributes %i named %s', (madeBy, attributes, name, kind) => {
  expect(zipEntryKind(madeBy, attributes >>> 0, name)).toEqual(kind);
});
