// Validates rendered Kubernetes objects against the upstream OpenAPI schemas shipped in kubernetes-models,
// picking the model class from apiVersion and kind. Prometheus Operator kinds have no model there and are
// checked structurally.
import yaml from 'js-yaml';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

type ModelClass = new (data: unknown) => { validate(): void };

/** Parses a multi-document YAML stream, dropping empty documents; a YAML error fails loudly. */
export function parseManifests(text: string): KubeObject[] {
  const out: KubeObject[] = [];
  yaml.loadAll(text, (value) => {
    if (value) out.push(value as KubeObject);
  });
  return out;
}

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  // "apps/v1" -> kubernetes-models/apps/v1, "v1" -> kubernetes-models/v1
  const mod = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>;
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls as ModelClass;
}

function checkPrometheusOperatorObject(obj: KubeObject): void {
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (!spec) throw new Error(`${obj.kind} ${obj.metadata.name}: no spec`);
  const selector = spec.selector as { matchLabels?: Record<string, string> } | undefined;
  if (!selector?.matchLabels || Object.keys(selector.matchLabels).length === 0) {
    throw new Error(`${obj.kind} ${obj.metadata.name}: spec.selector.matchLabels is empty`);
  }
  const endpointsField = obj.kind === 'ServiceMonitor' ? 'endpoints' : 'podMetricsEndpoints';
  const endpoints = spec[endpointsField] as Array<Record<string, unknown>> | undefined;
  if (!Array.isArray(endpoints) || endpoints.length === 0) throw new Error(`${obj.kind}: spec.${endpointsField} is empty`);
  for (const e of endpoints) {
    if (typeof e.port !== 'string' || e.port === '') throw new Error(`${obj.kind}: every endpoint needs a named port`);
    for (const d of ['interval', 'scrapeTimeout'] as const) {
      if (e[d] !== undefined && !/^([0-9]+(ms|s|m|h))+$/.test(String(e[d]))) throw new Error(`${obj.kind}: ${d} "${String(e[d])}" is no duration`);
    }
  }
  const ns = spec.namespaceSelector as { any?: boolean; matchNames?: string[] } | undefined;
  if (ns && ns.any !== true && !(Array.isArray(ns.matchNames) && ns.matchNames.length > 0)) {
    throw new Error(`${obj.kind}: namespaceSelector needs any: true or matchNames`);
  }
}

/** Throws with the object's kind and name when it does not match its upstream schema. */
export async function validateObject(obj: KubeObject): Promise<void> {
  if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
    throw new Error(`object without apiVersion, kind or metadata.name: ${JSON.stringify(obj).slice(0, 200)}`);
  }
  if (obj.apiVersion === 'monitoring.coreos.com/v1' && (obj.kind === 'ServiceMonitor' || obj.kind === 'PodMonitor')) {
    checkPrometheusOperatorObject(obj);
    return;
  }
  const Model = await modelClass(obj.apiVersion, obj.kind);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${obj.kind} ${obj.metadata.name} does not match the ${obj.apiVersion} schema: ${(err as Error).message}`);
  }
}

/** Whether a rendered object is the gateway's (its Deployment, Service, PodDisruptionBudget, account and role). */
export function isGatewayObject(obj: KubeObject): boolean {
  return (obj.metadata.labels as Record<string, string> | undefined)?.['app.kubernetes.io/component'] === 'gateway';
}
