// A zip reader over a file on disk: the central directory (zip64 included) says what the archive holds, each entry
// is streamed from its offset (stored or deflate), and its size and CRC-32 are checked as it inflates. Entries whose
// data overlap (the trick of the smallest zip bombs), encryption and other compression methods are refused.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { FetchError } from './errors.js';
import { tooLarge, type ArchiveEntry } from './archive-entries.js';

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_U16 = 0xffff;
const MAX_U32 = 0xffffffff;
/** A symbolic link's target is its data; a longer one is not a path. */
const MAX_LINK_BYTES = 4096;

const invalid = (why: string) => new FetchError('ArchiveInvalid', `not a readable zip archive: ${why}`);

export interface ZipEntry {
  name: string;
  rawName: Buffer;
  kind: 'file' | 'dir' | 'symlink' | 'special';
  what?: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

interface CentralDirectory {
  count: number;
  size: number;
  offset: number;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead < length) throw invalid('a record lies beyond the end of the file (truncated)');
  return buf;
}

/** Where the end-of-central-directory record starts in the file's tail, or -1. */
export function findEndRecord(tail: Buffer): number {
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD && i + 22 + tail.readUInt16LE(i + 20) === tail.length) return i;
  }
  return -1;
}

async function centralDirectory(fh: FileHandle, fileSize: number): Promise<CentralDirectory> {
  const tailLength = Math.min(fileSize, 22 + MAX_U16);
  const tail = await readAt(fh, fileSize - tailLength, tailLength);
  const i = findEndRecord(tail);
  if (i < 0) throw invalid('no end of central directory record (not a zip file, or truncated)');
  const endAt = fileSize - tailLength + i;
  if (tail.readUInt16LE(i + 4) !== 0 || tail.readUInt16LE(i + 6) !== 0) throw invalid('it spans several disks');
  let dir: CentralDirectory = { count: tail.readUInt16LE(i + 10), size: tail.readUInt32LE(i + 12), offset: tail.readUInt32LE(i + 16) };
  if (dir.count === MAX_U16 || dir.size === MAX_U32 || dir.offset === MAX_U32) dir = await zip64Directory(fh, endAt);
  if (dir.offset + dir.size > endAt) throw invalid('the central directory lies beyond its end record');
  return dir;
}

async function zip64Directory(fh: FileHandle, endAt: number): Promise<CentralDirectory> {
  if (endAt < 20) throw invalid('zip64 sizes without a zip64 end record');
  const locator = await readAt(fh, endAt - 20, 20);
  if (locator.readUInt32LE(0) !== EOCD64_LOCATOR) throw invalid('zip64 sizes without a zip64 end record locator');
  const record = await readAt(fh, safe(locator.readBigUInt64LE(8)), 56);
  if (record.readUInt32LE(0) !== EOCD64) throw invalid('the zip64 end record is missing');
  return { count: safe(record.readBigUInt64LE(32)), size: safe(record.readBigUInt64LE(40)), offset: safe(record.readBigUInt64LE(48)) };
}

function safe(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('a zip64 size too large');
  return Number(v);
}

/** Sizes and offset that did not fit 32 bits, from the zip64 extra field, in its fixed order. */
function applyZip64(entry: ZipEntry, extra: Buffer): void {
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(p);
    const length = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      let q = p + 4;
      const next = () => {
        if (q + 8 > p + 4 + length) throw invalid(`entry '${entry.name}' has a short zip64 extra field`);
        q += 8;
        return safe(extra.readBigUInt64LE(q - 8));
      };
      if (entry.size === MAX_U32) entry.size = next();
      if (entry.compressedSize === MAX_U32) entry.compressedSize = next();
      if (entry.localOffset === MAX_U32) entry.localOffset = next();
    }
    p += 4 + length;
  }
}

const SPECIAL: Record<number, string> = { 0o020000: 'character device', 0o060000: 'block device', 0o010000: 'FIFO', 0o140000: 'socket' };

/** File, folder, link or special file, from the name and the Unix mode that Unix zip tools keep. */
export function zipEntryKind(madeBy: number, attributes: number, name: string): Pick<ZipEntry, 'kind' | 'what'> {
  const unix = madeBy >> 8 === 3 ? (attributes >>> 16) & 0o170000 : 0;
  if (unix === 0o120000) return { kind: 'symlink' };
  if (SPECIAL[unix]) return { kind: 'special', what: SPECIAL[unix] };
  if (unix === 0o040000 || name.endsWith('/') || (madeBy >> 8 === 0 && (attributes & 0x10) !== 0)) return { kind: 'dir' };
  return { kind: 'file' };
}

/** The central directory's entries. */
export function parseCentralDirectory(cd: Buffer, count: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let pos = 0;
  for (let k = 0; k < count; k++) {
    if (pos + 46 > cd.length || cd.readUInt32LE(pos) !== CENTRAL) throw invalid('a malformed central directory');
    const flags = cd.readUInt16LE(pos + 8);
    const nameLength = cd.readUInt16LE(pos + 28);
    const extraLength = cd.readUInt16LE(pos + 30);
    const rawName = cd.subarray(pos + 46, pos + 46 + nameLength);
    // Bit 11: the name is UTF-8; otherwise code page 437, of which ASCII is what portable names use.
    const name = rawName.toString(flags & 0x800 ? 'utf8' : 'latin1');
    const entry: ZipEntry = {
      name, rawName, flags, ...zipEntryKind(cd.readUInt16LE(pos + 4), cd.readUInt32LE(pos + 38), name),
      method: cd.readUInt16LE(pos + 10), crc: cd.readUInt32LE(pos + 16), compressedSize: cd.readUInt32LE(pos + 20),
      size: cd.readUInt32LE(pos + 24), localOffset: cd.readUInt32LE(pos + 42),
    };
    applyZip64(entry, cd.subarray(pos + 46 + nameLength, pos + 46 + nameLength + extraLength));
    if (flags & 0x1) throw invalid(`entry '${name}' is encrypted`);
    if (entry.method !== 0 && entry.method !== 8) throw invalid(`entry '${name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    entries.push(entry);
    pos += 46 + nameLength + extraLength + cd.readUInt16LE(pos + 32);
  }
  return entries;
}

/** Where each entry's data starts, after checking its local header agrees and no two entries' data overlap. */
async function dataStarts(fh: FileHandle, entries: ZipEntry[], centralOffset: number): Promise<Map<ZipEntry, number>> {
  const starts = new Map<ZipEntry, number>();
  for (const e of entries) {
    const header = await readAt(fh, e.localOffset, 30);
    if (header.readUInt32LE(0) !== LOCAL) throw invalid(`entry '${e.name}' has no local header where the directory says`);
    const nameLength = header.readUInt16LE(26);
    const localName = await readAt(fh, e.localOffset + 30, nameLength);
    if (!localName.equals(e.rawName)) throw invalid(`entry '${e.name}' is named '${localName.toString('latin1')}' in its local header`);
    starts.set(e, e.localOffset + 30 + nameLength + header.readUInt16LE(28));
  }
  const byOffset = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  byOffset.forEach((e, i) => {
    const end = starts.get(e)! + e.compressedSize;
    const limit = i + 1 < byOffset.length ? byOffset[i + 1].localOffset : centralOffset;
    if (end > limit) throw invalid(`the data of entry '${e.name}' overlaps the next entry or the central directory`);
  });
  return starts;
}

const crc32: (data: Buffer, value: number) => number =
  (zlib as { crc32?: (data: Buffer, value: number) => number }).crc32 ?? ((data, value) => tableCrc32(data, value));

let table: Uint32Array | undefined;
function tableCrc32(data: Buffer, value: number): number {
  table ??= Uint32Array.from({ length: 256 }, (_v, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = ~value >>> 0;
  for (const b of data) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** An entry's bytes, inflated, refused the moment they exceed the declared size, and checked against its CRC-32. */
export async function* entryBody(path: string, e: ZipEntry, start: number): AsyncGenerator<Buffer> {
  if (e.compressedSize === 0 && e.size === 0) return;
  const raw = createReadStream(path, { start, end: start + Math.max(0, e.compressedSize - 1), highWaterMark: 1 << 20 });
  const inflate = e.method === 8 ? zlib.createInflateRaw() : undefined;
  if (inflate) raw.on('error', (err) => inflate.destroy(err)).pipe(inflate);
  let bytes = 0;
  let crc = 0;
  try {
    for await (const chunk of (inflate ?? raw) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > e.size) throw invalid(`entry '${e.name}' inflates beyond the ${e.size} bytes the directory declares`);
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    throw invalid(`entry '${e.name}' does not inflate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    raw.destroy();
    inflate?.destroy();
  }
  if (bytes !== e.size) throw invalid(`entry '${e.name}' holds ${bytes} bytes; the directory declares ${e.size}`);
  if (crc >>> 0 !== e.crc) throw invalid(`entry '${e.name}' fails its CRC-32 check`);
}

async function linkTarget(path: string, e: ZipEntry, start: number): Promise<string> {
  if (e.size > MAX_LINK_BYTES) throw invalid(`symbolic link '${e.name}' has a target of ${e.size} bytes`);
  const parts: Buffer[] = [];
  for await (const chunk of entryBody(path, e, start)) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

/** The directory of a zip file, checked: entry count, declared total size, local headers, no overlapping data. */
export async function readZipDirectory(path: string, limits: { maxEntries: number; maxBytes: number }): Promise<{ entries: ZipEntry[]; starts: Map<ZipEntry, number> }> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const dir = await centralDirectory(fh, fileSize);
    if (dir.count > limits.maxEntries) throw new FetchError('ArchiveTooLarge', `the archive has ${dir.count} entries, more than the ${limits.maxEntries} allowed`);
    const entries = parseCentralDirectory(await readAt(fh, dir.offset, dir.size), dir.count);
    const declared = entries.reduce((n, e) => n + e.size, 0);
    if (declared > limits.maxBytes) throw tooLarge(declared, limits.maxBytes, fileSize);
    return { entries, starts: await dataStarts(fh, entries, dir.offset) };
  } finally {
    await fh.close();
  }
}

/** The entries of a zip file, in the order of their data. */
export async function* readZip(path: string, limits: { maxEntries: number; maxBytes: number }): AsyncGenerator<ArchiveEntry> {
  const { entries, starts } = await readZipDirectory(path, limits);
  for (const e of [...entries].sort((a, b) => a.localOffset - b.localOffset)) {
    const start = starts.get(e)!;
    if (e.kind === 'file') yield { kind: 'file', name: e.name, body: entryBody(path, e, start) };
    else if (e.kind === 'dir') yield { kind: 'dir', name: e.name };
    else if (e.kind === 'symlink') yield { kind: 'symlink', name: e.name, target: await linkTarget(path, e, start) };
    else yield { kind: 'special', name: e.name, what: e.what! };
  }
}
