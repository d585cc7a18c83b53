// What a Kubernetes API server does with a CRD's structural schema when an object is written: drop fields the
// schema does not know (pruning), fill in defaults, validate the value (kube-openapi's checks, list-type maps and
// sets) and run the x-kubernetes-validations CEL rules; each failure worded as the server words it.
import { runRule } from '../../../operator/api/cel.js';
import type { ApiFieldError } from './field-errors.js';
import { clone, deepEqual, isObject, type Json, type JsonObject } from './fields.js';

export type Schema = { [key: string]: unknown };

const props = (s: Schema) => (s.properties as Record<string, Schema> | undefined) ?? {};
const extra = (s: Schema) => (isObject(s.additionalProperties as Json) ? (s.additionalProperties as Schema) : undefined);
const keepsUnknown = (s: Schema) => s['x-kubernetes-preserve-unknown-fields'] === true;
const embedded = (s: Schema) => s['x-kubernetes-embedded-resource'] === true;
const TYPE_META = ['apiVersion', 'kind', 'metadata'];

/** A copy of `value` without the fields `schema` does not know; nulls the schema does not allow are dropped too. */
export function prune(schema: Schema, value: Json, isRoot = false): Json {
  if (Array.isArray(value)) {
    const items = schema.items as Schema | undefined;
    return items ? value.map((v) => prune(items, v)) : value;
  }
  if (!isObject(value)) return value;
  if (keepsUnknown(schema) && !schema.properties && !schema.additionalProperties) return value;
  const known = props(schema);
  const more = extra(schema);
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    const child = known[k] ?? more;
    // apiVersion, kind and metadata of a resource follow the server's own rules, not the schema's.
    if ((isRoot || embedded(schema)) && TYPE_META.includes(k)) {
      out[k] = v;
      continue;
    }
    if (!child) {
      if (keepsUnknown(schema)) out[k] = v;
      continue;
    }
    if (v === null && child.nullable !== true && child.default === undefined) continue;
    out[k] = prune(child, v);
  }
  return out;
}

/** Fills in defaults where a field is absent (or a null the schema does not allow), then within them. */
export function applyDefaults(schema: Schema, value: Json): Json {
  if (Array.isArray(value)) {
    const items = schema.items as Schema | undefined;
    return items ? value.map((v) => applyDefaults(items, v)) : value;
  }
  if (!isObject(value)) return value;
  const out: JsonObject = { ...value };
  for (const [k, child] of Object.entries(props(schema))) {
    if (child.default === undefined) continue;
    if (!(k in out) || (out[k] === null && child.nullable !== true)) out[k] = clone(child.default as Json);
  }
  const more = extra(schema);
  for (const [k, v] of Object.entries(out)) {
    const child = props(schema)[k] ?? more;
    if (child) out[k] = applyDefaults(child, v);
  }
  return out;
}

function typeName(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(type: unknown, v: Json): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number';
    default: return true;
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Where a value sits, both as kube-openapi names it in messages (`spec.replicas`) and as the field path of the error. */
interface Place {
  /** Dotted name relative to what is validated, as kube-openapi's messages say it ('' at the root). */
  name: string;
  /** Prefix of every error's field path (e.g. `spec.validation.openAPIV3Schema...default` for a CRD default). */
  base: string;
}

const child = (p: Place, key: string | number): Place => ({ base: p.base, name: p.name ? `${p.name}.${key}` : String(key) });
const fieldOf = (p: Place) => [p.base, p.name].filter(Boolean).join('.');
const nameOf = (p: Place) => p.name || '.';

/** kube-openapi's checks of one value against one node, turned into field errors as apiextensions does. */
export function validateSchema(schema: Schema, value: Json, at: Place): ApiFieldError[] {
  const field = fieldOf(at);
  const name = nameOf(at);
  if (value === null) {
    if (schema.nullable === true) return [];
    return schema.type ? [{ type: 'FieldValueTypeInvalid', field, value: 'null', detail: `${name} in body must be of type ${String(schema.type)}: "null"` }] : [];
  }
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
      return [{ type: 'FieldValueTypeInvalid', field, value: typeName(value), detail: `${name} in body must be of type integer,string: "${typeName(value)}"` }];
    }
  } else if (schema.type && !typeMatches(schema.type, value)) {
    return [{ type: 'FieldValueTypeInvalid', field, value: typeName(value), detail: `${name} in body must be of type ${String(schema.type)}: "${typeName(value)}"` }];
  }
  const errors: ApiFieldError[] = [];
  if (typeof value === 'string') errors.push(...stringErrors(schema, value, field, name));
  if (typeof value === 'number') errors.push(...numberErrors(schema, value, field, name));
  if (Array.isArray(value)) errors.push(...arrayErrors(schema, value, at));
  if (isObject(value)) errors.push(...objectErrors(schema, value, at));
  return errors;
}

function stringErrors(schema: Schema, value: string, field: string, name: string): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  const length = [...value].length;
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    errors.push({ type: 'FieldValueNotSupported', field, value, detail: `supported values: ${(schema.enum as string[]).map((v) => JSON.stringify(v)).join(', ')}` });
  }
  if (typeof schema.maxLength === 'number' && length > schema.maxLength) errors.push({ type: 'FieldValueTooLong', field, detail: `may not be longer than ${schema.maxLength}` });
  if (typeof schema.minLength === 'number' && length < schema.minLength) errors.push({ type: 'FieldValueInvalid', field, value, detail: `${name} in body should be at least ${schema.minLength} chars long` });
  if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push({ type: 'FieldValueInvalid', field, value, detail: `${name} in body should match '${schema.pattern}'` });
  if (schema.format === 'date-time' && !(RFC3339.test(value) && !Number.isNaN(Date.parse(value)))) {
    errors.push({ type: 'FieldValueTypeInvalid', field, value, detail: `${name} in body must be of type date-time: ${JSON.stringify(value)}` });
  }
  return errors;
}

function numberErrors(schema: Schema, value: number, field: string, name: string): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  if (typeof schema.minimum === 'number') {
    const ex = schema.exclusiveMinimum === true;
    if (ex ? value <= schema.minimum : value < schema.minimum) errors.push({ type: 'FieldValueInvalid', field, value, detail: `${name} in body should be greater than ${ex ? '' : 'or equal to '}${schema.minimum}` });
  }
  if (typeof schema.maximum === 'number') {
    const ex = schema.exclusiveMaximum === true;
    if (ex ? value >= schema.maximum : value > schema.maximum) errors.push({ type: 'FieldValueInvalid', field, value, detail: `${name} in body should be less than ${ex ? '' : 'or equal to '}${schema.maximum}` });
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    errors.push({ type: 'FieldValueNotSupported', field, value, detail: `supported values: ${(schema.enum as number[]).join(', ')}` });
  }
  return errors;
}

function arrayErrors(schema: Schema, value: Json[], at: Place): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  const field = fieldOf(at);
  if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) errors.push({ type: 'FieldValueTooMany', field, value: value.length, detail: `must have at most ${schema.maxItems} items` });
  if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push({ type: 'FieldValueInvalid', field, value, detail: `${nameOf(at)} in body should have at least ${schema.minItems} items` });
  const items = schema.items as Schema | undefined;
  if (items) value.forEach((v, i) => errors.push(...validateSchema(items, v, child(at, i))));
  return errors;
}

function objectErrors(schema: Schema, value: JsonObject, at: Place): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  const field = fieldOf(at);
  const count = Object.keys(value).length;
  if (typeof schema.maxProperties === 'number' && count > schema.maxProperties) errors.push({ type: 'FieldValueTooMany', field, value: count, detail: `must have at most ${schema.maxProperties} items` });
  if (typeof schema.minProperties === 'number' && count < schema.minProperties) errors.push({ type: 'FieldValueInvalid', field, value, detail: `${nameOf(at)} in body should have at least ${schema.minProperties} properties` });
  for (const r of (schema.required as string[] | undefined) ?? []) {
    if (!(r in value)) errors.push({ type: 'FieldValueRequired', field: fieldOf(child(at, r)) });
  }
  const more = extra(schema);
  for (const [k, v] of Object.entries(value)) {
    const node = props(schema)[k] ?? more;
    if (node) errors.push(...validateSchema(node, v, child(at, k)));
  }
  return errors;
}

/** x-kubernetes-list-type map and set: no two items with the same keys (map) or the same value (set). */
export function listTypeErrors(schema: Schema, value: Json, path: string): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  if (Array.isArray(value)) {
    const kind = schema['x-kubernetes-list-type'];
    const keys = (schema['x-kubernetes-list-map-keys'] as string[] | undefined) ?? [];
    const seen: Json[] = [];
    value.forEach((item, i) => {
      const identity: Json = kind === 'map' && isObject(item) ? Object.fromEntries(keys.filter((k) => k in item).map((k) => [k, item[k]])) : item;
      if ((kind === 'map' || kind === 'set') && seen.some((s) => deepEqual(s, identity))) errors.push({ type: 'FieldValueDuplicate', field: `${path}[${i}]`, value: identity });
      seen.push(identity);
    });
    const items = schema.items as Schema | undefined;
    if (items) value.forEach((v, i) => errors.push(...listTypeErrors(items, v, `${path}[${i}]`)));
  } else if (isObject(value)) {
    const more = extra(schema);
    for (const [k, v] of Object.entries(value)) {
      const node = props(schema)[k];
      if (node) errors.push(...listTypeErrors(node, v, path ? `${path}.${k}` : k));
      else if (more) errors.push(...listTypeErrors(more, v, `${path}[${k}]`));
    }
  }
  return errors;
}

interface CelRuleNode {
  rule: string;
  message?: string;
  reason?: string;
  fieldPath?: string;
}

/** `fieldErrorForReason`: how the server words a failed rule; a Duplicate names only the node's type. */
function celError(field: string, type: string, message: string, reason: string | undefined): ApiFieldError {
  switch (reason) {
    case 'FieldValueForbidden':
      return { type: 'FieldValueForbidden', field, detail: message };
    case 'FieldValueRequired':
      return { type: 'FieldValueRequired', field, detail: message };
    case 'FieldValueDuplicate':
      return { type: 'FieldValueDuplicate', field, value: type };
    default:
      return { type: 'FieldValueInvalid', field, value: type, detail: message };
  }
}

/** Every x-kubernetes-validations rule that fails anywhere in `value` (field paths as field.Path prints them). */
export function celErrors(schema: Schema, value: Json | undefined, path: string): ApiFieldError[] {
  if (value === undefined || value === null) return [];
  const errors: ApiFieldError[] = [];
  for (const r of (schema['x-kubernetes-validations'] as CelRuleNode[] | undefined) ?? []) {
    const result = runRule(r.rule, schema, value);
    if (result.ok) continue;
    const message = result.error ? `rule evaluation error: ${result.error}` : r.message ?? `failed rule: ${r.rule}`;
    errors.push(celError(path + (r.fieldPath ?? ''), String(schema.type ?? ''), message, r.reason));
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errors.push(...celErrors(schema.items as Schema, v, `${path}[${i}]`)));
  if (isObject(value)) {
    const more = extra(schema);
    for (const [k, v] of Object.entries(value)) {
      const node = props(schema)[k];
      if (node) errors.push(...celErrors(node, v, path ? `${path}.${k}` : k));
      else if (more) errors.push(...celErrors(more, v, `${path}[${k}]`));
    }
  }
  return errors;
}

/** Errors that keep CEL from running (its rules and their cost bounds assume the object's shape), as on a v1.28 server. */
const BLOCKING = new Set(['FieldValueTypeInvalid', 'FieldValueRequired', 'FieldValueTooLong', 'FieldValueTooMany']);

/** Where the scale subresource reads and writes replicas: each must hold a non-negative integer. */
export interface ScalePaths {
  specReplicasPath: string[];
  statusReplicasPath: string[];
}

/** The scale subresource's own checks of the replicas paths, worded and placed (`.spec.replicas`) as the server does. */
function scaleErrors(scale: ScalePaths | undefined, obj: JsonObject): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  for (const path of scale ? [scale.specReplicasPath, scale.statusReplicasPath] : []) {
    let v: Json | undefined = obj;
    for (const k of path) v = isObject(v as Json) ? (v as JsonObject)[k] : undefined;
    if (v === undefined) continue;
    const field = `.${path.join('.')}`;
    if (typeof v !== 'number' || !Number.isInteger(v)) errors.push({ type: 'FieldValueInvalid', field, value: 0, detail: `${field} accessor error: ${String(v)} is of the type ${typeName(v)}, expected int64` });
    else if (v < 0) errors.push({ type: 'FieldValueInvalid', field, value: v, detail: 'should be a non-negative integer' });
  }
  return errors;
}

/**
 * The whole of a custom resource's validation on write, as apiextensions' strategy runs it: the schema, the scale
 * paths, list types, then CEL unless an error already says the object's shape is wrong.
 */
export function validateObject(schema: Schema, obj: JsonObject, scale?: ScalePaths): ApiFieldError[] {
  const errors = [...validateSchema(schema, obj, { name: '', base: '' }), ...scaleErrors(scale, obj), ...listTypeErrors(schema, obj, '')];
  if (errors.some((e) => BLOCKING.has(e.type))) {
    errors.push({ type: 'FieldValueInvalid', field: '<nil>', value: 'null', detail: 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation' });
    return errors;
  }
  return [...errors, ...celErrors(schema, obj, '')];
}

/**
 * A CRD schema's defaults checked as the server checks them when the CRD is written: each default, as written
 * (nested defaults not filled in), must pass its node's schema and CEL rules and hold no field the node would prune.
 */
export function defaultErrors(schema: Schema, path: string): ApiFieldError[] {
  const errors: ApiFieldError[] = [];
  if (schema.default !== undefined) {
    const at: Place = { base: `${path}.default`, name: '' };
    const value = schema.default as Json;
    const pruned = prune(schema, clone(value));
    const schemaErrors = validateSchema(schema, value, at);
    if (!deepEqual(pruned, value)) errors.push({ type: 'FieldValueInvalid', field: `${path}.default`, value, detail: 'must not have unknown fields' });
    else if (schemaErrors.length) errors.push(...schemaErrors);
    else errors.push(...celErrors(schema, value, `${path}.default`));
  }
  if (schema.items) errors.push(...defaultErrors(schema.items as Schema, `${path}.items`));
  for (const [k, node] of Object.entries(props(schema))) errors.push(...defaultErrors(node, `${path}.properties[${k}]`));
  return errors;
}
