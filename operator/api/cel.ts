// Evaluates the schema's `x-kubernetes-validations` CEL rules the way the API server does, so objects that
// reach the operator without admission (render, local mode, a CRD older than the operator) get the same verdict.
import { parse } from '@marcbachmann/cel-js';
import type { CelRule } from './schema.js';

type Node = { [key: string]: unknown };

export interface CelViolation {
  /** Path of the offending field, e.g. `spec.autoscaling.minReplicas`. */
  field: string;
  message: string;
  reason: string;
  rule: string;
}

const compiled = new Map<string, ReturnType<typeof parse>>();

function program(rule: string): ReturnType<typeof parse> {
  let p = compiled.get(rule);
  if (!p) {
    p = parse(rule);
    compiled.set(rule, p);
  }
  return p;
}

/** CEL has distinct int and double types; integer fields become BigInt as the API server presents them. */
export function toCelValue(schema: Node, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (schema['x-kubernetes-int-or-string'] === true) return typeof value === 'number' ? BigInt(value) : value;
  if (schema.type === 'integer' && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) {
    const items = (schema.items as Node | undefined) ?? {};
    return value.map((v) => toCelValue(items, v));
  }
  if (typeof value === 'object') {
    const props = (schema.properties as Record<string, Node> | undefined) ?? {};
    const extra = schema.additionalProperties as Node | undefined;
    return Object.fromEntries(Object.entries(value as Node).map(([k, v]) => [k, toCelValue(props[k] ?? extra ?? {}, v)]));
  }
  return value;
}

/** Runs one rule against the value at its node; returns true when the rule holds. Errors count as failures. */
export function evaluateRule(rule: string, schema: Node, self: unknown): boolean {
  try {
    return program(rule)({ self: toCelValue(schema, self) }) === true;
  } catch {
    return false;
  }
}

function joinPath(base: string, fieldPath: string | undefined): string {
  if (!fieldPath) return base;
  return base + fieldPath;
}

/** Every rule violated anywhere in `value`, walking the schema alongside it. */
export function celViolations(schema: Node, value: unknown, path: string): CelViolation[] {
  if (value === undefined || value === null) return [];
  const out: CelViolation[] = [];
  for (const r of (schema['x-kubernetes-validations'] as CelRule[] | undefined) ?? []) {
    if (!evaluateRule(r.rule, schema, value)) {
      out.push({ field: joinPath(path, r.fieldPath), message: r.message, reason: r.reason ?? 'FieldValueInvalid', rule: r.rule });
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => out.push(...celViolations(schema.items as Node, v, `${path}[${i}]`)));
  } else if (typeof value === 'object' && !Array.isArray(value)) {
    const props = (schema.properties as Record<string, Node> | undefined) ?? {};
    for (const [key, child] of Object.entries(props)) {
      out.push(...celViolations(child, (value as Node)[key], path ? `${path}.${key}` : key));
    }
    const extra = schema.additionalProperties;
    if (extra && typeof extra === 'object') {
      for (const [key, v] of Object.entries(value as Node)) out.push(...celViolations(extra as Node, v, `${path}[${JSON.stringify(key)}]`));
    }
  }
  return out;
}

/** Every rule in a schema with the path of the node that carries it (for tests and documentation). */
export function listRules(schema: Node, path = ''): { path: string; schema: Node; rule: CelRule }[] {
  const out: { path: string; schema: Node; rule: CelRule }[] = [];
  for (const rule of (schema['x-kubernetes-validations'] as CelRule[] | undefined) ?? []) out.push({ path, schema, rule });
  for (const [key, child] of Object.entries((schema.properties as Record<string, Node> | undefined) ?? {})) {
    out.push(...listRules(child, path ? `${path}.${key}` : key));
  }
  if (schema.items) out.push(...listRules(schema.items as Node, `${path}[]`));
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.push(...listRules(schema.additionalProperties as Node, `${path}[*]`));
  }
  return out;
}
