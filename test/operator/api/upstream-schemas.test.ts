import { readFileSync, writeFileSync } from 'node:fs';
import { renderUpstreamSchemasModule, readUpstreamDefinitions, UPSTREAM_SCHEMAS_FILE } from './upstream-schemas-source.js';

describe('vendored upstream Kubernetes schemas', () => {
  it('match the Kubernetes types installed in node_modules', () => {
    const fresh = renderUpstreamSchemasModule();
    if (process.env.UPDATE_UPSTREAM_SCHEMAS === '1') writeFileSync(UPSTREAM_SCHEMAS_FILE, fresh);
    expect(readFileSync(UPSTREAM_SCHEMAS_FILE, 'utf8')).toBe(fresh);
  });

  it('keep required fields, enums and integer formats from upstream', () => {
    const defs = readUpstreamDefinitions() as Record<string, any>;
    expect(defs['io.k8s.api.core.v1.TopologySpreadConstraint'].required).toEqual(['maxSkew', 'topologyKey', 'whenUnsatisfiable']);
    expect(defs['io.k8s.api.core.v1.TopologySpreadConstraint'].properties.maxSkew).toMatchObject({ type: 'integer', format: 'int32' });
    expect(defs['io.k8s.api.core.v1.Toleration'].properties.effect.enum).toEqual(['NoExecute', 'NoSchedule', 'PreferNoSchedule']);
    expect(defs['io.k8s.api.core.v1.Toleration'].properties.tolerationSeconds).toMatchObject({ type: 'integer', format: 'int64' });
    expect(defs['io.k8s.api.core.v1.ResourceRequirements'].properties.limits.additionalProperties['x-kubernetes-int-or-string']).toBe(true);
    expect(defs['io.k8s.api.core.v1.NodeSelectorTerm'].properties.matchExpressions.items).toEqual({ $ref: 'io.k8s.api.core.v1.NodeSelectorRequirement' });
    expect(defs['io.k8s.apimachinery.pkg.apis.meta.v1.Condition'].required).toEqual(['lastTransitionTime', 'message', 'reason', 'status', 'type']);
  });
});
