// What the API server does with Modelplane's objects, checked with the same expectations against the in-repo fake
// and (where the run has one) a real v1.28 control plane: CRD defaults validated as written, custom objects
// defaulted, pruned and validated with the server's own wording, pods refused for a missing RuntimeClass, the scale
// subresource, field ownership across a create and an apply, and name-scoped watches.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { buildCrd } from '../../operator/api/crd.js';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { childWriter } from '../../operator/kube/apply.js';
import { GoneWatcher } from '../../operator/kube/gone-watch.js';
import { computeStatus, sameStatus } from '../../operator/controller/status.js';
import { parseManifests } from '../../local/manifests.js';
import { createLogger } from '../../common/logger.js';
import { putDeploymentPod } from '../support/fake-apiserver/index.js';
import { apiServersUnderTest, type TestApiServer } from '../support/kube/servers.js';
import { eventually } from '../operator/integration/harness.js';
import { runCli } from '../support/runtime-process.js';

const MDS = '/apis/serving.modelplane.io/v1alpha1';
const md = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name }, spec });
const URI = { uri: 'https://models.example/m.onnx' };
const URI_MESSAGE = 'uri must be https://host/path, http://host/path, s3://bucket/key (a key ending in / names a folder), pvc://<claim>/<path> or file:///<absolute path>';
const HPA_ZERO = 'minReplicas 0 needs mode builtin: a HorizontalPodAutoscaler scales to zero only behind the alpha feature gate HPAScaleToZero';
const KEDA_ZERO = "minReplicas 0 needs mode builtin: the ScaledObject's trigger reads the runtime pods, which report nothing at zero replicas, so requests held by the gateway would never wake it";
const NOT_CHECKED = '<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/** The field errors of a 422's message, one string each (the server's order of CEL rules is not fixed). */
function fieldErrors(message: string): string[] {
  const list = message.replace(/^[^"]*"[^"]*" is invalid: /, '');
  const inner = list.startsWith('[') && list.endsWith(']') ? list.slice(1, -1) : list;
  // Errors are joined with ", " before a field path; messages themselves contain ", " too.
  return inner.split(/, (?=(?:<nil>|\.?[a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9[\]]+)*): )/).sort();
}

/** Invalid ModelDeployments and every error a v1.28 API server returns for each. */
const INVALID: Array<[string, Record<string, unknown>, string[]]> = [
  ['minReplicas above maxReplicas (a rule on the object, reported at its field)', { model: URI, autoscaling: { minReplicas: 5, maxReplicas: 2 } },
    ['spec.autoscaling.minReplicas: Invalid value: "object": minReplicas must not exceed maxReplicas']],
  ['minReplicas 0 with mode hpa', { model: URI, autoscaling: { mode: 'hpa', minReplicas: 0, maxReplicas: 2 } },
    [`spec.autoscaling.minReplicas: Invalid value: "object": ${HPA_ZERO}`]],
  ['minReplicas 0 with mode keda', { model: URI, autoscaling: { mode: 'keda', minReplicas: 0, maxReplicas: 2 } },
    [`spec.autoscaling.minReplicas: Invalid value: "object": ${KEDA_ZERO}`]],
  ['a negative scale-to-zero delay', { model: URI, autoscaling: { minReplicas: 0, maxReplicas: 2, scaleToZeroDelaySeconds: -1 } },
    ['spec.autoscaling.scaleToZeroDelaySeconds: Invalid value: -1: spec.autoscaling.scaleToZeroDelaySeconds in body should be greater than or equal to 0']],
  ['a repeated provider', { model: URI, runtime: { executionProviders: ['cpu', 'cpu'] } },
    ['spec.runtime.executionProviders: Invalid value: "array": executionProviders must not repeat a provider']],
  ['credentials for a pvc URI', { model: { uri: 'pvc://claim/m.onnx', credentialsSecret: 's' } },
    ['spec.model.credentialsSecret: Forbidden: credentialsSecret applies only to https, http and s3 URIs']],
  ['optimisation with nothing to do', { model: URI, optimization: {} },
    ['spec.optimization: Required value: optimization needs quantize or graphOptimization']],
  ['an ftp URI', { model: { uri: 'ftp://h/m.onnx' } },
    [`spec.model.uri: Invalid value: "string": ${URI_MESSAGE}`]],
  ['negative replicas, with CEL rules failing beside', { model: { uri: 'ftp://h/m.onnx' }, replicas: -1, autoscaling: { minReplicas: 5, maxReplicas: 2 } }, [
    'spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0',
    '.spec.replicas: Invalid value: -1: should be a non-negative integer',
    'spec.autoscaling.minReplicas: Invalid value: "object": minReplicas must not exceed maxReplicas',
    `spec.model.uri: Invalid value: "string": ${URI_MESSAGE}`,
  ]],
  ['an unknown optimisation level', { model: URI, runtime: { graphOptimizationLevel: 'foo' } },
    ['spec.runtime.graphOptimizationLevel: Unsupported value: "foo": supported values: "disabled", "basic", "extended", "all"']],
  ['no URI (CEL then does not run)', { model: {} }, ['spec.model.uri: Required value', NOT_CHECKED]],
  ['replicas as a string', { model: URI, replicas: 'x' }, [
    'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    '.spec.replicas: Invalid value: 0: .spec.replicas accessor error: x is of the type string, expected int64',
    NOT_CHECKED,
  ]],
  ['a sha256 too long', { model: { ...URI, sha256: 'a'.repeat(65) } }, ['spec.model.sha256: Too long: may not be longer than 64', NOT_CHECKED]],
  ['a node selector value that is no string', { model: URI, scheduling: { nodeSelector: { pool: 1 } } },
    ['spec.scheduling.nodeSelector.pool: Invalid value: "integer": spec.scheduling.nodeSelector.pool in body must be of type string: "integer"', NOT_CHECKED]],
  ['generation bounds out of range', { model: URI, runtime: { generation: { maxNumSeqs: 0, maxKvCacheBytes: 100 } } }, [
    'spec.runtime.generation.maxNumSeqs: Invalid value: 0: spec.runtime.generation.maxNumSeqs in body should be greater than or equal to 1',
    'spec.runtime.generation.maxKvCacheBytes: Invalid value: 100: spec.runtime.generation.maxKvCacheBytes in body should be greater than or equal to 1024',
  ]],
  ['a sequences target above maxNumSeqs', { model: URI, autoscaling: { metric: 'sequences', maxReplicas: 2, targetSequences: 12 }, runtime: { generation: { maxNumSeqs: 8 } } },
    ['spec.autoscaling.targetSequences: Invalid value: "object": autoscaling.targetSequences must not exceed runtime.generation.maxNumSeqs: a replica runs no more sequences at once']],
  ['a negative error bound', { model: URI, optimization: { quantize: 'int8', maxAbsError: -1 } },
    ['spec.optimization.maxAbsError: Invalid value: -1: spec.optimization.maxAbsError in body should be greater than or equal to 0']],
];

describe.each(apiServersUnderTest())('the %s API server', (_name, start) => {
  let server: TestApiServer;
  let ns: string;
  beforeAll(async () => {
    server = await start();
    ns = await server.namespace('fidelity');
  }, 60_000);
  afterAll(async () => server?.stop());

  it('refuses a CRD whose object default leaves out required fields, naming each, as written', async () => {
    const crd = JSON.parse(JSON.stringify(buildCrd()));
    crd.metadata.name = 'modeldeployments.broken.modelplane.io';
    crd.spec.group = 'broken.modelplane.io';
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.runtime.default = {};
    const r = await server.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?dryRun=All', crd);
    expect(r.status).toBe(422);
    const at = 'spec.validation.openAPIV3Schema.properties[spec].properties[runtime].default';
    expect(r.json().message.startsWith('CustomResourceDefinition.apiextensions.k8s.io "modeldeployments.broken.modelplane.io" is invalid: ')).toBe(true);
    expect(fieldErrors(r.json().message)).toEqual(['graphOptimizationLevel', 'instances', 'intraOpThreads', 'maxQueueSize'].map((f) => `${at}.${f}: Required value`));
  });

  it.each(INVALID)('refuses %s with the server\'s own words', async (_what, spec, expected) => {
    const r = await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('x', spec));
    expect(r.status).toBe(422);
    expect(r.json().message.startsWith('ModelDeployment.serving.modelplane.io "x" is invalid: ')).toBe(true);
    expect(fieldErrors(r.json().message)).toEqual([...expected].sort());
    expect(r.json().details.causes.map((c: { field: string }) => c.field).sort()).toEqual(expected.map((e) => e.slice(0, e.indexOf(': '))).sort());
  });

  it('fills in defaults and drops fields its schema does not know, in spec and status alike', async () => {
    const created = await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('pruned', { model: { ...URI, url: 'typo' }, extra: true }));
    expect(created.status).toBe(201);
    const spec = created.json().spec;
    expect(spec).toEqual({ model: URI, replicas: 1, runtime: { graphOptimizationLevel: 'all', intraOpThreads: 0, maxQueueSize: 512, instances: 1 } });
    const patched = await server.request('PATCH', `${MDS}/namespaces/${ns}/modeldeployments/pruned/status`, { status: { replicas: 1, bogus: 1, optimization: { applied: true, reason: 'Applied', nested: 1 } } }, 'application/merge-patch+json');
    expect(patched.status).toBe(200);
    expect(patched.json().status).toEqual({ replicas: 1, optimization: { applied: true, reason: 'Applied' } });
  });

  it('admits minReplicas 0 with mode builtin and none, filling in scaleToZeroDelaySeconds', async () => {
    const created = await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('to-zero', { model: URI, autoscaling: { minReplicas: 0, maxReplicas: 2 } }));
    expect(created.status).toBe(201);
    expect(created.json().spec.autoscaling).toEqual({
      mode: 'builtin', metric: 'concurrency', minReplicas: 0, maxReplicas: 2, targetConcurrency: 4, targetSequences: 24,
      targetCPUUtilizationPercent: 80, scaleDownDelaySeconds: 300, scaleToZeroDelaySeconds: 300,
    });
    const none = await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('by-hand', { model: URI, replicas: 0, autoscaling: { mode: 'none', minReplicas: 0, maxReplicas: 2, scaleToZeroDelaySeconds: 0 } }));
    expect(none.status).toBe(201);
    expect(none.json().spec).toMatchObject({ replicas: 0, autoscaling: { mode: 'none', minReplicas: 0, scaleToZeroDelaySeconds: 0 } });
  });

  it('admits a KV cache budget above the memory limit, which CEL in v1.28 cannot compare; the operator refuses it', async () => {
    const spec = { model: URI, resources: { limits: { memory: '1Gi' } }, runtime: { generation: { maxKvCacheBytes: 2 * 2 ** 30 } } };
    const created = await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('kv-over', spec));
    expect(created.status).toBe(201);
    expect(created.json().spec.runtime.generation).toEqual({ maxNumSeqs: 32, maxModelLen: 0, maxKvCacheBytes: 2 * 2 ** 30 });
    const verdict = validateModelDeployment(created.json());
    expect(verdict.ok ? [] : verdict.errors.map((e) => e.field)).toEqual(['spec.runtime.generation.maxKvCacheBytes']);
  });

  it('validates the whole object on a status write: a spec a looser CRD let in blocks every status once the rules are back', async () => {
    const group = `status-${Math.random().toString(36).slice(2, 8)}.modelplane.io`;
    const crd = JSON.parse(JSON.stringify(buildCrd()));
    crd.metadata.name = `modeldeployments.${group}`;
    crd.spec.group = group;
    const strict = JSON.parse(JSON.stringify(crd.spec.versions[0].schema.openAPIV3Schema));
    delete crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.model.properties.uri['x-kubernetes-validations'];
    const crds = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
    expect((await server.request('POST', crds, crd)).status).toBe(201);
    try {
      const base = `/apis/${group}/v1alpha1/namespaces/${ns}/modeldeployments`;
      const body = { ...md('loose', { model: { uri: 'ftp://h/m.onnx' } }), apiVersion: `${group}/v1alpha1` };
      await eventually(async () => expect((await server.request('POST', base, body)).status).toBe(201), 30_000, 200);
      const live = (await server.request('GET', `${crds}/${crd.metadata.name}`)).json();
      live.spec.versions[0].schema.openAPIV3Schema = strict;
      expect((await server.request('PUT', `${crds}/${crd.metadata.name}`, live)).status).toBe(200);
      await eventually(async () => {
        const r = await server.request('PATCH', `${base}/loose/status`, { status: { replicas: 0 } }, 'application/merge-patch+json');
        expect(r.status).toBe(422);
        expect(r.json().message).toBe(`ModelDeployment.${group} "loose" is invalid: spec.model.uri: Invalid value: "string": ${URI_MESSAGE}`);
      }, 30_000, 200);
    } finally {
      await server.request('DELETE', `${crds}/${crd.metadata.name}`);
    }
  });

  it('keeps a status the operator computes exactly as written', async () => {
    await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('roundtrip', { model: URI, replicas: 2 }));
    const status = computeStatus({ generation: 1, desiredReplicas: 2, pods: [], selector: 'a=b', url: 'http://x.ns.svc:8080/v2/models/x', now: new Date(), invalid: 'spec.model.uri: bad (FieldValueInvalid)' });
    const written = await server.request('PATCH', `${MDS}/namespaces/${ns}/modeldeployments/roundtrip/status`, { status }, 'application/merge-patch+json');
    expect(written.status).toBe(200);
    const read = (await server.request('GET', `${MDS}/namespaces/${ns}/modeldeployments/roundtrip`)).json();
    expect(sameStatus(read.status, status)).toBe(true);
  });

  it('serves the scale subresource on spec.replicas, status.replicas and status.selector', async () => {
    await server.request('POST', `${MDS}/namespaces/${ns}/modeldeployments`, md('scaled', { model: URI }));
    await server.request('PATCH', `${MDS}/namespaces/${ns}/modeldeployments/scaled/status`, { status: { replicas: 1, selector: 'app=scaled' } }, 'application/merge-patch+json');
    const scale = (await server.request('GET', `${MDS}/namespaces/${ns}/modeldeployments/scaled/scale`)).json();
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 1 }, status: { replicas: 1, selector: 'app=scaled' } });
    const put = await server.request('PUT', `${MDS}/namespaces/${ns}/modeldeployments/scaled/scale`, { ...scale, spec: { replicas: 3 } });
    expect(put.status).toBe(200);
    expect((await server.request('GET', `${MDS}/namespaces/${ns}/modeldeployments/scaled`)).json().spec.replicas).toBe(3);
  });

  it('refuses a pod whose RuntimeClass does not exist', async () => {
    const r = await server.request('POST', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { runtimeClassName: 'nvidia', containers: [{ name: 'c', image: 'img' }] } });
    expect(r.status).toBe(403);
    expect(r.json().message).toBe('pods "p" is forbidden: pod rejected: RuntimeClass "nvidia" not found');
  });

  it('shows pods refused at admission as the Deployment\'s ReplicaFailure, with the server\'s message', async () => {
    const apps = server.kc.makeApiClient(AppsV1Api);
    const labels = { app: 'refused' };
    await apps.createNamespacedDeployment({ namespace: ns, body: { metadata: { name: 'refused' }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { runtimeClassName: 'nvidia', containers: [{ name: 'c', image: 'img' }] } } } } });
    // The fake has no controllers: its stand-in for them tries the pod as the ReplicaSet controller would.
    if (server.fake) expect(() => putDeploymentPod(server.fake!, ns, 'refused', 'refused-1', { phase: 'Running', ready: true })).toThrow();
    const d = await eventually(async () => {
      const got = await apps.readNamespacedDeployment({ name: 'refused', namespace: ns });
      expect(got.status?.conditions?.some((c) => c.type === 'ReplicaFailure')).toBe(true);
      return got;
    }, 30_000, 250);
    const failure = d.status!.conditions!.find((c) => c.type === 'ReplicaFailure')!;
    expect(failure).toMatchObject({ status: 'True', reason: 'FailedCreate' });
    expect(failure.message).toMatch(/^pods "refused-[0-9a-z]+-" is forbidden: pod rejected: RuntimeClass "nvidia" not found$/);
  });

  it('drops a field from an object created by one manager only once that manager\'s create entry is taken over by its apply', async () => {
    const writer = childWriter(server.kc);
    const deployment = (nodeSelector?: Record<string, string>): KubernetesObject => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'owned', namespace: ns, labels: { app: 'owned' } },
      spec: { replicas: 1, selector: { matchLabels: { app: 'owned' } }, template: { metadata: { labels: { app: 'owned' } }, spec: { ...(nodeSelector ? { nodeSelector } : {}), containers: [{ name: 'c', image: 'img' }] } } },
    } as KubernetesObject);
    const apps = server.kc.makeApiClient(AppsV1Api);
    const read = () => apps.readNamespacedDeployment({ name: 'owned', namespace: ns });
    await writer.create(deployment({ pool: 'a100' }));
    // A plain apply leaves the field: the create's entry (operation Update) still owns it.
    await apps.patchNamespacedDeployment({ name: 'owned', namespace: ns, body: deployment(), fieldManager: 'modelplane', force: true }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
    expect((await read()).spec?.template.spec?.nodeSelector).toEqual({ pool: 'a100' });
    // The operator's apply takes that entry over first, and the field goes.
    const live = await read();
    await writer.apply(deployment(), live as V1Deployment);
    expect((await read()).spec?.template.spec?.nodeSelector).toBeUndefined();
    expect((await read()).metadata?.managedFields?.filter((m) => m.manager === 'modelplane').map((m) => m.operation)).toEqual(['Apply']);
  });

  it('tells a name-scoped watch of an object\'s deletion, even one made before the watch began', async () => {
    const apps = server.kc.makeApiClient(AppsV1Api);
    const labels = { app: 'doomed' };
    const body = (name: string) => ({ metadata: { name }, spec: { replicas: 0, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'img' }] } } } });
    const doomed = await apps.createNamespacedDeployment({ namespace: ns, body: body('doomed') });
    await apps.createNamespacedDeployment({ namespace: ns, body: body('bystander') });
    const watcher = new GoneWatcher(server.kc, createLogger('test', 'error'));
    const gone: string[] = [];
    await apps.deleteNamespacedDeployment({ name: 'bystander', namespace: ns });
    await apps.deleteNamespacedDeployment({ name: 'doomed', namespace: ns });
    watcher.untilGone({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'doomed', resourceVersion: doomed.metadata!.resourceVersion }, () => gone.push('doomed'));
    try {
      await eventually(() => expect(gone).toEqual(['doomed']), 15_000, 100);
    } finally {
      watcher.stop();
    }
  });
});

describe('one wording for a rule broken, wherever it is checked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-messages-'));
  /** An error from an x-kubernetes-validations rule: the node's type (or Forbidden, Required) and then the rule's message. */
  const celMessage = (line: string): { field: string; message: string } | undefined => {
    const m = /^([a-z][^:]*): (?:Invalid value: "(?:object|array|string)": |Forbidden: |Required value: )(.+)$/.exec(line);
    return m && !/ in body /.test(m[2]) ? { field: m[1], message: m[2] } : undefined;
  };
  const celCases = INVALID.filter(([, , errs]) => errs.some((e) => celMessage(e)));

  it.each(celCases)('%s: render and local mode say what the API server says', async (what, spec, expected) => {
    const manifest = yaml.dump(md('x', spec));
    const file = join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, manifest);
    const rendered = await runCli(['render', '-f', file]);
    const operator = validateModelDeployment(md('x', spec));
    const local = parseManifests(manifest, file);
    for (const { field, message } of expected.map(celMessage).filter((c) => c !== undefined)) {
      expect(rendered.stderr).toContain(`${field}: ${message}`);
      expect(operator.ok ? [] : operator.errors.map((e) => `${e.field}: ${e.message}`)).toContain(`${field}: ${message}`);
      expect(local[0].kind === 'invalid' ? local[0].errors.map((e) => `${e.field}: ${e.message}`) : []).toContain(`${field}: ${message}`);
    }
    expect(rendered.code).not.toBe(0);
  });
});
