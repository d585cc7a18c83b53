import type { ModelDeployment } from '../../../operator/api/schema.js';
import { withDefaults } from '../../../operator/api/validate.js';

export const HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
export const CFG = { runtimeImage: 'ghcr.io/modelplane/runtime:0.1.0', runtimeGpuImage: 'ghcr.io/modelplane/runtime-gpu:0.1.0' };

/** A ModelDeployment as read from the API server: defaults applied, uid set. */
export function md(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): ModelDeployment {
  return {
    apiVersion: 'serving.modelplane.io/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: 'resnet', namespace: 'ml', uid: '4b1f9c1e-0000-4000-8000-000000000001', generation: 1, ...metadata },
    spec: withDefaults(spec),
  };
}
