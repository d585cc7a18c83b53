// Times as Kubernetes writes them (RFC 3339, whole seconds, UTC): conditions, status and Events compare equal
// to what the API server stores.

/** `2026-01-01T00:00:00Z` for a Date or milliseconds since the epoch. */
export function isoSeconds(t: Date | number): string {
  return new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}
