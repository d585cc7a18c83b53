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
    // Array.from, not map: a copy made by structuredClone may come from another realm, which CEL would not see as a list.
    return Array.from(value, (v) => toCelValue(items, v));
  }
  if (typeof value === 'object') {
    const props = (schema.properties as Record<string, Node> | undefined) ?? {};
    const extra = schema.additionalProperties as Node | undefined;
    return Object.fromEntries(Object.entries(value as Node).map(([k, v]) => [k, toCelValue(props[k] ?? extra ?? {}, v)]));
  }
  return value;
}

/** Runs one rule against the value at its node. A rule that cannot be evaluated fails, with the reason. */
export function runRule(rule: string, schema: Node, self: unknown): { ok: boolean; error?: string } {
  try {
    return { ok: program(rule)({ self: toCelValue(schema, self) }) === true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** True when the rule holds for the value at its node. */
export function evaluateRule(rule: string, schema: Node, self: unknown): boolean {
  return runRule(rule, schema, self).ok;
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
    const result = runRule(r.rule, schema, value);
    if (!result.ok) {
      const message = result.error ? `${r.message} (rule could not be evaluated: ${result.error})` : r.message;
      out.push({ field: joinPath(path, r.fieldPath), message, reason: r.reason ?? 'FieldValueInvalid', rule: r.rule });
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
