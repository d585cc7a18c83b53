// The rules an archive's entries must keep before any of them is used, as pure functions: names stay inside the
// target, each path is declared once, links point at entries of the model, the whole stays under a size limit, and
// the model (model.onnx) is at the top or in one top-level folder.
import { posix } from 'node:path';
import { MODEL_FILE, modelFilePlace, type ArchiveFormat } from '../common/download-names.js';
import { FetchError } from './errors.js';
import { MANIFEST_NAME } from './integrity.js';

export type { ArchiveFormat };

/** What a tar or zip reader yields for one entry; a file's body must be read to its end before the next entry. */
export type ArchiveEntry =
  | { kind: 'file'; name: string; body: AsyncIterable<Buffer> }
  | { kind: 'dir'; name: string }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'hardlink'; name: string; target: string }
  | { kind: 'special'; name: string; what: string };

export interface ArchiveLimits {
  /** Bytes the unpacked files may add up to, whatever the archive's size. */
  maxBytes: number;
  /** Unpacked bytes per archive byte allowed beyond `ratioFloorBytes` (a zip or gzip bomb goes far beyond it). */
  maxRatio: number;
  ratioFloorBytes: number;
  maxEntries: number;
}

const GIB = 1024 ** 3;

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 256 * GIB, maxRatio: 100, ratioFloorBytes: GIB, maxEntries: 100_000 };

/** The bytes an archive of `archiveBytes` may unpack to: the absolute limit, or less for a small archive. */
export function unpackedByteLimit(archiveBytes: number, limits: ArchiveLimits): number {
  return Math.min(limits.maxBytes, Math.max(limits.ratioFloorBytes, archiveBytes * limits.maxRatio));
}

export function tooLarge(bytes: number, limit: number, archiveBytes: number): FetchError {
  return new FetchError(
    'ArchiveTooLarge',
    `the archive unpacks to more than ${limit} bytes (at least ${bytes}, from an archive of ${archiveBytes} bytes); refused as a possible archive bomb`,
  );
}

/**
 * An entry's name as a normalised relative path ('' for the archive's root): leading `./` and repeated slashes are
 * dropped; absolute names, drive letters, backslashes, NUL and `..` segments are refused (PathEscape).
 */
export function entryPath(name: string): string {
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name) || name.includes('\\') || name.includes('\0')) {
    throw new FetchError('PathEscape', `archive entry '${printable(name)}' has an absolute or non-portable name that would escape the target directory`);
  }
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw new FetchError('PathEscape', `archive entry '${printable(name)}' has a '..' segment that would escape the target directory`);
  }
  const path = segments.join('/');
  if (path === MANIFEST_NAME) throw new FetchError('PathEscape', `archive entry '${path}' is reserved for the fetch manifest`);
  return path;
}

function printable(name: string): string {
  return name.replace(/[\0-\x1f]/g, '?').slice(0, 200);
}

export type DeclaredKind = 'file' | 'dir' | 'symlink' | 'hardlink';

/** Every path the archive declares, so a second declaration or a file under a non-directory is caught. */
export class EntryTable {
  readonly declared = new Map<string, DeclaredKind>();
  /** Directories that exist because something lies under them. */
  private readonly implied = new Set<string>();

  add(path: string, kind: DeclaredKind): void {
    const before = this.declared.get(path);
    if (before !== undefined || (kind !== 'dir' && this.implied.has(path))) {
      throw new FetchError('ArchiveDuplicateEntry', `archive entry '${path}' appears more than once (as ${before ?? 'a directory'} and as ${kind})`);
    }
    for (let parent = posix.dirname(path); parent !== '.'; parent = posix.dirname(parent)) {
      const kindOfParent = this.declared.get(parent);
      if (kindOfParent !== undefined && kindOfParent !== 'dir') {
        throw new FetchError('ArchiveDuplicateEntry', `archive entry '${path}' lies under '${parent}', which the archive declares as a ${kindOfParent}`);
      }
      this.implied.add(parent);
    }
    this.declared.set(path, kind);
  }

  /** Top-level names, in the order they came. */
  topLevel(): string[] {
    const names = [...this.declared.keys(), ...this.implied].map((p) => p.split('/')[0]);
    return [...new Set(names)];
  }

  isDir(path: string): boolean {
    return this.declared.get(path) === 'dir' || this.implied.has(path);
  }
}

/**
 * Where the model lies among the archive's paths: '' when model.onnx is at the top (or under onnx/), the folder's name
 * when everything lies in one top-level folder that holds it so; otherwise NotFound, naming what the archive holds.
 */
export function modelRoot(table: EntryTable): string {
  const isFile = (p: string) => table.declared.get(p) === 'file' || table.declared.get(p) === 'hardlink';
  // model.onnx at the root's top, or under onnx/ (a transformers.js repository).
  const holdsModel = (root: string) => modelFilePlace((p) => isFile(root ? `${root}/${p}` : p)) !== undefined;
  if (holdsModel('')) return '';
  const top = table.topLevel();
  const [only] = top;
  if (top.length === 1 && table.isDir(only) && holdsModel(only)) return only;
  const found = top.slice(0, 8).map((n) => (table.isDir(n) ? `${n}/` : n)).join(', ');
  throw new FetchError(
    'NotFound',
    `the archive holds no ${MODEL_FILE} at its top or in a single top-level folder, directly or under onnx/ (found: ${found || 'nothing'}${top.length > 8 ? ', ...' : ''})`,
  );
}

/** A path relative to the model root, or undefined when it lies outside it. */
export function underRoot(root: string, path: string): string | undefined {
  if (root === '') return path;
  if (path === root) return '';
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

/**
 * Checks a link entry: a symbolic link's target is relative to its own folder, a hard link's names another entry;
 * either must be an entry of the model (a file or folder the archive declares, inside the model root), or PathEscape.
 * Returns the target's path in the archive.
 */
export function checkLink(table: EntryTable, root: string, link: { kind: 'symlink' | 'hardlink'; path: string; target: string }): string {
  const what = link.kind === 'symlink' ? 'symbolic link' : 'hard link';
  const outside = (why: string) => new FetchError('PathEscape', `archive ${what} '${link.path}' points to '${printable(link.target)}', ${why}`);
  if (link.target.startsWith('/') || link.target.includes('\0')) throw outside('an absolute path outside the model');
  const joined = link.kind === 'symlink' ? posix.join(posix.dirname(link.path), link.target) : posix.normalize(link.target);
  const target = joined === '.' ? '' : joined.replace(/\/$/, '');
  if (target === '..' || target.startsWith('../') || underRoot(root, target) === undefined) throw outside('outside the model');
  const kind = table.declared.get(target);
  if (link.kind === 'hardlink' && kind !== 'file' && kind !== 'hardlink') throw outside('which is not a file of the archive');
  if (kind === undefined && !table.isDir(target)) throw outside('which the archive does not hold');
  return target;
}
