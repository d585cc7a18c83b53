// The key check as the gateway's proxy and lists call it: a KeyStore's answers turned into the gateway's refusals,
// and its state (clients loaded, reloads refused) as Prometheus text.
import type { IncomingHttpHeaders } from 'node:http';
import type { Denied, KeyStore } from './keys.js';
import type { Refusal } from './proxy.js';
import type { Gatekeeper } from './server.js';

function refusal(d: Denied): Refusal {
  return {
    status: d.status,
    reason: d.reason,
    message: d.message,
    ...(d.retryAfterSeconds !== undefined ? { retryAfterSeconds: d.retryAfterSeconds } : {}),
    // Retry-After is written from retryAfterSeconds; WWW-Authenticate goes as it is.
    ...(d.headers['WWW-Authenticate'] ? { headers: ['WWW-Authenticate', d.headers['WWW-Authenticate']] } : {}),
  };
}

export function gatekeeperFor(store: KeyStore): Gatekeeper {
  return {
    authorize: (headers: IncomingHttpHeaders, model: string) => {
      const a = store.authorize(headers, model);
      return a.ok ? undefined : refusal(a);
    },
    visible: (headers) => {
      const v = store.visible(headers);
      return typeof v === 'function' ? v : refusal(v);
    },
    metricsText: () => [
      '# HELP modelplane_gateway_api_keys_loaded Clients in the API keys in use.',
      '# TYPE modelplane_gateway_api_keys_loaded gauge',
      `modelplane_gateway_api_keys_loaded ${store.size}`,
      '# HELP modelplane_gateway_api_keys_reload_failures_total Changes of the API keys refused (the previous keys stay in use).',
      '# TYPE modelplane_gateway_api_keys_reload_failures_total counter',
      `modelplane_gateway_api_keys_reload_failures_total ${store.reloadFailures}`,
      '',
    ].join('\n'),
    close: () => store.close(),
  };
}
