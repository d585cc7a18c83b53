// The app.kubernetes.io labels every child carries; the selector is the stable subset (name + instance),
// since a Deployment's selector is immutable and must not change when the runtime version does.
import type { ModelDeployment } from '../api/schema.js';

export const NAME_LABEL = 'app.kubernetes.io/name';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const VERSION_LABEL = 'app.kubernetes.io/version';

export const RUNTIME_APP_NAME = 'modelplane-runtime';
export const MANAGED_BY = 'modelplane';

/** Labels that select one ModelDeployment's runtime pods. */
export function selectorLabels(md: ModelDeployment): Record<string, string> {
  return { [INSTANCE_LABEL]: md.metadata.name!, [NAME_LABEL]: RUNTIME_APP_NAME };
}

/** The selector in the serialized form of status.selector (the scale subresource's labelSelectorPath). */
export function selectorFor(md: ModelDeployment): string {
  return Object.entries(selectorLabels(md))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * The image tag as a label value: `ghcr.io/x/runtime:1.2.3` -> `1.2.3`; a digest -> its first 12 hex digits;
 * no tag -> `latest`. Label values allow at most 63 characters from [A-Za-z0-9_.-], starting and ending alphanumeric.
 */
export function versionLabelValue(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(at + 1).replace(/^[a-z0-9]+:/, '').slice(0, 12);
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  const tag = colon >= 0 ? image.slice(colon + 1) : 'latest';
  const cleaned = tag.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned || 'latest';
}

export function labelsFor(md: ModelDeployment, image: string): Record<string, string> {
  return { ...selectorLabels(md), [MANAGED_BY_LABEL]: MANAGED_BY, [VERSION_LABEL]: versionLabelValue(image) };
}
