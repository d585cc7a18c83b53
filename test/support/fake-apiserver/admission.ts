// Admission as a real API server runs it on writes the fake must treat alike: CustomResourceDefinitions whose
// defaults must validate against their own schema, custom resources defaulted, pruned and validated by the schema
// of their CRD (status included), and pods refused when their RuntimeClass does not exist.
import { isoSeconds } from '../../../common/time.js';
import { ApiError, type KObject } from './store.js';
import { invalidError, type ApiFieldError } from './field-errors.js';
import { apiVersionOf, resourceId, type ResourceType } from './resources.js';
import { applyDefaults, defaultErrors, prune, validateObject, type Schema } from './structural.js';
import { deepEqual, isObject, type Json, type JsonObject } from './fields.js';

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: Schema };
}

interface CrdSpec {
  group: string;
  names: { plural: string; kind: string };
  versions: CrdVersion[];
}

const now = () => isoSeconds(Date.now());

/** The schema errors a CRD's writes get, at the paths the server reports them (`spec.validation` when all versions share one schema). */
export function crdErrors(crd: JsonObject): ApiFieldError[] {
  const spec = crd.spec as unknown as CrdSpec | undefined;
  if (!isObject(spec as unknown as Json) || !Array.isArray(spec?.versions) || spec.versions.length === 0) {
    return [{ type: 'FieldValueRequired', field: 'spec.versions', detail: 'must have exactly one version marked as storage version' }];
  }
  const schemas = spec.versions.map((v) => v.schema?.openAPIV3Schema);
  const shared = schemas.every((s) => deepEqual(s, schemas[0]));
  if (shared) return schemas[0] ? defaultErrors(schemas[0], 'spec.validation.openAPIV3Schema') : [];
  return schemas.flatMap((s, i) => (s ? defaultErrors(s, `spec.versions[${i}].schema.openAPIV3Schema`) : []));
}

/** The custom resource types a server serves, by the CRDs it holds, and the admission of their objects. */
export class CustomResources {
  private readonly schemas = new Map<string, Schema>();

  constructor(private readonly types: ResourceType[]) {}

  /** Whether a type is served now: built-in ones always, custom ones while their CRD exists. */
  served(rt: ResourceType): boolean {
    return !rt.custom || this.schemas.has(resourceId(rt));
  }

  /** The type a CRD defines (one of the known custom types, or a new one), for its served version. */
  typeFor(crd: KObject, version: CrdVersion): ResourceType | undefined {
    const spec = crd.spec as unknown as CrdSpec;
    const known = this.types.find((t) => t.group === spec.group && t.version === version.name && t.plural === spec.names.plural);
    if (known) return known;
    const scope = (crd.spec as JsonObject).scope;
    const added: ResourceType = { group: spec.group, version: version.name, plural: spec.names.plural, kind: spec.names.kind, namespaced: scope !== 'Cluster', status: true, custom: true };
    this.types.push(added);
    return added;
  }

  /** Starts serving what a stored CRD defines. */
  install(crd: KObject): ResourceType[] {
    const spec = crd.spec as unknown as CrdSpec;
    const out: ResourceType[] = [];
    for (const v of spec.versions.filter((x) => x.served !== false)) {
      const rt = this.typeFor(crd, v);
      if (!rt) continue;
      this.schemas.set(resourceId(rt), v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
      out.push(rt);
    }
    return out;
  }

  /** Stops serving what a deleted CRD defined; the caller deletes its objects. */
  uninstall(crd: KObject): ResourceType[] {
    const spec = crd.spec as unknown as CrdSpec;
    const gone = this.types.filter((t) => t.custom && t.group === spec.group && t.plural === spec.names.plural);
    for (const rt of gone) this.schemas.delete(resourceId(rt));
    return gone;
  }

  /** Admission of a write that is about to be stored; returns the object as it will be stored, or throws. */
  admit(rt: ResourceType, next: KObject, before: KObject | undefined): KObject {
    if (rt.group === 'apiextensions.k8s.io' && rt.kind === 'CustomResourceDefinition') return admitCrd(next, before);
    const schema = rt.custom ? this.schemas.get(resourceId(rt)) : undefined;
    if (!schema) return next;
    const stored = prune(schema, applyDefaults(schema, next as Json), true) as KObject;
    const scale = rt.scale && rt.scale.labelSelectorPath !== 'matchLabels' ? rt.scale : undefined;
    const errors = validateObject(schema, stored, scale);
    if (errors.length) throw invalidError(`${rt.kind}.${rt.group}`, String(next.metadata.name), errors, rt.group, rt.kind);
    return stored;
  }
}

function admitCrd(next: KObject, before: KObject | undefined): KObject {
  const errors = crdErrors(next);
  if (errors.length) throw invalidError('CustomResourceDefinition.apiextensions.k8s.io', String(next.metadata.name), errors, 'apiextensions.k8s.io', 'CustomResourceDefinition');
  if (before) return next;
  const spec = next.spec as unknown as CrdSpec;
  const condition = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: now(), reason, message });
  return {
    ...next,
    status: {
      acceptedNames: spec.names as unknown as Json,
      conditions: [condition('NamesAccepted', 'NoConflicts', 'no conflicts found'), condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
      storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
    },
  };
}

/**
 * The RuntimeClass admission plugin: a pod naming a RuntimeClass that does not exist is refused at creation,
 * with the message the ReplicaSet controller then copies into its ReplicaFailure condition.
 */
export function runtimeClassAdmission(exists: (name: string) => boolean) {
  return (rt: ResourceType, next: KObject, before: KObject | undefined): KObject => {
    if (before || apiVersionOf(rt) !== 'v1' || rt.kind !== 'Pod') return next;
    const name = (next.spec as JsonObject | undefined)?.runtimeClassName;
    if (typeof name !== 'string' || exists(name)) return next;
    const podName = String(next.metadata.generateName ?? next.metadata.name);
    throw new ApiError(403, 'Forbidden', `pods ${JSON.stringify(podName)} is forbidden: pod rejected: RuntimeClass ${JSON.stringify(name)} not found`, { name: podName, kind: 'pods' });
  };
}
