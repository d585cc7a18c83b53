// `modelplane render`: ModelDeployment manifests in, the children the operator would apply out, as YAML.
import { parseAllDocuments, stringify } from 'yaml';
import type { ModelDeployment } from '../api/schema.js';
import { validateModelDeployment, type FieldError } from '../api/validate.js';
import { desiredChildren, desiredScaler, type OperatorConfig } from './index.js';

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

/** Parses every document, validates each as the API server would, and renders all children as multi-document YAML. */
export function renderModelDeployments(sources: RenderSource[], cfg: OperatorConfig, defaultNamespace = 'default'): string {
  const problems: RenderProblem[] = [];
  const valid: ModelDeployment[] = [];
  for (const source of sources) {
    parseAllDocuments(source.text).forEach((doc, i) => {
      const document = i + 1;
      if (doc.errors.length) {
        problems.push({ source: source.name, document, field: '', message: `invalid YAML: ${doc.errors[0].message.split('\n')[0]}`, reason: 'InvalidYAML' });
        return;
      }
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) return;
      const items = (value as { kind?: string }).kind === 'List' ? ((value as { items?: unknown[] }).items ?? []) : [value];
      for (const item of items) {
        const name = (item as { metadata?: { name?: string } } | null)?.metadata?.name;
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
  return valid
    .flatMap((md) => [...desiredChildren(md, cfg), ...[desiredScaler(md, cfg)].filter((o) => o !== undefined)])
    .map((obj) => `---\n${stringify(obj, { lineWidth: 0, aliasDuplicateObjects: false })}`)
    .join('');
}
