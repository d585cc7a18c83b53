// `modelplane render`: ModelDeployment manifests in, exactly the children the operator applies out (the same
// objects and annotations; only the ownerReference, which needs the object's uid from the cluster, is absent),
// as YAML. Documents of other kinds (a Secret or a PVC beside the ModelDeployment) are skipped with a note.
import yaml from 'js-yaml';
import type { ModelDeployment } from '../api/schema.js';
import { validateModelDeployment, type FieldError } from '../api/validate.js';
import { appliedChildren, appliedScaler, type OperatorConfig } from './index.js';

export interface RenderSource {
  /** File name (or `-` for stdin), used in error messages. */
  name: string;
  text: string;
}

export interface RenderProblem extends FieldError {
  source: string;
  /** 1-based index of the YAML document in its source. */
  document: number;
  object?: string;
}

export class RenderError extends Error {
  constructor(readonly problems: RenderProblem[]) {
    super(
      problems
        .map((p) => `${p.source}: document ${p.document}${p.object ? ` (${p.object})` : ''}: ${p.field ? `${p.field}: ` : ''}${p.message} (${p.reason})`)
        .join('\n'),
    );
    this.name = 'RenderError';
  }
}

/** The documents of a YAML stream, each parsed on its own so an error names its document. */
export function yamlDocuments(text: string): Array<{ value?: unknown; error?: string }> {
  const chunks = text.split(/^---(?=[ \t]|$)/m);
  // Text before the first separator is a document only when it holds more than comments and directives.
  if (chunks.length > 1 && !chunks[0].split('\n').some((l) => l.trim() !== '' && !/^\s*(#|%)/.test(l))) chunks.shift();
  return chunks.map((chunk) => {
    try {
      return { value: yaml.load(chunk.replace(/^\.\.\.\s*$/m, '')) };
    } catch (err) {
      return { error: ((err as Error & { reason?: string }).reason ?? (err as Error).message).split('\n')[0] };
    }
  });
}

/** Writes objects as a multi-document YAML stream (no anchors, no folded lines). */
export function dumpYamlDocuments(objects: unknown[]): string {
  return objects.map((obj) => `---\n${yaml.dump(obj, { noRefs: true, lineWidth: -1 })}`).join('');
}

/**
 * Parses every document, validates each ModelDeployment as the API server would, and renders the children of
 * all of them as multi-document YAML. Documents of other kinds are skipped; `note` hears about each.
 */
export function renderModelDeployments(sources: RenderSource[], cfg: OperatorConfig, defaultNamespace = 'default', note: (line: string) => void = () => undefined): string {
  const problems: RenderProblem[] = [];
  const valid: ModelDeployment[] = [];
  for (const source of sources) {
    yamlDocuments(source.text).forEach((doc, i) => {
      const document = i + 1;
      if (doc.error !== undefined) {
        problems.push({ source: source.name, document, field: '', message: `invalid YAML: ${doc.error}`, reason: 'InvalidYAML' });
        return;
      }
      const value = doc.value;
      if (value === null || value === undefined) return;
      const items = (value as { kind?: string }).kind === 'List' ? ((value as { items?: unknown[] }).items ?? []) : [value];
      for (const item of items) {
        const name = (item as { metadata?: { name?: string } } | null)?.metadata?.name;
        const kind = (item as { kind?: unknown } | null)?.kind;
        if (typeof kind === 'string' && kind !== 'ModelDeployment') {
          note(`${source.name}: document ${document}: skipped ${kind}${name ? ` ${name}` : ''}: not a ModelDeployment`);
          continue;
        }
        const result = validateModelDeployment(item);
        if (!result.ok) {
          for (const e of result.errors) problems.push({ source: source.name, document, object: name, ...e });
          continue;
        }
        const md = result.value;
        valid.push({ ...md, metadata: { ...md.metadata, namespace: md.metadata.namespace ?? defaultNamespace } });
      }
    });
  }
  if (problems.length) throw new RenderError(problems);
  if (valid.length === 0) {
    throw new RenderError([{ source: sources.map((s) => s.name).join(', '), document: 1, field: '', message: 'no ModelDeployment found', reason: 'FieldValueRequired' }]);
  }
  return dumpYamlDocuments(valid.flatMap((md) => [...appliedChildren(md, cfg), ...[appliedScaler(md, cfg)].filter((o) => o !== undefined)]));
}
