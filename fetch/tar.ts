// A streaming tar reader: ustar, pax (path, linkpath, size) and GNU (long names, base-256 sizes) headers, as GNU tar,
// bsdtar and Python's tarfile write them. Bytes flow through with back-pressure; nothing is buffered whole.
import { FetchError } from './errors.js';
import type { ArchiveEntry } from './archive-entries.js';

const BLOCK = 512;
/** Pax and GNU long-name records are small; anything larger is not a model archive. */
const MAX_META_BYTES = 1024 * 1024;

const invalid = (why: string) => new FetchError('ArchiveInvalid', `not a readable tar archive: ${why}`);

/** Reads exact byte counts from a stream of chunks. */
export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
  }

  /** The next `n` bytes; undefined at the very end of the stream; ArchiveInvalid when it ends part-way. */
  async exactly(n: number): Promise<Buffer | undefined> {
    if (n === 0) return Buffer.alloc(0);
    await this.fill(n);
    if (this.buffered === 0 && n > 0) return undefined;
    if (this.buffered < n) throw invalid(`the archive ends in the middle of an entry (truncated)`);
    const first = this.chunks[0];
    const out = first.length >= n ? first.subarray(0, n) : Buffer.concat(this.chunks).subarray(0, n);
    this.drop(n);
    return out;
  }

  /** The next `n` bytes as a stream of chunks. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      await this.fill(1);
      if (this.buffered === 0) throw invalid('the archive ends in the middle of a file (truncated)');
      const chunk = this.chunks[0].subarray(0, left);
      this.drop(chunk.length);
      left -= chunk.length;
      yield chunk;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _chunk of this.stream(n)) {
      // discarded
    }
  }

  private drop(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0];
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

export interface TarHeader {
  name: string;
  linkname: string;
  size: number;
  type: string;
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** A numeric field: octal text, or GNU's base-256 for values too large for it. */
export function tarNumber(field: Buffer, what: string): number {
  if (field[0] & 0x80) {
    if (field[0] === 0xff) throw invalid(`negative ${what}`);
    let value = BigInt(field[0] & 0x7f);
    for (const b of field.subarray(1)) value = (value << 8n) | BigInt(b);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} too large`);
    return Number(value);
  }
  const digits = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw invalid(`${what} is not a number ('${digits.slice(0, 12)}')`);
  return parseInt(digits, 8);
}

/** One 512-byte header; 'end' for a zero block (the end-of-archive marker). */
export function parseTarHeader(block: Buffer): TarHeader | 'end' {
  if (block.every((b) => b === 0)) return 'end';
  const stored = tarNumber(block.subarray(148, 156), 'header checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw invalid('a header checksum does not match (not tar data, or corrupt)');
  const magic = block.subarray(257, 263).toString('latin1');
  let name = text(block, 0, 100);
  // POSIX ustar splits long names into prefix/name; GNU's own format uses that space for other things.
  if (magic === 'ustar\0') {
    const prefix = text(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const type = String.fromCharCode(block[156] || 0x30);
  return { name, linkname: text(block, 157, 100), size: tarNumber(block.subarray(124, 136), 'entry size'), type };
}

/** The records of a pax extended header: "<length> <key>=<value>\n". */
export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    const length = space < 0 ? NaN : Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= space - pos || pos + length > data.length) throw invalid('a malformed pax header record');
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw invalid('a pax header record without =');
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return out;
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

async function readMeta(reader: ByteReader, size: number): Promise<Buffer> {
  if (size > MAX_META_BYTES) throw invalid(`an extended header of ${size} bytes`);
  const data = (await reader.exactly(size)) ?? Buffer.alloc(0);
  if (data.length < size) throw invalid('the archive ends in an extended header (truncated)');
  await reader.skip(padding(size));
  return data;
}

interface Pending {
  pax: Record<string, string>;
  longName?: string;
  longLink?: string;
}

const SPECIAL: Record<string, string> = { '3': 'character device', '4': 'block device', '6': 'FIFO' };

/** The entry a header stands for, with the names and size that pax or GNU headers before it gave. */
function entryOf(h: TarHeader, pending: Pending, reader: ByteReader, size: number): ArchiveEntry {
  const name = pending.pax.path ?? pending.longName ?? h.name;
  const target = pending.pax.linkpath ?? pending.longLink ?? h.linkname;
  if (Object.keys(pending.pax).some((k) => k.startsWith('GNU.sparse.'))) throw invalid(`entry '${name}' is a sparse file, which is not supported`);
  switch (h.type) {
    case '0':
    case '7':
      // Pre-POSIX archives mark directories with a trailing slash alone.
      if (name.endsWith('/') && size === 0) return { kind: 'dir', name };
      return { kind: 'file', name, body: reader.stream(size) };
    case '5':
      return { kind: 'dir', name };
    case '2':
      return { kind: 'symlink', name, target };
    case '1':
      return { kind: 'hardlink', name, target };
    default:
      if (SPECIAL[h.type]) return { kind: 'special', name, what: SPECIAL[h.type] };
      if (h.type === 'S') throw invalid(`entry '${name}' is a sparse file, which is not supported`);
      throw invalid(`entry '${name}' has type '${h.type}', which is not supported`);
  }
}

/** The entries of a tar stream; a file entry's body must be read to its end before the next entry is asked for. */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<ArchiveEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let pending: Pending = { pax: {} };
  for (;;) {
    const block = await reader.exactly(BLOCK);
    if (block === undefined) return;
    const h = parseTarHeader(block);
    if (h === 'end') return;
    const size = pending.pax.size !== undefined ? Number(pending.pax.size) : h.size;
    if (!Number.isSafeInteger(size) || size < 0) throw invalid(`entry '${h.name}' has size '${pending.pax.size}'`);
    if (h.type === 'x') pending.pax = { ...pending.pax, ...parsePax(await readMeta(reader, size)) };
    else if (h.type === 'g' || h.type === 'V') await reader.skip(size + padding(size));
    else if (h.type === 'L') pending.longName = text(await readMeta(reader, size), 0, size);
    else if (h.type === 'K') pending.longLink = text(await readMeta(reader, size), 0, size);
    else {
      const entry = entryOf(h, pending, reader, size);
      pending = { pax: {} };
      yield entry;
      // Directories, links and special files may still carry data in odd archives: step over it.
      if (entry.kind !== 'file') await reader.skip(size);
      await reader.skip(padding(size));
    }
  }
}
