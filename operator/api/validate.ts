// The operator's own admission: defaults, the structural schema and the CEL rules, all read from the one
// schema in schema.ts. Errors name the field and carry a stable reason in the API server's vocabulary.
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { API_VERSION, KIND, ModelDeploymentSpecSchema, type ModelDeployment, type ModelDeploymentSpec } from './schema.js';
import { celViolations } from './cel.js';
import { didYouMean, quoteHint } from './hints.js';
import { quantityValue } from '../../common/quantity.js';

export interface FieldError {
  /** Dotted path with indices, e.g. `spec.scheduling.tolerations[0].effect`. */
  field: string;
  message: string;
  /** FieldValueRequired | FieldValueInvalid | FieldValueNotSupported | FieldValueTypeInvalid | FieldValueForbidden | FieldValueDuplicate | FieldValueUnknown */
  reason: string;
}

export type ValidationResult = { ok: true; value: ModelDeployment } | { ok: false; errors: FieldError[] };

type Node = { [key: string]: unknown };

/** `/scheduling/tolerations/0/key` under `spec` -> `spec.scheduling.tolerations[0].key` */
function fieldPath(prefix: string, pointer: string): string {
  let out = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function describe(error: ValueError): { message: string; reason: string } {
  const s = error.schema as Node;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { message: 'Required value', reason: 'FieldValueRequired' };
    case ValueErrorType.Kind:
      if (Array.isArray(s.enum)) return { message: `Unsupported value ${JSON.stringify(error.value)}: supported values are ${(s.enum as string[]).map((v) => JSON.stringify(v)).join(', ')}`, reason: 'FieldValueNotSupported' };
      return { message: error.message, reason: 'FieldValueInvalid' };
    case ValueErrorType.String:
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
    case ValueErrorType.Boolean:
    case ValueErrorType.Object:
    case ValueErrorType.Array:
      return { message: `Invalid value ${JSON.stringify(error.value)}: ${error.message.toLowerCase()}`, reason: 'FieldValueTypeInvalid' };
    case ValueErrorType.Union:
      if (s['x-kubernetes-int-or-string'] === true) {
        return { message: `Invalid value ${JSON.stringify(error.value)}: must be an integer or a string${typeof (s.anyOf as Node[])?.[1]?.pattern === 'string' ? ' in Kubernetes quantity form (e.g. 500m, 4Gi)' : ''}`, reason: 'FieldValueInvalid' };
      }
      return { message: error.message, reason: 'FieldValueInvalid' };
    case ValueErrorType.StringMaxLength:
      return { message: `Too long: may not be longer than ${String(s.maxLength)}`, reason: 'FieldValueTooLong' };
    case ValueErrorType.ArrayMaxItems:
      return { message: `Too many: ${(error.value as unknown[]).length}: must have at most ${String(s.maxItems)} items`, reason: 'FieldValueTooMany' };
    case ValueErrorType.ObjectMaxProperties:
      return { message: `Too many: ${Object.keys(error.value as object).length}: must have at most ${String(s.maxProperties)} items`, reason: 'FieldValueTooMany' };
    case ValueErrorType.StringFormat:
      return { message: `Invalid value ${JSON.stringify(error.value)}: must be a ${String(s.format)} string`, reason: 'FieldValueInvalid' };
    default:
      return { message: `Invalid value ${JSON.stringify(error.value)}: ${error.message.toLowerCase()}`, reason: 'FieldValueInvalid' };
  }
}

/** Errors after which a v1.28 API server does not run CEL rules. */
const BLOCKING_REASONS = new Set(['FieldValueRequired', 'FieldValueTypeInvalid', 'FieldValueTooLong', 'FieldValueTooMany']);

/** Fields the schema does not know; the API server prunes them, kubectl's strict validation rejects them. */
function unknownFields(schema: Node, value: unknown, path: string): FieldError[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) {
    return schema.items ? value.flatMap((v, i) => unknownFields(schema.items as Node, v, `${path}[${i}]`)) : [];
  }
  const props = schema.properties as Record<string, Node> | undefined;
  const extra = schema.additionalProperties;
  const out: FieldError[] = [];
  for (const [key, v] of Object.entries(value as Node)) {
    const child = props?.[key] ?? (extra && typeof extra === 'object' ? (extra as Node) : undefined);
    const childPath = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
    if (!child) {
      const hint = props && didYouMean(key, Object.keys(props));
      if (props && !extra) out.push({ field: childPath, message: `unknown field "${key}"${hint ? `; ${hint}` : ''}`, reason: 'FieldValueUnknown' });
      continue;
    }
    out.push(...unknownFields(child, v, childPath));
  }
  return out;
}

/**
 * Checks the API server cannot make, since CEL in Kubernetes 1.28 reads no resource quantities: the operator (and
 * render, and local mode) refuses what they find, and kubectl apply does not. The KV cache lives in host memory,
 * next to the model's weights, so a budget above the container's memory limit could only end in an OOM kill.
 */
function quantityViolations(spec: ModelDeploymentSpec): FieldError[] {
  const budget = spec.runtime.generation?.maxKvCacheBytes;
  const limit = spec.resources?.limits?.memory;
  const bytes = quantityValue(limit);
  if (budget === undefined || bytes === undefined || budget <= bytes) return [];
  return [{
    field: 'spec.runtime.generation.maxKvCacheBytes',
    message: `Invalid value ${budget}: the KV cache is held in host memory, and ${budget} bytes exceed resources.limits.memory ${JSON.stringify(limit)} (${bytes} bytes); lower it or raise the limit`,
    reason: 'FieldValueInvalid',
  }];
}

/** The spec with schema defaults applied (a copy; the input is not changed). */
export function withDefaults(spec: unknown): ModelDeploymentSpec {
  // A JSON copy (a spec is JSON data): structuredClone makes arrays of the host realm, which the CEL library
  // refuses when the code runs in another realm (a vm context, as under jest).
  const copy: unknown = spec === undefined ? undefined : JSON.parse(JSON.stringify(spec));
  return Value.Default(ModelDeploymentSpecSchema, copy) as ModelDeploymentSpec;
}

/**
 * Checks a ModelDeployment as the API server would (defaults, structural schema, CEL rules, unknown fields)
 * and returns it with defaults applied, or every problem found.
 */
export function validateModelDeployment(obj: unknown): ValidationResult {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return { ok: false, errors: [{ field: '', message: 'a ModelDeployment must be an object', reason: 'FieldValueTypeInvalid' }] };
  }
  const input = obj as Node;
  const errors: FieldError[] = [];
  if (input.apiVersion !== API_VERSION) {
    errors.push({ field: 'apiVersion', message: `Unsupported value ${JSON.stringify(input.apiVersion)}: supported values are "${API_VERSION}"`, reason: 'FieldValueNotSupported' });
  }
  if (input.kind !== KIND) {
    errors.push({ field: 'kind', message: `Unsupported value ${JSON.stringify(input.kind)}: supported values are "${KIND}"`, reason: 'FieldValueNotSupported' });
  }
  const metadata = input.metadata as Node | undefined;
  if (!metadata || typeof metadata !== 'object' || typeof metadata.name !== 'string' || metadata.name === '') {
    errors.push({ field: 'metadata.name', message: 'Required value', reason: 'FieldValueRequired' });
  }
  if (input.spec === undefined || input.spec === null) {
    errors.push({ field: 'spec', message: 'Required value', reason: 'FieldValueRequired' });
    return { ok: false, errors };
  }
  const spec = withDefaults(input.spec);
  const structural = [...Value.Errors(ModelDeploymentSpecSchema, spec)];
  // TypeBox reports a failed union once per branch; one message per field is enough.
  const seen = new Set<string>();
  for (const e of structural) {
    const field = fieldPath('spec', e.path);
    if (seen.has(field)) continue;
    seen.add(field);
    const d = describe(e);
    const hint = e.type === ValueErrorType.String ? quoteHint(field, e.value) : undefined;
    errors.push({ field, ...d, ...(hint ? { message: `${d.message}; ${hint}` } : {}) });
  }
  errors.push(...unknownFields(ModelDeploymentSpecSchema as unknown as Node, spec, 'spec'));
  // As on the API server, CEL rules run unless an error says the object's shape is wrong (a missing or mistyped
  // field, a string or list past its bound): they assume that shape. Other schema errors leave them running.
  if (errors.some((e) => BLOCKING_REASONS.has(e.reason))) {
    errors.push({ field: '', message: 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation', reason: 'FieldValueInvalid' });
  } else {
    for (const v of celViolations(ModelDeploymentSpecSchema as unknown as Node, spec, 'spec')) {
      errors.push({ field: v.field, message: v.message, reason: v.reason });
    }
    errors.push(...quantityViolations(spec));
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { ...(input as unknown as ModelDeployment), spec } };
}

/** One line per error, `field: message (reason)`, for logs, conditions and CLI output. */
export function formatErrors(errors: FieldError[]): string {
  return errors.map((e) => `${e.field || '<root>'}: ${e.message} (${e.reason})`).join('; ');
}
