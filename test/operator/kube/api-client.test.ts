// The RBAC verb and resource of a request, as the API server's authorizer reads them from method and path.
import { describe, expect, it } from '@jest/globals';
import { requestTarget } from '../../../operator/kube/api-client.js';

const S = 'https://127.0.0.1:6443';

describe('requestTarget', () => {
  it.each<[string, string, Record<string, string>]>([
    ['GET', `${S}/apis/coordination.k8s.io/v1/namespaces/ops/leases/modelplane`, { verb: 'get', resource: 'leases.coordination.k8s.io', namespace: 'ops', name: 'modelplane' }],
    ['PUT', `${S}/apis/coordination.k8s.io/v1/namespaces/ops/leases/modelplane`, { verb: 'update', resource: 'leases.coordination.k8s.io' }],
    ['GET', `${S}/api/v1/pods?labelSelector=a%3Db`, { verb: 'list', resource: 'pods' }],
    ['GET', `${S}/api/v1/namespaces/ml/pods?watch=true&resourceVersion=5`, { verb: 'watch', resource: 'pods', namespace: 'ml' }],
    ['POST', `${S}/api/v1/namespaces/ml/events`, { verb: 'create', resource: 'events', namespace: 'ml' }],
    ['PATCH', `${S}/apis/serving.modelplane.io/v1alpha1/namespaces/ml/modeldeployments/resnet/status`, { verb: 'patch', resource: 'modeldeployments.serving.modelplane.io/status', name: 'resnet' }],
    ['DELETE', `${S}/apis/policy/v1/namespaces/ml/poddisruptionbudgets/resnet`, { verb: 'delete', resource: 'poddisruptionbudgets.policy' }],
    ['GET', `${S}/api/v1/namespaces/ml`, { verb: 'get', resource: 'namespaces', name: 'ml' }],
  ])('%s %s', (method, url, want) => {
    expect(requestTarget(method, url)).toMatchObject(want);
  });
});
