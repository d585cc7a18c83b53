// The gateway's HTTP/2 connections to replicas' gRPC ports: one session per upstream (host:grpcPort), opened on its
// first call and reused by every later one, dropped when it errors, is told to go away, or its upstream leaves the
// directory. A session remembers whether it ever connected: a call on one that never did sent no byte anywhere, so
// it may be tried once more on another replica.
import { connect, type ClientHttp2Session } from 'node:http2';
import type { Logger } from '../common/logger.js';
import type { Upstream } from './directory.js';

/** Bytes a session and a stream may have in flight before the other side must wait (HTTP/2's 64 KiB is slow for tensors). */
export const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Megabytes of frames node keeps per session before it refuses new streams (its default, 10, is small for tensors). */
export const MAX_SESSION_MEMORY_MB = 256;

export interface UpstreamSession {
  readonly key: string;
  readonly session: ClientHttp2Session;
  /** Whether its connection was ever established. */
  connected: boolean;
}

/** host:port, with an IPv6 address in brackets. */
export function sessionKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class UpstreamSessions {
  private readonly open = new Map<string, UpstreamSession>();

  constructor(private readonly connectTimeoutMs: number, private readonly logger?: Logger) {}

  /** The session to `upstream`'s gRPC port, opened now unless one is open. */
  get(upstream: Upstream & { grpcPort: number }): UpstreamSession {
    const key = sessionKey(upstream.host, upstream.grpcPort);
    const known = this.open.get(key);
    if (known && !known.session.closed && !known.session.destroyed) return known;
    const entry = this.connect(key, upstream.id);
    this.open.set(key, entry);
    return entry;
  }

  /** Closes the sessions to upstreams not in `keys` (calls on them finish first). */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const [key, entry] of this.open) {
      if (keys.has(key)) continue;
      this.open.delete(key);
      entry.session.close();
    }
  }

  /** Ends every session now. */
  destroyAll(): void {
    for (const entry of this.open.values()) entry.session.destroy();
    this.open.clear();
  }

  private connect(key: string, upstreamId: string): UpstreamSession {
    const session = connect(`http://${key}`, { settings: { initialWindowSize: STREAM_WINDOW_BYTES }, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    const entry: UpstreamSession = { key, session, connected: false };
    const forget = () => {
      if (this.open.get(key) === entry) this.open.delete(key);
    };
    // A connection that neither succeeds nor fails (a dropped SYN) must not hold calls forever.
    const timer = setTimeout(() => session.destroy(new Error(`no connection after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
    session.on('connect', () => {
      clearTimeout(timer);
      entry.connected = true;
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    });
    session.on('error', (err) => {
      this.logger?.debug('grpc upstream session failed', { upstream: upstreamId, address: key, error: err.message });
      forget();
    });
    // A replica that drains says GOAWAY: its calls finish on this session, new ones open another.
    session.on('goaway', forget);
    session.on('close', () => {
      clearTimeout(timer);
      forget();
    });
    return entry;
  }
}
