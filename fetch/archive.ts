// Unpacking a verified archive into the destination, all or nothing: entries are written into a hidden staging
// folder beside the final one, every rule of archive-entries.ts is kept while they are, and only a complete and
// accepted tree is renamed to its final name (one rename), after which the manifest records it. A crash part-way
// leaves a hidden `.unpack-*` folder, never a model folder or a manifest, and the next fetch removes it.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, mkdtemp, open, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../common/logger.js';
import {
  checkLink, entryPath, EntryTable, modelRoot, tooLarge, underRoot, unpackedByteLimit,
  type ArchiveEntry, type ArchiveFormat, type ArchiveLimits,
} from './archive-entries.js';
import { classifyTransferError, FetchError } from './errors.js';
import { writeManifest } from './integrity.js';
import { readTar } from './tar.js';
import { readZip } from './zip.js';

export const STAGING_PREFIX = '.unpack-';

export interface UnpackedFile {
  /** Relative to the model root, '/'-separated. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface Unpacked {
  /** The folder inside the staging folder that holds model.onnx: '' for the staging folder itself. */
  root: string;
  files: UnpackedFile[];
}

interface Link {
  kind: 'symlink' | 'hardlink';
  path: string;
  target: string;
}

/** The decompressed bytes of a tar or tar.gz file; data that is not gzip is refused before it is read as tar. */
async function* tarBytes(archive: string, format: 'tar' | 'tar.gz'): AsyncGenerator<Buffer> {
  const file = createReadStream(archive, { highWaterMark: 1 << 20 });
  if (format === 'tar') {
    try {
      yield* file as AsyncIterable<Buffer>;
    } finally {
      file.destroy();
    }
    return;
  }
  const fh = await open(archive, 'r');
  const magic = Buffer.alloc(2);
  await fh.read(magic, 0, 2, 0).finally(() => fh.close());
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw new FetchError('ArchiveInvalid', 'not a readable tar.gz archive: the data is not gzip');
  const gunzip = createGunzip();
  file.on('error', (err) => gunzip.destroy(err)).pipe(gunzip);
  try {
    yield* gunzip as AsyncIterable<Buffer>;
  } catch (err) {
    throw new FetchError('ArchiveInvalid', `not a readable tar.gz archive: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim());
  } finally {
    file.destroy();
    gunzip.destroy();
  }
}

/** Writes entries under the staging folder, keeping count of what it declared and wrote. */
class TreeWriter {
  readonly table = new EntryTable();
  private readonly files = new Map<string, { bytes: number; sha256: string }>();
  private readonly links: Link[] = [];
  private written = 0;
  private entries = 0;

  constructor(
    private readonly staging: string,
    private readonly maxBytes: number,
    private readonly archiveBytes: number,
    private readonly maxEntries: number,
  ) {}

  async add(e: ArchiveEntry): Promise<void> {
    if (++this.entries > this.maxEntries) throw new FetchError('ArchiveTooLarge', `the archive has more than ${this.maxEntries} entries`);
    const path = entryPath(e.name);
    if (path === '') {
      if (e.kind === 'dir') return;
      throw new FetchError('ArchiveInvalid', `an archive ${e.kind} entry has an empty name`);
    }
    if (e.kind === 'special') {
      throw new FetchError('ArchiveSpecialFile', `archive entry '${path}' is a ${e.what}; only files, folders and links within the model are unpacked`);
    }
    this.table.add(path, e.kind);
    if (e.kind === 'dir') await mkdir(this.full(path), { recursive: true });
    else if (e.kind === 'file') this.files.set(path, await this.writeFile(path, e.body));
    else this.links.push({ kind: e.kind, path, target: e.target });
  }

  private full(path: string): string {
    return join(this.staging, ...path.split('/'));
  }

  private async writeFile(path: string, body: AsyncIterable<Buffer>): Promise<{ bytes: number; sha256: string }> {
    const full = this.full(path);
    await mkdir(dirname(full), { recursive: true });
    const hash = createHash('sha256');
    let bytes = 0;
    // 'wx': the staging folder is new and links are made last, so nothing can already be there to write through.
    const out = createWriteStream(full, { flags: 'wx', mode: 0o644 });
    let writeError: Error | undefined;
    out.on('error', (err) => (writeError = err));
    try {
      for await (const chunk of body) {
        bytes += chunk.length;
        this.written += chunk.length;
        if (this.written > this.maxBytes) throw tooLarge(this.written, this.maxBytes, this.archiveBytes);
        hash.update(chunk);
        if (writeError) break;
        if (!out.write(chunk)) await once(out, 'drain');
      }
    } catch (err) {
      // Whatever the archive's readers refuse is a FetchError already; anything else failed writing.
      if (err instanceof FetchError) throw err;
      writeError ??= err as Error;
    } finally {
      if (!out.destroyed) await new Promise<void>((resolve) => out.end(resolve));
    }
    if (writeError) throw classifyTransferError(writeError, `writing ${full}`);
    return { bytes, sha256: hash.digest('hex') };
  }

  /** Finds the model, checks and makes the links, and lists the model's files relative to its root. */
  async finish(): Promise<Unpacked> {
    const root = modelRoot(this.table);
    for (const l of this.links) {
      const target = checkLink(this.table, root, l);
      if (l.kind === 'symlink') {
        await mkdir(dirname(this.full(l.path)), { recursive: true });
        await symlink(posix.relative(posix.dirname(l.path), target) || '.', this.full(l.path));
      } else {
        const file = this.files.get(target);
        if (file === undefined) throw new FetchError('ArchiveInvalid', `archive hard link '${l.path}' names '${target}', a link that comes after it`);
        await link(this.full(target), this.full(l.path));
        this.files.set(l.path, file);
      }
    }
    const files = [...this.files].map(([path, f]) => ({ path: underRoot(root, path)!, ...f }));
    return { root, files };
  }
}

export interface UnpackOptions {
  archive: string;
  format: ArchiveFormat;
  /** An empty folder to unpack into. */
  staging: string;
  limits: ArchiveLimits;
}

/** Unpacks an archive file into the staging folder, refusing it (and stopping) at the first broken rule. */
export async function unpackArchive(opts: UnpackOptions): Promise<Unpacked> {
  const archiveBytes = (await stat(opts.archive)).size;
  const maxBytes = unpackedByteLimit(archiveBytes, opts.limits);
  const entries = opts.format === 'zip'
    ? readZip(opts.archive, { maxEntries: opts.limits.maxEntries, maxBytes })
    : readTar(tarBytes(opts.archive, opts.format));
  const writer = new TreeWriter(opts.staging, maxBytes, archiveBytes, opts.limits.maxEntries);
  for await (const entry of entries) await writer.add(entry);
  return writer.finish();
}

/** Removes staging folders an earlier, interrupted fetch left in the destination. */
export async function removeLeftoverStaging(dest: string): Promise<void> {
  const names = await readdir(dest).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(STAGING_PREFIX)).map((n) => rm(join(dest, n), { recursive: true, force: true })));
}

export interface InstallOptions {
  archive: string;
  format: ArchiveFormat;
  dest: string;
  /** The folder under `dest` the model ends up in. */
  dir: string;
  /** The manifest's source: the URI, redacted. */
  label: string;
  archiveSha256: string;
  limits: ArchiveLimits;
  logger: Logger;
}

/** Unpacks the verified archive into `dest/<dir>` in one rename and records it; returns that folder. */
export async function installArchive(o: InstallOptions): Promise<string> {
  await removeLeftoverStaging(o.dest);
  const staging = await mkdtemp(join(o.dest, STAGING_PREFIX));
  try {
    o.logger.info('unpacking archive', { source: o.label, format: o.format, dest: join(o.dest, o.dir) });
    const unpacked = await unpackArchive({ archive: o.archive, format: o.format, staging, limits: o.limits });
    const final = join(o.dest, o.dir);
    await rm(final, { recursive: true, force: true });
    await rename(join(staging, ...unpacked.root.split('/').filter(Boolean)), final).catch((err: NodeJS.ErrnoException) => {
      throw new FetchError('IoError', `cannot move the unpacked model into place at ${final}: ${err.code ?? err}`);
    });
    const archiveBytes = (await stat(o.archive)).size;
    await writeManifest(o.dest, {
      source: o.label,
      modelPath: o.dir,
      archive: { sha256: o.archiveSha256, bytes: archiveBytes },
      files: unpacked.files.map((f) => ({ ...f, path: `${o.dir}/${f.path}` })),
    });
    o.logger.info('model ready', { source: o.label, modelPath: final, files: unpacked.files.length, archiveBytes });
    return final;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
