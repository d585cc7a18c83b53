// Object paths, merge patches and field ownership: the parts of server-side apply the operator relies on.
// Lists are atomic (owned whole by whoever last set them); maps are owned leaf by leaf.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export type FieldPath = string[];

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as JsonObject)[k], (b as JsonObject)[k]));
}

export function getAt(obj: unknown, path: FieldPath): Json | undefined {
  let cur: unknown = obj;
  for (const key of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur as Json | undefined;
}

export function setAt(obj: JsonObject, path: FieldPath, value: Json): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (!isObject(cur[key])) cur[key] = {};
    cur = cur[key] as JsonObject;
  }
  cur[path[path.length - 1]] = value;
}

/** Removes the field and any parent maps the removal leaves empty. */
export function deleteAt(obj: JsonObject, path: FieldPath): void {
  const parents: JsonObject[] = [obj];
  let cur: unknown = obj;
  for (const key of path.slice(0, -1)) {
    if (!isObject(cur)) return;
    cur = cur[key];
    if (!isObject(cur)) return;
    parents.push(cur);
  }
  delete parents[parents.length - 1][path[path.length - 1]];
  for (let i = parents.length - 1; i > 0; i--) {
    if (Object.keys(parents[i]).length > 0) break;
    delete parents[i - 1][path[i - 1]];
  }
}

/** Paths of every leaf: scalars and lists. An empty map owns nothing, so it is no leaf. */
export function leafPaths(obj: unknown, prefix: FieldPath = []): FieldPath[] {
  if (!isObject(obj)) return prefix.length ? [prefix] : [];
  const out: FieldPath[] = [];
  for (const [k, v] of Object.entries(obj)) out.push(...leafPaths(v, [...prefix, k]));
  return out;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): Json {
  if (!isObject(patch)) return clone(patch as Json);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Deep merge for apply: maps merge, everything else (lists included) is replaced. */
export function applyMerge(target: JsonObject, config: JsonObject): void {
  for (const [k, v] of Object.entries(config)) {
    if (isObject(v) && isObject(target[k])) applyMerge(target[k] as JsonObject, v);
    else target[k] = clone(v);
  }
}

/** RFC 6902 JSON patch: add, replace, remove, test. */
export function jsonPatch(target: Json, ops: Array<{ op: string; path: string; value?: Json }>): Json {
  let doc = clone(target);
  for (const op of ops) {
    const path = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (path.length === 0) {
      if (op.op === 'add' || op.op === 'replace') doc = clone(op.value ?? null);
      continue;
    }
    let parent: unknown = doc;
    for (const key of path.slice(0, -1)) parent = Array.isArray(parent) ? parent[Number(key)] : (parent as JsonObject)?.[key];
    const last = path[path.length - 1];
    if (parent === null || typeof parent !== 'object') throw new Error(`path ${op.path} does not exist`);
    if (op.op === 'test') {
      const cur = Array.isArray(parent) ? parent[Number(last)] : (parent as JsonObject)[last];
      if (!deepEqual(cur, op.value)) throw new Error(`test failed at ${op.path}`);
    } else if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as JsonObject)[last];
    } else if (op.op === 'add' || op.op === 'replace') {
      if (Array.isArray(parent)) {
        if (last === '-') parent.push(clone(op.value ?? null));
        else if (op.op === 'add') parent.splice(Number(last), 0, clone(op.value ?? null));
        else parent[Number(last)] = clone(op.value ?? null);
      } else (parent as JsonObject)[last] = clone(op.value ?? null);
    } else throw new Error(`unsupported JSON patch op ${op.op}`);
  }
  return doc;
}

const key = (p: FieldPath): string => JSON.stringify(p);

function overlaps(a: FieldPath, b: FieldPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface ManagerEntry {
  operation: 'Apply' | 'Update';
  subresource?: string;
  apiVersion: string;
  time: string;
  paths: Map<string, FieldPath>;
}

/**
 * Managers of one object, keyed by manager name, operation and subresource ('' for the main resource): as on a real
 * server, what a manager set by an update (a create, a patch) and what it set by an apply are separate entries.
 */
export type Managers = Map<string, ManagerEntry>;

export const managerKey = (manager: string, operation: ManagerEntry['operation'], subresource = '') => `${manager}\u0000${operation}\u0000${subresource}`;

export class ApplyConflict extends Error {
  constructor(readonly conflicts: Array<{ manager: string; path: FieldPath }>) {
    super(`Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${conflicts.map((c) => `conflict with "${c.manager}": .${c.path.join('.')}`).join('; ')}`);
  }
}

/**
 * Server-side apply of `config` (only the fields this section may set) onto `live` by `manager`.
 * Fields the manager set last time and omits now are removed unless another manager also owns them.
 */
export function applySection(live: JsonObject, config: JsonObject, managers: Managers, manager: string, subresource: string, force: boolean, apiVersion: string): JsonObject {
  const newPaths = leafPaths(config);
  const me = managerKey(manager, 'Apply', subresource);
  const conflicts: Array<{ manager: string; path: FieldPath }> = [];
  for (const [mk, entry] of managers) {
    if (mk === me) continue;
    for (const owned of entry.paths.values()) {
      for (const p of newPaths) {
        if (!overlaps(owned, p)) continue;
        if (!force && entry.operation === 'Apply' && !deepEqual(getAt(live, owned), getAt(config, owned))) conflicts.push({ manager: mk.split('\u0000')[0], path: owned });
      }
    }
  }
  if (conflicts.length) throw new ApplyConflict(conflicts);
  // Force (or agreement): the applier takes the fields over.
  for (const [mk, entry] of managers) {
    if (mk === me) continue;
    for (const [k, owned] of entry.paths) if (newPaths.some((p) => overlaps(owned, p))) entry.paths.delete(k);
    if (entry.paths.size === 0) managers.delete(mk);
  }
  const result = clone(live);
  const previous = managers.get(me);
  if (previous) {
    for (const owned of previous.paths.values()) {
      if (newPaths.some((p) => overlaps(owned, p))) continue;
      const ownedByOther = [...managers].some(([mk, e]) => mk !== me && [...e.paths.values()].some((o) => overlaps(o, owned)));
      if (!ownedByOther) deleteAt(result, owned);
    }
  }
  applyMerge(result, config);
  managers.set(me, { operation: 'Apply', subresource: subresource || undefined, apiVersion, time: new Date().toISOString(), paths: new Map(newPaths.map((p) => [key(p), p])) });
  return result;
}

/** Records the fields an update (PUT or patch) changed as owned by its manager. */
export function recordUpdate(before: JsonObject, after: JsonObject, managers: Managers, manager: string, subresource: string, apiVersion: string): void {
  const changed = leafPaths(after).filter((p) => !deepEqual(getAt(before, p), getAt(after, p)));
  const removed = leafPaths(before).filter((p) => getAt(after, p) === undefined);
  if (changed.length === 0 && removed.length === 0) return;
  for (const [mk, entry] of managers) {
    for (const [k, owned] of entry.paths) {
      if (changed.some((p) => overlaps(owned, p)) || removed.some((p) => overlaps(owned, p))) entry.paths.delete(k);
    }
    if (entry.paths.size === 0) managers.delete(mk);
  }
  if (changed.length === 0) return;
  const me = managerKey(manager, 'Update', subresource);
  const entry = managers.get(me) ?? { operation: 'Update' as const, subresource: subresource || undefined, apiVersion, time: '', paths: new Map() };
  entry.time = new Date().toISOString();
  for (const p of changed) entry.paths.set(key(p), p);
  managers.set(me, entry);
}

/** metadata.managedFields in FieldsV1 form. */
export function renderManagedFields(managers: Managers): Json[] {
  return [...managers].map(([mk, e]) => {
    const tree: JsonObject = {};
    for (const p of e.paths.values()) {
      let cur = tree;
      for (const seg of p) {
        const k = `f:${seg}`;
        if (!isObject(cur[k])) cur[k] = {};
        cur = cur[k] as JsonObject;
      }
    }
    const out: JsonObject = { manager: mk.split('\u0000')[0], operation: e.operation, apiVersion: e.apiVersion, time: e.time, fieldsType: 'FieldsV1', fieldsV1: tree };
    if (e.subresource) out.subresource = e.subresource;
    return out;
  });
}

/** The field paths a FieldsV1 tree names; list members (k:, v:, i:) make their list a whole, as this store owns lists. */
function decodeFields(tree: Json, prefix: FieldPath): FieldPath[] {
  const entries = isObject(tree) ? Object.entries(tree) : [];
  if (entries.length === 0) return prefix.length ? [prefix] : [];
  const out: FieldPath[] = [];
  let members = false;
  for (const [k, v] of entries) {
    if (k.startsWith('f:')) out.push(...decodeFields(v, [...prefix, k.slice(2)]));
    else if (k !== '.') members = true;
  }
  if (members && prefix.length) out.push(prefix);
  return out;
}

/** metadata.managedFields as a client sent them (to reset or hand over ownership) back into managers. */
export function decodeManagedFields(entries: Json): Managers {
  const managers: Managers = new Map();
  for (const e of Array.isArray(entries) ? entries : []) {
    if (!isObject(e) || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update')) {
      throw new Error('metadata.managedFields: every entry needs a manager and an operation (Apply or Update)');
    }
    const subresource = typeof e.subresource === 'string' ? e.subresource : '';
    const paths = decodeFields(e.fieldsV1 ?? {}, []);
    managers.set(managerKey(e.manager, e.operation, subresource), {
      operation: e.operation, subresource: subresource || undefined, apiVersion: String(e.apiVersion ?? ''), time: String(e.time ?? ''),
      paths: new Map(paths.map((p) => [key(p), p])),
    });
  }
  return managers;
}
