// Regenerates operator/api/upstream-schemas.ts from the Kubernetes OpenAPI types shipped in node_modules:
// kubernetes-models' declarations give shape, required fields, enums and descriptions; client-node's
// serializer metadata gives the integer formats that TypeScript's `number` hides. The generated file is
// vendored so the operator has no runtime dependency on either package's declaration files.
import ts from 'typescript';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';

export const UPSTREAM_ROOTS = [
  'io.k8s.api.core.v1.ResourceRequirements',
  'io.k8s.api.core.v1.Toleration',
  'io.k8s.api.core.v1.Affinity',
  'io.k8s.api.core.v1.TopologySpreadConstraint',
  'io.k8s.apimachinery.pkg.apis.meta.v1.Condition',
] as const;

export const UPSTREAM_SCHEMAS_FILE = 'operator/api/upstream-schemas.ts';

type Json = { [key: string]: unknown };

const require = createRequire(import.meta.url);
const root = process.cwd();

const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

// Scalars that the OpenAPI document describes as their own definitions but CRDs inline.
const SCALARS: Record<string, Json> = {
  'io.k8s.apimachinery.pkg.api.resource.Quantity': {
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
  },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': {
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
};

/** `IIoK8sApiCoreV1NodeAffinity` -> `io.k8s.api.core.v1.NodeAffinity` */
function definitionName(identifier: string): string {
  const body = identifier.replace(/^I(?=IoK8s)/, '');
  const scalar = Object.keys(SCALARS).find((n) => n.split('.').map((p) => p[0].toUpperCase() + p.slice(1)).join('') === body);
  if (scalar) return scalar;
  const parts = body.replace(/^IoK8s/, '').match(/[A-Z][a-z0-9]*/g);
  if (!parts) throw new Error(`cannot name ${identifier}`);
  // io.k8s.<group...>.<version>.<Kind>: everything up to the version segment is lower-case.
  const versionAt = parts.findIndex((p) => /^V\d/.test(p));
  if (versionAt < 0) throw new Error(`no version in ${identifier}`);
  const lower = parts.slice(0, versionAt + 1).map((p) => p.toLowerCase());
  return ['io', 'k8s', ...lower, parts.slice(versionAt + 1).join('')].join('.');
}

function declarationFile(name: string): string {
  const [, , ...rest] = name.split('.');
  const kind = rest.pop()!;
  let rel: string;
  if (rest[0] === 'api' && rest[1] === 'core') rel = `kubernetes-models/${rest[2]}/${kind}.d.ts`;
  else if (rest[0] === 'apimachinery') rel = `@kubernetes-models/apimachinery/${rest.slice(2).join('/')}/${kind}.d.ts`;
  else throw new Error(`no declaration mapping for ${name}`);
  const file = path.join(root, 'node_modules', rel);
  if (!existsSync(file)) throw new Error(`missing ${file}`);
  return file;
}

function clientNodeFormats(name: string): Map<string, { type: string; format: string }> {
  const kind = name.split('.').pop()!;
  const version = name.split('.').at(-2)!;
  const prefix = version[0].toUpperCase() + version.slice(1);
  const lib = k8s as unknown as Record<string, { attributeTypeMap?: { name: string; baseName: string; type: string; format: string }[] }>;
  const cls = lib[`${prefix}${kind}`] ?? lib[`Core${prefix}${kind}`];
  if (!cls?.attributeTypeMap) throw new Error(`client-node has no model for ${name}`);
  return new Map(cls.attributeTypeMap.map((a) => [a.baseName, { type: a.type, format: a.format }]));
}

function jsDocText(node: ts.Node): string | undefined {
  const docs = (node as { jsDoc?: ts.JSDoc[] }).jsDoc;
  if (!docs?.length) return undefined;
  const raw = docs.map((d) => (typeof d.comment === 'string' ? d.comment : ts.getTextOfJSDocComment(d.comment) ?? '')).join('\n');
  // kubernetes-models appends an enum catalogue that is not part of the upstream description.
  return raw.split(/\n\s*\nPossible enum values:/)[0].trim() || undefined;
}

function typeToSchema(node: ts.TypeNode, owner: string, prop: string, formats: Map<string, { type: string; format: string }>, refs: Set<string>): Json {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { type: 'string' };
    case ts.SyntaxKind.BooleanKeyword:
      return { type: 'boolean' };
    case ts.SyntaxKind.NumberKeyword: {
      const f = formats.get(prop);
      if (!f) throw new Error(`no format for ${owner}.${prop}`);
      if (f.format === 'int32' || f.format === 'int64') return { type: 'integer', format: f.format };
      return { type: 'number', ...(f.format ? { format: f.format } : {}) };
    }
    case ts.SyntaxKind.UnionType: {
      const members = (node as ts.UnionTypeNode).types;
      const literals = members.map((m) => (ts.isLiteralTypeNode(m) && ts.isStringLiteral(m.literal) ? m.literal.text : undefined));
      if (literals.every((l) => l !== undefined)) return { type: 'string', enum: literals };
      throw new Error(`unsupported union at ${owner}.${prop}`);
    }
    case ts.SyntaxKind.ArrayType:
      return { type: 'array', items: typeToSchema((node as ts.ArrayTypeNode).elementType, owner, prop, formats, refs) };
    case ts.SyntaxKind.TypeLiteral: {
      const index = (node as ts.TypeLiteralNode).members.find(ts.isIndexSignatureDeclaration);
      if (!index) throw new Error(`unsupported type literal at ${owner}.${prop}`);
      return { type: 'object', additionalProperties: typeToSchema(index.type, owner, prop, formats, refs) };
    }
    case ts.SyntaxKind.TypeReference: {
      const ref = node as ts.TypeReferenceNode;
      const id = ref.typeName.getText();
      if (id === 'Array' && ref.typeArguments?.length === 1) {
        return { type: 'array', items: typeToSchema(ref.typeArguments[0], owner, prop, formats, refs) };
      }
      const name = definitionName(id);
      if (SCALARS[name]) return structuredClone(SCALARS[name]);
      refs.add(name);
      return { $ref: name };
    }
    default:
      throw new Error(`unsupported type ${ts.SyntaxKind[node.kind]} at ${owner}.${prop}`);
  }
}

function readDefinition(name: string, refs: Set<string>): Json {
  const file = declarationFile(name);
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const kind = name.split('.').pop()!;
  const iface = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === `I${kind}`);
  if (!iface) throw new Error(`no interface I${kind} in ${file}`);
  const formats = clientNodeFormats(name);
  const properties: Record<string, Json> = {};
  const required: string[] = [];
  for (const member of iface.members) {
    if (!ts.isPropertySignature(member) || !member.type) continue;
    const prop = ts.isStringLiteral(member.name) ? member.name.text : member.name.getText();
    const schema = typeToSchema(member.type, name, prop, formats, refs);
    const description = jsDocText(member);
    properties[prop] = description ? { description, ...schema } : schema;
    if (!member.questionToken) required.push(prop);
  }
  const description = jsDocText(iface);
  return {
    ...(description ? { description } : {}),
    type: 'object',
    properties,
    ...(required.length ? { required: required.sort() } : {}),
  };
}

/** Every definition reachable from the roots, keyed by OpenAPI name, refs left as `{ $ref: name }`. */
export function readUpstreamDefinitions(): Record<string, Json> {
  const out: Record<string, Json> = {};
  const pending = [...UPSTREAM_ROOTS] as string[];
  while (pending.length) {
    const name = pending.pop()!;
    if (out[name]) continue;
    const refs = new Set<string>();
    out[name] = readDefinition(name, refs);
    for (const r of refs) if (!out[r]) pending.push(r);
  }
  return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
}

export function renderUpstreamSchemasModule(): string {
  const pkgVersion = (p: string) => (JSON.parse(readFileSync(require.resolve(`${p}/package.json`, { paths: [root] }), 'utf8')) as { version: string }).version;
  const defs = readUpstreamDefinitions();
  return [
    '// Generated from the Kubernetes OpenAPI types in kubernetes-models ' + pkgVersion('kubernetes-models') +
      ' and @kubernetes/client-node ' + pkgVersion('@kubernetes/client-node') + '.',
    '// Do not edit: regenerate with `UPDATE_UPSTREAM_SCHEMAS=1 npx jest test/operator/api/upstream-schemas.test.ts`.',
    '/** One OpenAPI definition of a Kubernetes type, as the API server publishes it. */',
    'export type UpstreamDefinition = { [key: string]: unknown };',
    '',
    `export const upstreamDefinitions: Record<string, UpstreamDefinition> = ${JSON.stringify(defs, null, 2)};`,
    '',
  ].join('\n');
}
