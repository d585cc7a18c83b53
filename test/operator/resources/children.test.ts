import { Service } from 'kubernetes-models/v1/Service';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { desiredChildren, selectorFor, serviceUrl } from '../../../operator/resources/index.js';
import { versionLabelValue } from '../../../operator/resources/labels.js';
import { CFG, md } from './fixtures.js';

const LABELS = {
  'app.kubernetes.io/name': 'modelplane-runtime',
  'app.kubernetes.io/instance': 'resnet',
  'app.kubernetes.io/managed-by': 'modelplane',
  'app.kubernetes.io/version': '0.1.0',
};

describe('desiredChildren', () => {
  it.each([
    [0, ['Deployment', 'Service']],
    [1, ['Deployment', 'Service']],
    [2, ['Deployment', 'Service', 'PodDisruptionBudget']],
    [10, ['Deployment', 'Service', 'PodDisruptionBudget']],
  ])('with %i replicas builds %j, each valid, labelled and owned', (replicas, kinds) => {
    const children = desiredChildren(md({ model: { uri: 's3://models/r.onnx' }, replicas }), CFG);
    expect(children.map((c) => c.kind)).toEqual(kinds);
    for (const c of children) {
      expect(c.apiVersion).toBeTruthy();
      expect(c.metadata).toMatchObject({ name: 'resnet', namespace: 'ml', labels: LABELS });
      expect(c.metadata!.ownerReferences).toHaveLength(1);
      expect(c.metadata!.ownerReferences![0]).toMatchObject({ kind: 'ModelDeployment', controller: true, blockOwnerDeletion: true });
      const Model = { Deployment, Service, PodDisruptionBudget }[c.kind as 'Deployment'];
      expect(() => new Model(c as never).validate()).not.toThrow();
    }
  });

  it('builds the Service and PodDisruptionBudget', () => {
    const [, svc, pdb] = desiredChildren(md({ model: { uri: 's3://models/r.onnx' }, replicas: 3 }), CFG) as Record<string, any>[];
    expect(svc.spec).toEqual({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/instance': 'resnet', 'app.kubernetes.io/name': 'modelplane-runtime' },
      ports: [
        { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        { name: 'grpc', port: 9000, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    });
    expect(pdb).toMatchObject({ apiVersion: 'policy/v1', spec: { maxUnavailable: 1, selector: { matchLabels: svc.spec.selector }, unhealthyPodEvictionPolicy: 'AlwaysAllow' } });
  });

  it('applies defaults itself, so an undefaulted spec gives the same objects', () => {
    const raw = { ...md({ model: { uri: 's3://models/r.onnx' } }), spec: { model: { uri: 's3://models/r.onnx' } } } as never;
    expect(desiredChildren(raw, CFG)).toEqual(desiredChildren(md({ model: { uri: 's3://models/r.onnx' } }), CFG));
  });

  it('leaves the ownerReference out when the object has no uid (rendered from a file)', () => {
    const children = desiredChildren(md({ model: { uri: 's3://models/r.onnx' } }, { uid: undefined }), CFG);
    for (const c of children) expect(c.metadata!.ownerReferences).toBeUndefined();
  });

  it('returns independent objects that callers may change', () => {
    const [a] = desiredChildren(md({ model: { uri: 's3://models/r.onnx' } }), CFG) as Record<string, any>[];
    a.metadata.labels.x = 'y';
    expect(a.spec.template.metadata.labels.x).toBeUndefined();
  });

  it('serializes the selector for the scale subresource and names the in-cluster URL', () => {
    const m = md({ model: { uri: 's3://models/r.onnx' } });
    expect(selectorFor(m)).toBe('app.kubernetes.io/instance=resnet,app.kubernetes.io/name=modelplane-runtime');
    expect(serviceUrl(m)).toBe('http://resnet.ml.svc:8080/v2/models/resnet');
    expect(serviceUrl(md({ model: { uri: 's3://models/r.onnx', servedName: 'rn50' } }))).toBe('http://resnet.ml.svc:8080/v2/models/rn50');
  });

  it.each([
    ['ghcr.io/modelplane/runtime:0.1.0', '0.1.0'],
    ['localhost:5000/runtime', 'latest'],
    ['localhost:5000/runtime:1.2', '1.2'],
    ['ghcr.io/x/rt@sha256:0123456789abcdef0123', '0123456789ab'],
    ['rt:+weird+', 'weird'],
  ])('labels image %s with version %s', (image, version) => {
    expect(versionLabelValue(image)).toBe(version);
  });
});
