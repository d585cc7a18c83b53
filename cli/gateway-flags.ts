// The gateway's flags, one table for both homes: `modelplane gateway` (the cluster's data path) and `modelplane local`
// (the same gateway in front of local replicas) take them alike.
import { Option } from 'commander';
import { parseDuration, parseInteger } from '../common/parse.js';
import { DEFAULT_HOLD } from '../gateway/hold.js';

/** The parsed flags, as commander gives them. */
export interface GatewayCliOptions {
  /** Commander gives the defaults; a caller that builds these by hand may leave them out. */
  activationTimeout?: string;
  maxHeldRequests?: string;
  apiKeys?: string;
}

export interface GatewaySettings {
  activationTimeoutMs: number;
  maxHeldRequests: number;
  /** A key file, or a directory of entries (a mounted Secret). */
  apiKeysPath?: string;
}

const DEFAULT_ACTIVATION_TIMEOUT = String(DEFAULT_HOLD.activationTimeoutMs / 1000);
const DEFAULT_MAX_HELD_REQUESTS = String(DEFAULT_HOLD.maxHeldRequests);

export function gatewayOptions(): Option[] {
  return [
    new Option('--activation-timeout <seconds>', 'longest a request waits for a replica of a deployment coming up from zero, then 503 with Retry-After').default(DEFAULT_ACTIVATION_TIMEOUT).env('MODELPLANE_ACTIVATION_TIMEOUT'),
    new Option('--max-held-requests <n>', 'requests held at once over every deployment while replicas come up; one more is answered 503').default(DEFAULT_MAX_HELD_REQUESTS).env('MODELPLANE_MAX_HELD_REQUESTS'),
    new Option('--api-keys <path>', 'API keys: a YAML file of clients (key, models, requestsPerSecond), or a directory with one file per client (a mounted Secret); reloaded when it changes').env('MODELPLANE_API_KEYS'),
  ];
}

/** The settings the flags decide; an Error naming the flag for a bad value. */
export function gatewaySettings(o: GatewayCliOptions): GatewaySettings {
  return {
    activationTimeoutMs: parseDuration(String(o.activationTimeout ?? DEFAULT_ACTIVATION_TIMEOUT), '--activation-timeout', { minMs: 1, maxMs: 86_400_000 }),
    maxHeldRequests: parseInteger(String(o.maxHeldRequests ?? DEFAULT_MAX_HELD_REQUESTS), '--max-held-requests', { min: 1, max: 1_000_000 }),
    ...(o.apiKeys ? { apiKeysPath: o.apiKeys } : {}),
  };
}
