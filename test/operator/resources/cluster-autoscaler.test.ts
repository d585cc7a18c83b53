// Runtime pods the cluster autoscaler can remove: every emptyDir is named in safe-to-evict-local-volumes (an
// unlisted one blocks scale-down of its node), and the PodDisruptionBudget lets one pod go at a time.
import type { V1Deployment, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { desiredChildren } from '../../../operator/resources/index.js';
import { CFG, HEX, md } from './fixtures.js';

const SAFE_TO_EVICT = 'cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes';

describe.each([
  ['an https model (downloaded into an emptyDir)', { model: { uri: 'https://example.com/m/resnet50.onnx' } }],
  ['an s3 folder', { model: { uri: 's3://models/llm/' } }],
  ['a pvc model', { model: { uri: 'pvc://model-store/resnet/model.onnx' } }],
  ['a pvc model with sha256', { model: { uri: 'pvc://model-store/resnet.onnx', sha256: HEX } }],
  ['a model in the image', { model: { uri: 'file:///opt/models/resnet.onnx' } }],
  ['a GPU model', { model: { uri: 's3://models/resnet.onnx' }, gpu: { count: 1 } }],
])('%s', (_name, spec) => {
  test('every emptyDir volume is listed as safe to evict, and nothing else is', () => {
    const [deployment] = desiredChildren(md({ ...spec, replicas: 3 }), CFG) as V1Deployment[];
    const template = deployment.spec!.template;
    const emptyDirs = (template.spec!.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name).sort();
    const listed = (template.metadata!.annotations?.[SAFE_TO_EVICT] ?? '').split(',').filter(Boolean).sort();
    expect(emptyDirs.length).toBeGreaterThan(0);
    expect(listed).toEqual(emptyDirs);
    expect(template.metadata!.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('true');
  });

  test('above one replica a PodDisruptionBudget allows one eviction at a time', () => {
    const pdb = desiredChildren(md({ ...spec, replicas: 3 }), CFG).find((c) => c.kind === 'PodDisruptionBudget') as V1PodDisruptionBudget;
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(pdb.spec!.minAvailable).toBeUndefined();
  });
});
