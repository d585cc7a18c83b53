// Loops that must run on the leader only (the built-in autoscaler, for one): what each gets for one leadership term.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { EventRecorder } from './events.js';

/** What a leader-only loop gets for one leadership term. */
export interface LeaderTerm<Cache = unknown, Config = unknown> {
  kubeConfig: KubeConfig;
  /** Aborted the moment the term ends (lease lost, shutdown): pass it to anything long-running. */
  signal: AbortSignal;
  /** A typed client whose every request has the operator's deadline and is aborted when the term ends. */
  apiClient<T>(api: new (config: never) => T): T;
  /** What the controller's informers hold. */
  cache: Cache;
  /** The term's event recorder (its writes end with the term too). */
  events: EventRecorder;
  config: Config;
  log: Logger;
}

/** A loop that must run on the leader only (the autoscaler, for instance). */
export interface LeaderLoop<Cache = unknown, Config = unknown> {
  name: string;
  start(term: LeaderTerm<Cache, Config>): void | Promise<void>;
  /** Called when the term ends; with drain false (leadership lost) it must return without writing anything more. */
  stop(drain: boolean): void | Promise<void>;
}
