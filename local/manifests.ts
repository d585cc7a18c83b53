// Reads ModelDeployments from what `-f, --filename` names: files (multi-document YAML or JSON) and directories
// (every .yaml, .yml and .json file directly in them, in name order). Each document becomes one to run, one that is
// invalid (with every field and reason), or one of another kind that is skipped. `modelplane render` and
// `modelplane local` read their paths here, so both take the same things and refuse the same way.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { API_VERSION, KIND, type ModelDeployment } from '../operator/api/schema.js';
import { validateModelDeployment, type FieldError } from '../operator/api/validate.js';
import { servedName } from '../operator/api/names.js';

export type ManifestEntry =
  | { kind: 'deployment'; source: string; md: ModelDeployment }
  | { kind: 'invalid'; source: string; name?: string; errors: FieldError[] }
  | { kind: 'skipped'; source: string; note: string; document: { kind?: string; name?: string } };

export const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;

/** A path given to -f that cannot be read: the message names it and says why. */
export class ManifestPathError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'ManifestPathError';
  }
}

/** Why a file operation failed, in words (`no such file or directory`), from its error code. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return (err as Error).message;
  }
}

/**
 * The files one -f value names: the file itself, or the manifests directly inside a directory, in name order
 * (entries that are not regular files, such as subdirectories, are left out). Throws a ManifestPathError naming the
 * path when it does not exist or cannot be listed.
 */
export function manifestFilesOf(path: string): string[] {
  const abs = resolve(path);
  let isDir: boolean;
  try {
    const st = statSync(abs);
    isDir = st.isDirectory();
    if (!isDir && !st.isFile()) throw new ManifestPathError(path, `${path}: not a file or a directory`);
  } catch (err) {
    if (err instanceof ManifestPathError) throw err;
    throw new ManifestPathError(path, `${path}: ${fsReason(err)}`);
  }
  if (!isDir) return [abs];
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch (err) {
    throw new ManifestPathError(path, `${path}: cannot list the directory: ${fsReason(err)}`);
  }
  return names
    .filter((f) => (MANIFEST_EXTENSIONS as readonly string[]).includes(extname(f)))
    .sort()
    .map((f) => join(abs, f))
    .filter((f) => {
      try {
        return !statSync(f).isDirectory();
      } catch {
        return true; // a dangling link: reading it reports the problem
      }
    });
}

/** The files every -f value names, in the order given; each file once. */
export function manifestFiles(paths: string | readonly string[]): string[] {
  const out: string[] = [];
  for (const p of typeof paths === 'string' ? [paths] : paths) for (const f of manifestFilesOf(p)) if (!out.includes(f)) out.push(f);
  return out;
}

/** A manifest file's text; a ManifestPathError naming the file and the reason when it cannot be read. */
export function readManifestFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ManifestPathError(file, `${file}: cannot read: ${fsReason(err)}`);
  }
}

/** What local mode cannot do that a cluster can: checked after the CRD's own validation. */
export function localModeErrors(md: ModelDeployment): FieldError[] {
  if (md.spec.model.uri.startsWith('pvc://')) {
    return [{
      field: 'spec.model.uri',
      message: 'pvc:// names a PersistentVolumeClaim, which only a cluster has; in local mode use file:///absolute/path, https://, http:// or s3://',
      reason: 'FieldValueNotSupported',
    }];
  }
  return [];
}

function nameOf(doc: unknown): string | undefined {
  const name = (doc as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof name === 'string' && name ? name : undefined;
}

/** Sorts the documents of one file's text. `source` names the file in notes and errors. */
export function parseManifests(text: string, source: string): ManifestEntry[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (err) {
    return [{ kind: 'invalid', source, errors: [{ field: '', message: `not valid YAML: ${(err as Error).message.split('\n')[0]}`, reason: 'InvalidYAML' }] }];
  }
  const out: ManifestEntry[] = [];
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${source} (document ${i + 1})` : source;
    if (doc === null || doc === undefined) return;
    const kind = (doc as { kind?: unknown }).kind;
    const apiVersion = (doc as { apiVersion?: unknown }).apiVersion;
    if (kind !== KIND || (typeof apiVersion === 'string' && !apiVersion.startsWith('serving.modelplane.io/'))) {
      const shown = { ...(typeof kind === 'string' ? { kind } : {}), ...(nameOf(doc) ? { name: nameOf(doc) } : {}) };
      out.push({ kind: 'skipped', source: where, note: `${shown.kind ?? 'a document without kind'}${shown.name ? ` ${shown.name}` : ''} is not a ${KIND} (${API_VERSION}); skipped`, document: shown });
      return;
    }
    const result = validateModelDeployment(doc);
    if (!result.ok) {
      out.push({ kind: 'invalid', source: where, name: nameOf(doc), errors: result.errors });
      return;
    }
    const local = localModeErrors(result.value);
    if (local.length) out.push({ kind: 'invalid', source: where, name: nameOf(doc), errors: local });
    else out.push({ kind: 'deployment', source: where, md: result.value });
  });
  return out;
}

/**
 * Reads every manifest the paths name, then refuses what cannot run side by side: a second ModelDeployment with
 * the same name, or one that would serve under a model name another already serves. A path that does not exist
 * throws (ManifestPathError); a file in a directory that cannot be read is one invalid entry, and the rest are read.
 */
export function readManifests(paths: string | readonly string[]): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  for (const file of manifestFiles(paths)) {
    let text: string;
    try {
      text = readManifestFile(file);
    } catch (err) {
      entries.push({ kind: 'invalid', source: file, errors: [{ field: '', message: (err as Error).message.slice(file.length + 2), reason: 'Unreadable' }] });
      continue;
    }
    entries.push(...parseManifests(text, file));
  }
  return rejectDuplicates(entries);
}

export { servedName };

export function rejectDuplicates(entries: ManifestEntry[]): ManifestEntry[] {
  const names = new Map<string, string>();
  const served = new Map<string, string>();
  return entries.map((e) => {
    if (e.kind !== 'deployment') return e;
    const name = e.md.metadata.name!;
    const model = servedName(e.md);
    if (names.has(name)) {
      return { kind: 'invalid', source: e.source, name, errors: [{ field: 'metadata.name', message: `Duplicate value "${name}": already defined in ${names.get(name)}`, reason: 'FieldValueDuplicate' }] };
    }
    if (served.has(model)) {
      return { kind: 'invalid', source: e.source, name, errors: [{ field: 'spec.model.servedName', message: `Duplicate value "${model}": ModelDeployment ${served.get(model)} already serves this model name`, reason: 'FieldValueDuplicate' }] };
    }
    names.set(name, e.source);
    served.set(model, name);
    return e;
  });
}
