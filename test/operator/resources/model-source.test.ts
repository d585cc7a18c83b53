// How a model URI reaches the runtime container: the plan, and the pod it gives for archives, which the fetch init
// container always unpacks into the models emptyDir, wherever the archive lies.
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { V1Deployment } from '@kubernetes/client-node';
import { buildDeployment } from '../../../operator/resources/deployment.js';
import { resolveConfig } from '../../../operator/resources/config.js';
import { planModelSource, type ModelSourcePlan } from '../../../operator/resources/model-source.js';
import { CFG, HEX, md } from './fixtures.js';

const build = (spec: Record<string, unknown>) => buildDeployment(md(spec), resolveConfig(CFG)) as V1Deployment;
const pod = (d: V1Deployment) => d.spec!.template.spec!;
const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

describe('planModelSource', () => {
  it.each<[string, string | undefined, ModelSourcePlan]>([
    ['https://h/llm/gpt2.tar.gz', undefined, { kind: 'download', fetch: true, modelPath: '/models/gpt2' }],
    ['s3://models/llm/gpt2.zip', HEX, { kind: 'download', fetch: true, modelPath: '/models/gpt2' }],
    ['s3://models/llm/gpt2/', undefined, { kind: 'download', fetch: true, modelPath: '/models' }],
    ['pvc://store/llm/gpt2.tgz', undefined, { kind: 'download', fetch: true, claim: { name: 'store', mountPath: '/mnt/pvc/store' }, modelPath: '/models/gpt2' }],
    ['pvc://store/llm/gpt2', undefined, { kind: 'pvc', fetch: false, claim: { name: 'store', mountPath: '/mnt/pvc/store' }, modelPath: '/mnt/pvc/store/llm/gpt2' }],
    ['file:///opt/models/gpt2.tar', undefined, { kind: 'download', fetch: true, modelPath: '/models/gpt2' }],
    ['file:///opt/models/gpt2/', HEX, { kind: 'image', fetch: true, modelPath: '/opt/models/gpt2' }],
  ])('%s (sha256 %s)', (uri, sha256, plan) => {
    expect(planModelSource(uri, '/mnt/pvc', sha256)).toEqual(plan);
  });
});

describe('the pod of an archive model', () => {
  it.each([
    ['https://models.example.com/llm/gpt2.tar.gz', false],
    ['pvc://store/llm/gpt2.tar.gz', true],
    ['file:///opt/models/gpt2.tar.gz', false],
  ])('%s: fetch unpacks it into the models emptyDir and serve loads /models/gpt2', (uri, claim) => {
    const d = build({ model: { uri, sha256: HEX } });
    expect(() => new Deployment(d as never).validate()).not.toThrow();
    const [fetch] = pod(d).initContainers!;
    expect(fetch.args).toEqual(['fetch', '--uri', uri, '--dest', '/models', '--sha256', HEX, '--log-level', 'info']);
    expect(fetch.volumeMounts).toContainEqual({ name: 'models', mountPath: '/models' });
    const runtime = pod(d).containers.find((c) => c.name === 'runtime')!;
    expect(flag(runtime.args!, '--model')).toBe('/models/gpt2');
    expect(runtime.volumeMounts).toContainEqual({ name: 'models', mountPath: '/models', readOnly: true });
    expect(pod(d).volumes).toContainEqual({ name: 'models', emptyDir: {} });
    const claimMount = { name: 'model', mountPath: '/mnt/pvc/store', readOnly: true };
    if (claim) expect(fetch.volumeMounts).toContainEqual(claimMount);
    else expect(fetch.volumeMounts!.some((m) => m.name === 'model')).toBe(false);
    expect(d.spec!.template.metadata!.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes']).toContain('models');
  });
});
