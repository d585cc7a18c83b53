// The gateway's key check (server.ts's Gatekeeper) over a KeyStore: a denied request becomes the proxy's Refusal,
// and the model lists show a client only the models its key names (every model when it names none).
import type { IncomingHttpHeaders } from 'node:http';
import type { Denied, KeyStore } from './keys.js';
import type { Refusal } from './proxy.js';
import type { Gatekeeper } from './server.js';

function refusalOf(d: Denied): Refusal {
  return {
    status: d.status,
    reason: d.reason,
    message: d.message,
    ...(d.retryAfterSeconds !== undefined ? { retryAfterSeconds: d.retryAfterSeconds } : {}),
    headers: Object.entries(d.headers).flat(),
  };
}

export function gatekeeperOf(store: KeyStore): Gatekeeper {
  return {
    authorize: (headers: IncomingHttpHeaders, model: string) => {
      const a = store.authorize(headers, model);
      return a.ok ? undefined : refusalOf(a);
    },
    visible: (headers: IncomingHttpHeaders) => {
      const c = store.clientOf(headers);
      if ('ok' in c) return refusalOf(c);
      const models = c.models;
      return models ? (m: string) => models.has(m) : () => true;
    },
  };
}
