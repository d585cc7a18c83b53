// Reads ModelDeployments from YAML or JSON files (multi-document YAML; a directory means every .yaml, .yml and
// .json file directly in it) and sorts each document into one to run, one that is invalid (with every field and
// reason), or one of another kind that local mode skips.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { API_VERSION, KIND, type ModelDeployment } from '../operator/api/schema.js';
import { validateModelDeployment, type FieldError } from '../operator/api/validate.js';

export type ManifestEntry =
  | { kind: 'deployment'; source: string; md: ModelDeployment }
  | { kind: 'invalid'; source: string; name?: string; errors: FieldError[] }
  | { kind: 'skipped'; source: string; note: string };

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The files `-f` names: the file itself, or the manifests directly inside a directory, in name order. */
export function manifestFiles(path: string): string[] {
  const abs = resolve(path);
  if (!statSync(abs).isDirectory()) return [abs];
  return readdirSync(abs)
    .filter((f) => MANIFEST_EXTENSIONS.has(extname(f)))
    .sort()
    .map((f) => join(abs, f));
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
      out.push({ kind: 'skipped', source: where, note: `${typeof kind === 'string' ? kind : 'a document without kind'}${nameOf(doc) ? ` ${nameOf(doc)}` : ''} is not a ${KIND} (${API_VERSION}); local mode skips it` });
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
 * Reads every manifest under `path`, then refuses what cannot run side by side: a second ModelDeployment with
 * the same name, or one that would serve under a model name another already serves.
 */
export function readManifests(path: string): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  for (const file of manifestFiles(path)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      entries.push({ kind: 'invalid', source: file, errors: [{ field: '', message: `cannot read: ${(err as Error).message}`, reason: 'Unreadable' }] });
      continue;
    }
    entries.push(...parseManifests(text, file));
  }
  return rejectDuplicates(entries);
}

/** The model name a deployment serves under. */
export function servedName(md: ModelDeployment): string {
  return md.spec.model.servedName ?? md.metadata.name!;
}

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
