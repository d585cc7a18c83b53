// Kubernetes types embedded in the ModelDeployment spec (resources, tolerations, affinity, topology spread,
// conditions) keep their upstream OpenAPI schemas. This turns the vendored definitions into TypeBox nodes with
// every reference inlined, so one schema both checks values here and becomes the CRD's structural schema.
import { Type, Kind, TypeRegistry, FormatRegistry, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { upstreamDefinitions, type UpstreamDefinition } from './upstream-schemas.js';

export type { UpstreamDefinition };


// A string restricted to fixed values. TypeBox's own enum form is a union of literals (`anyOf`), which a
// structural CRD schema forbids, so enums are `{type: string, enum: [...]}` checked by this registered kind.
export const STRING_ENUM_KIND = 'StringEnum';
if (!TypeRegistry.Has(STRING_ENUM_KIND)) {
  TypeRegistry.Set<{ enum: string[] }>(STRING_ENUM_KIND, (schema, value) => typeof value === 'string' && schema.enum.includes(value));
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => RFC3339.test(v) && !Number.isNaN(Date.parse(v)));

/** `{type: string, enum}` as a TypeBox node that TypeBox can check. */
export function StringEnum<T extends string>(values: readonly T[], options: Record<string, unknown> = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ ...options, [Kind]: STRING_ENUM_KIND, type: 'string', enum: [...values] });
}

/** A string-keyed map (`additionalProperties`), never `patternProperties`, which CRDs forbid. */
export function StringMap<T extends TSchema>(values: T, options: Record<string, unknown> = {}): TUnsafe<Record<string, T['static']>> {
  return Type.Unsafe<Record<string, T['static']>>(Type.Object({}, { ...options, additionalProperties: values }));
}

/** Kubernetes int-or-string (Quantity, IntOrString): `anyOf: [integer, string]` with the marker CRDs require. */
export function IntOrString(options: { pattern?: string; description?: string } = {}): TUnsafe<number | string> {
  const { pattern, ...rest } = options;
  return Type.Unsafe<number | string>(
    Type.Union([Type.Integer(), Type.String(pattern ? { pattern } : {})], { ...rest, 'x-kubernetes-int-or-string': true }),
  );
}

// No upstream type embedded here is recursive; the bound turns an unexpected cycle into an error, not a hang.
const MAX_DEPTH = 24;

function convert(node: Record<string, unknown>, depth: number, trail: string): TSchema {
  if (depth > MAX_DEPTH) throw new Error(`upstream schema nests deeper than ${MAX_DEPTH}: ${trail}`);
  const description = typeof node.description === 'string' ? { description: node.description } : {};
  if (typeof node.$ref === 'string') {
    const target = upstreamDefinitions[node.$ref];
    if (!target) throw new Error(`unknown upstream definition ${node.$ref}`);
    const inlined = convert(target as Record<string, unknown>, depth + 1, `${trail} > ${node.$ref}`);
    // The property's own description says more about this use than the type's generic one.
    return description.description ? { ...inlined, ...description } : inlined;
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    return IntOrString({ ...description, ...(typeof node.pattern === 'string' ? { pattern: node.pattern } : {}) });
  }
  switch (node.type) {
    case 'string':
      if (Array.isArray(node.enum)) return StringEnum(node.enum as string[], description);
      return Type.String({ ...description, ...(typeof node.format === 'string' ? { format: node.format } : {}) });
    case 'integer':
      return Type.Integer({ ...description, ...(typeof node.format === 'string' ? { format: node.format } : {}) });
    case 'number':
      return Type.Number(description);
    case 'boolean':
      return Type.Boolean(description);
    case 'array':
      return Type.Array(convert(node.items as Record<string, unknown>, depth + 1, `${trail}[]`), description);
    case 'object': {
      if (node.additionalProperties && typeof node.additionalProperties === 'object') {
        return StringMap(convert(node.additionalProperties as Record<string, unknown>, depth + 1, `${trail}{}`), description);
      }
      const required = new Set((node.required as string[] | undefined) ?? []);
      const props: Record<string, TSchema> = {};
      for (const [key, child] of Object.entries((node.properties as Record<string, Record<string, unknown>>) ?? {})) {
        const converted = convert(child, depth + 1, `${trail}.${key}`);
        props[key] = required.has(key) ? converted : Type.Optional(converted);
      }
      return Type.Object(props, description);
    }
    default:
      throw new Error(`unsupported upstream schema node at ${trail}: ${JSON.stringify(node).slice(0, 120)}`);
  }
}

/** The upstream schema of `name` (e.g. `io.k8s.api.core.v1.Affinity`) as a TypeBox node typed as `T`. */
export function upstream<T>(name: string, options: { description?: string } = {}): TUnsafe<T> {
  const schema = convert({ $ref: name, ...options }, 0, name);
  return Type.Unsafe<T>(schema);
}
