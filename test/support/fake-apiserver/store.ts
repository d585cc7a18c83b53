// The fake API server's storage: objects with resourceVersion, generation, field managers, subresources,
// an event history for watches (with compaction), and ownerReference garbage collection.
import { isoSeconds } from '../../../common/time.js';
import { randomUUID } from 'node:crypto';
import yaml from 'js-yaml';
import {
  ApplyConflict, applySection, clone, decodeManagedFields, deepEqual, getAt, isObject, jsonPatch, mergePatch, recordUpdate, renderManagedFields, setAt,
  type Json, type JsonObject, type Managers,
} from './fields.js';
import { apiVersionOf, resourceId, type ResourceType } from './resources.js';
import { matchesSelector, parseLabelSelector, serializeMatchLabels, type LabelSelector } from './selectors.js';

export class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: JsonObject) {
    super(message);
  }
  toStatus(): JsonObject {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code, ...(this.details ? { details: this.details } : {}) };
  }
}

export type KObject = JsonObject & { metadata: JsonObject };
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Stored {
  obj: KObject;
  managers: Managers;
}

export interface HistoryEvent {
  rv: number;
  rid: string;
  type: WatchEventType;
  obj: KObject;
  /** Labels before the change, so label-filtered watches can turn a MODIFIED into ADDED or DELETED. */
  prevLabels?: Record<string, string>;
}

/** A field selector as every kind serves it: metadata.name and metadata.namespace equal to a value. */
export interface FieldSelector {
  name?: string;
  namespace?: string;
}

export function parseFieldSelector(text: string | null | undefined): FieldSelector {
  const out: FieldSelector = {};
  for (const term of (text ?? '').split(',').map((t) => t.trim()).filter(Boolean)) {
    const m = /^(metadata\.name|metadata\.namespace)(==?)(.*)$/.exec(term);
    if (!m) throw new ApiError(400, 'BadRequest', `unable to parse requirement: field label not supported: ${term.split(/!?=/)[0]}`);
    if (m[1] === 'metadata.name') out.name = m[3];
    else out.namespace = m[3];
  }
  return out;
}

const fieldsMatch = (f: FieldSelector | undefined, obj: KObject) =>
  !f || ((f.name === undefined || obj.metadata.name === f.name) && (f.namespace === undefined || obj.metadata.namespace === f.namespace));

export interface WatchSubscriber {
  rid: string;
  namespace?: string;
  selector: LabelSelector;
  fields?: FieldSelector;
  send(type: WatchEventType, obj: KObject): void;
}

const SYSTEM_METADATA = ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'managedFields'];
const USER_METADATA = ['labels', 'annotations', 'ownerReferences', 'finalizers'];

/** The part of an object the main resource writes: user metadata, spec and everything else but status. */
function mainSection(obj: JsonObject, hasStatus: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata' || (hasStatus && k === 'status')) continue;
    out[k] = v;
  }
  const md = isObject(obj.metadata) ? obj.metadata : {};
  const userMd: JsonObject = {};
  for (const k of USER_METADATA) if (md[k] !== undefined) userMd[k] = md[k];
  if (Object.keys(userMd).length) out.metadata = userMd;
  return out;
}

function statusSection(obj: JsonObject): JsonObject {
  return obj.status === undefined ? {} : { status: obj.status };
}

/** Builds an object from the live object's system metadata, a main section and a status. */
function compose(rt: ResourceType, live: KObject, main: JsonObject, status: Json | undefined): KObject {
  const md: JsonObject = {};
  for (const k of SYSTEM_METADATA) if (live.metadata[k] !== undefined) md[k] = live.metadata[k];
  if (isObject(main.metadata)) Object.assign(md, main.metadata);
  const out: KObject = { apiVersion: apiVersionOf(rt), kind: rt.kind, metadata: md };
  for (const [k, v] of Object.entries(main)) if (k !== 'metadata') out[k] = v;
  if (status !== undefined) out.status = status;
  return out;
}

/** What metadata.generation follows: everything except metadata and status. */
function specPart(obj: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'metadata' && k !== 'status' && k !== 'apiVersion' && k !== 'kind') out[k] = v;
  return out;
}

function withoutVolatile(obj: KObject): JsonObject {
  const md = { ...obj.metadata };
  delete md.resourceVersion;
  delete md.managedFields;
  delete md.generation;
  return { ...obj, metadata: md };
}

export function parseBody(text: string, contentType: string): Json {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    if (contentType.includes('yaml')) return yaml.load(text) as Json;
    throw new ApiError(400, 'BadRequest', `body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Admission of a write about to be stored: returns the object as it will be stored, or throws an ApiError. */
export type Admission = (rt: ResourceType, next: KObject, before: KObject | undefined) => KObject;

export interface WriteOptions {
  subresource?: '' | 'status' | 'scale';
  manager?: string;
  force?: boolean;
}

export class ObjectStore {
  private rv = 0;
  private compactedRv = 0;
  private readonly objects = new Map<string, Map<string, Stored>>();
  private history: HistoryEvent[] = [];
  private readonly subscribers = new Set<WatchSubscriber>();
  private readonly admissions: Admission[] = [];

  constructor(private readonly historyLimit = 50_000) {}

  /** Runs `admission` on every create and update before it is stored, after those added earlier. */
  addAdmission(admission: Admission): void {
    this.admissions.push(admission);
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get compactedResourceVersion(): number {
    return this.compactedRv;
  }

  /** Forgets the watch history: watches resuming from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  private bucket(rt: ResourceType): Map<string, Stored> {
    const rid = resourceId(rt);
    let b = this.objects.get(rid);
    if (!b) this.objects.set(rid, (b = new Map()));
    return b;
  }

  get(rt: ResourceType, namespace: string | undefined, name: string): KObject | undefined {
    return this.bucket(rt).get(`${namespace ?? ''}/${name}`)?.obj;
  }

  mustGet(rt: ResourceType, namespace: string | undefined, name: string): KObject {
    const obj = this.get(rt, namespace, name);
    if (!obj) throw new ApiError(404, 'NotFound', `${rt.plural}${rt.group ? '.' + rt.group : ''} "${name}" not found`, { name, group: rt.group, kind: rt.plural });
    return obj;
  }

  list(rt: ResourceType, namespace?: string, labelSelector?: string, fieldSelector?: string): { items: KObject[]; resourceVersion: string } {
    const selector = parseSelectorOr400(labelSelector);
    const fields = parseFieldSelector(fieldSelector);
    const items: KObject[] = [];
    for (const s of this.bucket(rt).values()) {
      if (namespace && s.obj.metadata.namespace !== namespace) continue;
      if (!fieldsMatch(fields, s.obj)) continue;
      if (!matchesSelector(selector, s.obj.metadata.labels as Record<string, string> | undefined)) continue;
      items.push(s.obj);
    }
    return { items, resourceVersion: String(this.rv) };
  }

  // --- writes -----------------------------------------------------------------------------------

  create(rt: ResourceType, namespace: string | undefined, body: Json, opts: WriteOptions = {}): KObject {
    if (!isObject(body)) throw new ApiError(400, 'BadRequest', 'body must be an object');
    const md = isObject(body.metadata) ? body.metadata : {};
    let name = typeof md.name === 'string' ? md.name : '';
    if (!name && typeof md.generateName === 'string') name = `${md.generateName}${randomUUID().slice(0, 5)}`;
    if (!name) throw new ApiError(422, 'Invalid', 'metadata.name: Required value: name or generateName is required');
    if (md.namespace !== undefined && namespace !== undefined && md.namespace !== namespace) {
      throw new ApiError(400, 'BadRequest', `the namespace of the provided object (${String(md.namespace)}) does not match the namespace sent on the request (${namespace})`);
    }
    if (this.get(rt, namespace, name)) throw new ApiError(409, 'AlreadyExists', `${rt.plural} "${name}" already exists`, { name, kind: rt.plural });
    const live: KObject = {
      apiVersion: apiVersionOf(rt), kind: rt.kind,
      metadata: {
        name, ...(typeof md.generateName === 'string' ? { generateName: md.generateName } : {}), ...(namespace !== undefined ? { namespace } : {}),
        uid: randomUUID(), creationTimestamp: isoSeconds(Date.now()), generation: 1,
      },
    };
    const managers: Managers = new Map();
    const main = mainSection(body, rt.status);
    recordUpdate({}, main, managers, opts.manager ?? 'unknown', '', apiVersionOf(rt));
    const obj = compose(rt, live, main, rt.status ? undefined : undefined);
    return this.commit(rt, undefined, obj, managers, 'ADDED');
  }

  /** PUT: optimistic concurrency on metadata.resourceVersion. */
  replace(rt: ResourceType, namespace: string | undefined, name: string, body: Json, opts: WriteOptions = {}): KObject {
    if (!isObject(body)) throw new ApiError(400, 'BadRequest', 'body must be an object');
    const stored = this.stored(rt, namespace, name);
    const md = isObject(body.metadata) ? body.metadata : {};
    if (md.name !== undefined && md.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(md.name)}) does not match the name on the URL (${name})`);
    this.checkPrecondition(rt, stored.obj, md.resourceVersion);
    const sub = opts.subresource ?? '';
    const next = sub === 'status'
      ? compose(rt, stored.obj, mainSection(stored.obj, rt.status), (body as JsonObject).status)
      : compose(rt, stored.obj, mainSection(body, rt.status), rt.status ? stored.obj.status : undefined);
    const before = sub === 'status' ? statusSection(stored.obj) : mainSection(stored.obj, rt.status);
    const after = sub === 'status' ? statusSection(next) : mainSection(next, rt.status);
    if (sub === '') this.takeManagedFields(stored, md.managedFields);
    recordUpdate(before, after, stored.managers, opts.manager ?? 'unknown', sub, apiVersionOf(rt));
    return this.commit(rt, stored.obj, next, stored.managers, 'MODIFIED');
  }

  /** PATCH with a merge patch, a JSON patch or a server-side apply configuration. */
  patch(rt: ResourceType, namespace: string | undefined, name: string, patchBody: Json, contentType: string, opts: WriteOptions = {}): KObject {
    const sub = opts.subresource ?? '';
    const manager = opts.manager ?? 'unknown';
    if (contentType.startsWith('application/apply-patch')) {
      if (!opts.manager) throw new ApiError(422, 'Invalid', 'fieldManager: Required value: is required for apply patch');
      return this.apply(rt, namespace, name, patchBody, manager, sub, opts.force ?? false);
    }
    const stored = this.stored(rt, namespace, name);
    let patched: Json;
    if (contentType.startsWith('application/merge-patch+json') || (contentType.startsWith('application/strategic-merge-patch+json') && !rt.group.includes('.'))) {
      if (!isObject(patchBody)) throw new ApiError(400, 'BadRequest', 'a merge patch must be an object');
      patched = mergePatch(stored.obj, patchBody);
    } else if (contentType.startsWith('application/json-patch+json')) {
      if (!Array.isArray(patchBody)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array of operations');
      try {
        patched = jsonPatch(stored.obj, patchBody as Array<{ op: string; path: string; value?: Json }>);
      } catch (err) {
        throw new ApiError(422, 'Invalid', (err as Error).message);
      }
    } else {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
    }
    if (!isObject(patched)) throw new ApiError(422, 'Invalid', 'patch result is not an object');
    const pmd = isObject(patched.metadata) ? patched.metadata : {};
    if (pmd.resourceVersion !== stored.obj.metadata.resourceVersion) this.checkPrecondition(rt, stored.obj, pmd.resourceVersion);
    const next = sub === 'status'
      ? compose(rt, stored.obj, mainSection(stored.obj, rt.status), patched.status)
      : compose(rt, stored.obj, mainSection(patched, rt.status), rt.status ? stored.obj.status : patched.status);
    const before = sub === 'status' ? statusSection(stored.obj) : mainSection(stored.obj, rt.status);
    const after = sub === 'status' ? statusSection(next) : mainSection(next, rt.status);
    if (sub === '') this.takeManagedFields(stored, pmd.managedFields);
    recordUpdate(before, after, stored.managers, manager, sub, apiVersionOf(rt));
    return this.commit(rt, stored.obj, next, stored.managers, 'MODIFIED');
  }

  /** managedFields a write sets (other than those it read) replace the object's managers, as on a real server. */
  private takeManagedFields(stored: Stored, sent: Json | undefined): void {
    if (sent === undefined || deepEqual(sent, stored.obj.metadata.managedFields)) return;
    let managers: Managers;
    try {
      managers = decodeManagedFields(sent);
    } catch (err) {
      throw new ApiError(422, 'Invalid', (err as Error).message);
    }
    stored.managers.clear();
    for (const [k, v] of managers) stored.managers.set(k, v);
  }

  private apply(rt: ResourceType, namespace: string | undefined, name: string, config: Json, manager: string, sub: string, force: boolean): KObject {
    if (!isObject(config)) throw new ApiError(400, 'BadRequest', 'an apply configuration must be an object');
    const cmd = isObject(config.metadata) ? config.metadata : {};
    if (cmd.name !== undefined && cmd.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(cmd.name)}) does not match the name on the URL (${name})`);
    if (config.apiVersion !== apiVersionOf(rt) || config.kind !== rt.kind) {
      throw new ApiError(400, 'BadRequest', `apply configuration must set apiVersion ${apiVersionOf(rt)} and kind ${rt.kind}, got ${String(config.apiVersion)} ${String(config.kind)}`);
    }
    const existing = this.bucket(rt).get(`${namespace ?? ''}/${name}`);
    if (existing && cmd.resourceVersion !== undefined) this.checkPrecondition(rt, existing.obj, cmd.resourceVersion);
    const live: KObject = existing?.obj ?? {
      apiVersion: apiVersionOf(rt), kind: rt.kind,
      metadata: { name, ...(namespace !== undefined ? { namespace } : {}), uid: randomUUID(), creationTimestamp: isoSeconds(Date.now()), generation: 1 },
    };
    if (!existing && sub === 'status') throw this.notFound(rt, name);
    const managers: Managers = existing?.managers ?? new Map();
    let next: KObject;
    try {
      if (sub === 'status') {
        const merged = applySection(statusSection(live), statusSection(config), managers, manager, 'status', force, apiVersionOf(rt));
        next = compose(rt, live, mainSection(live, rt.status), merged.status);
      } else {
        const merged = applySection(mainSection(live, rt.status), mainSection(config, rt.status), managers, manager, '', force, apiVersionOf(rt));
        next = compose(rt, live, merged, rt.status ? live.status : merged.status);
      }
    } catch (err) {
      if (err instanceof ApplyConflict) throw new ApiError(409, 'Conflict', err.message);
      throw err;
    }
    return this.commit(rt, existing?.obj, next, managers, existing ? 'MODIFIED' : 'ADDED');
  }

  getScale(rt: ResourceType, namespace: string | undefined, name: string): JsonObject {
    if (!rt.scale) throw new ApiError(404, 'NotFound', `${rt.plural} has no scale subresource`);
    const obj = this.mustGet(rt, namespace, name);
    const sel = rt.scale.labelSelectorPath === 'matchLabels'
      ? serializeMatchLabels(getAt(obj, ['spec', 'selector', 'matchLabels']) as Record<string, string> | undefined)
      : getAt(obj, rt.scale.labelSelectorPath);
    return {
      apiVersion: 'autoscaling/v1', kind: 'Scale',
      metadata: { name, namespace: obj.metadata.namespace ?? null, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion, creationTimestamp: obj.metadata.creationTimestamp },
      spec: { replicas: (getAt(obj, rt.scale.specReplicasPath) as number | undefined) ?? 0 },
      status: { replicas: (getAt(obj, rt.scale.statusReplicasPath) as number | undefined) ?? 0, ...(typeof sel === 'string' && sel ? { selector: sel } : {}) },
    };
  }

  /** PUT or PATCH of the scale subresource: writes spec.replicas (specReplicasPath) of the object. */
  updateScale(rt: ResourceType, namespace: string | undefined, name: string, body: Json, contentType: string | undefined, manager = 'unknown'): JsonObject {
    const current = this.getScale(rt, namespace, name);
    const scale = contentType === undefined ? body : contentType.startsWith('application/json-patch') ? jsonPatch(current, body as never) : mergePatch(current, body);
    if (!isObject(scale) || !isObject(scale.spec) || typeof scale.spec.replicas !== 'number' || scale.spec.replicas < 0) {
      throw new ApiError(422, 'Invalid', 'spec.replicas: Invalid value: must be a non-negative integer');
    }
    const stored = this.stored(rt, namespace, name);
    this.checkPrecondition(rt, stored.obj, isObject(scale.metadata) ? scale.metadata.resourceVersion : undefined);
    const next = clone(stored.obj);
    setAt(next, rt.scale!.specReplicasPath, scale.spec.replicas);
    recordUpdate(mainSection(stored.obj, rt.status), mainSection(next, rt.status), stored.managers, manager, 'scale', apiVersionOf(rt));
    this.commit(rt, stored.obj, next, stored.managers, 'MODIFIED');
    return this.getScale(rt, namespace, name);
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, propagationPolicy = 'Background'): KObject {
    const stored = this.stored(rt, namespace, name);
    this.bucket(rt).delete(`${namespace ?? ''}/${name}`);
    this.rv++;
    const gone: KObject = { ...stored.obj, metadata: { ...stored.obj.metadata, resourceVersion: String(this.rv) } };
    this.record({ rv: this.rv, rid: resourceId(rt), type: 'DELETED', obj: gone });
    if (propagationPolicy !== 'Orphan') this.collectDependents(String(stored.obj.metadata.uid), namespace);
    return gone;
  }

  /** Background garbage collection: dependents whose every owner is gone are deleted too. */
  private collectDependents(ownerUid: string, namespace: string | undefined): void {
    const liveUids = new Set<string>();
    for (const b of this.objects.values()) for (const s of b.values()) liveUids.add(String(s.obj.metadata.uid));
    for (const [rid, b] of this.objects) {
      for (const s of [...b.values()]) {
        if (s.obj.metadata.namespace !== namespace) continue;
        const owners = (s.obj.metadata.ownerReferences as Array<{ uid: string }> | undefined) ?? [];
        if (!owners.some((o) => o.uid === ownerUid)) continue;
        if (owners.some((o) => liveUids.has(o.uid))) continue;
        const rt = this.typeOf(rid);
        if (rt && b.has(`${namespace ?? ''}/${String(s.obj.metadata.name)}`)) this.delete(rt, namespace, String(s.obj.metadata.name));
      }
    }
  }

  private readonly types = new Map<string, ResourceType>();
  private typeOf(rid: string): ResourceType | undefined {
    return this.types.get(rid);
  }

  private stored(rt: ResourceType, namespace: string | undefined, name: string): Stored {
    const s = this.bucket(rt).get(`${namespace ?? ''}/${name}`);
    if (!s) throw this.notFound(rt, name);
    return s;
  }

  private notFound(rt: ResourceType, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${rt.plural}${rt.group ? '.' + rt.group : ''} "${name}" not found`, { name, group: rt.group, kind: rt.plural });
  }

  private checkPrecondition(rt: ResourceType, live: KObject, rv: Json | undefined): void {
    if (rv === undefined || rv === null || rv === '') return;
    if (String(rv) !== live.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${rt.plural}${rt.group ? '.' + rt.group : ''} "${String(live.metadata.name)}": the object has been modified; please apply your changes to the latest version and try again`, { name: String(live.metadata.name), group: rt.group, kind: rt.plural });
    }
  }

  /** Stores the object unless nothing changed; bumps generation when anything but metadata and status changed. */
  private commit(rt: ResourceType, before: KObject | undefined, proposed: KObject, managers: Managers, type: WatchEventType): KObject {
    let next = proposed;
    for (const admit of this.admissions) next = admit(rt, next, before);
    if (before && deepEqual(withoutVolatile(before), withoutVolatile(next))) {
      return before;
    }
    this.types.set(resourceId(rt), rt);
    if (before && !deepEqual(specPart(before), specPart(next))) next.metadata.generation = ((before.metadata.generation as number | undefined) ?? 1) + 1;
    else if (before) next.metadata.generation = before.metadata.generation ?? 1;
    this.rv++;
    next.metadata.resourceVersion = String(this.rv);
    const mf = renderManagedFields(managers);
    if (mf.length) next.metadata.managedFields = mf;
    else delete next.metadata.managedFields;
    const key = `${(next.metadata.namespace as string | undefined) ?? ''}/${String(next.metadata.name)}`;
    this.bucket(rt).set(key, { obj: next, managers });
    this.record({ rv: this.rv, rid: resourceId(rt), type, obj: next, prevLabels: before?.metadata.labels as Record<string, string> | undefined });
    return next;
  }

  // --- watch ------------------------------------------------------------------------------------

  private record(e: HistoryEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const drop = this.history.length - this.historyLimit;
      this.compactedRv = this.history[drop - 1].rv;
      this.history.splice(0, drop);
    }
    for (const sub of this.subscribers) deliver(sub, e);
  }

  /**
   * Subscribes to changes after resourceVersion (replaying the history); an empty or '0' version starts
   * with ADDED for every current object. Throws 410 Gone when the version is older than the compaction point.
   */
  watch(sub: WatchSubscriber, resourceVersion: string | undefined): () => void {
    const rt = this.types.get(sub.rid);
    if (!resourceVersion || resourceVersion === '0') {
      if (rt) for (const s of this.bucket(rt).values()) deliver(sub, { rv: 0, rid: sub.rid, type: 'ADDED', obj: s.obj });
    } else {
      const from = Number(resourceVersion);
      if (!Number.isFinite(from)) throw new ApiError(400, 'BadRequest', `invalid resourceVersion ${resourceVersion}`);
      if (from < this.compactedRv) throw new ApiError(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
      for (const e of this.history) if (e.rv > from && e.rid === sub.rid) deliver(sub, e);
    }
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  registerType(rt: ResourceType): void {
    this.types.set(resourceId(rt), rt);
  }

  /** Every stored object, for assertions. */
  all(): KObject[] {
    const out: KObject[] = [];
    for (const b of this.objects.values()) for (const s of b.values()) out.push(s.obj);
    return out;
  }
}

function deliver(sub: WatchSubscriber, e: HistoryEvent): void {
  if (e.rid !== sub.rid) return;
  if (sub.namespace && e.obj.metadata.namespace !== sub.namespace) return;
  if (!fieldsMatch(sub.fields, e.obj)) return;
  const now = matchesSelector(sub.selector, e.obj.metadata.labels as Record<string, string> | undefined);
  if (e.type !== 'MODIFIED') {
    if (now) sub.send(e.type, e.obj);
    return;
  }
  const before = matchesSelector(sub.selector, e.prevLabels);
  if (now && before) sub.send('MODIFIED', e.obj);
  else if (now) sub.send('ADDED', e.obj);
  else if (before) sub.send('DELETED', e.obj);
}

function parseSelectorOr400(text: string | undefined): LabelSelector {
  try {
    return parseLabelSelector(text);
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `labelSelector: ${(err as Error).message}`);
  }
}

export { parseSelectorOr400 as parseSelector };
