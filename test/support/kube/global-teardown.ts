// Jest global teardown: stops the control plane global-setup.ts started, if any.
import type { ControlPlane } from './control-plane.js';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __modelplaneControlPlane?: ControlPlane };
  await g.__modelplaneControlPlane?.stop();
  g.__modelplaneControlPlane = undefined;
}
