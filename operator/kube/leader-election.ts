// Leader election through a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the lease is free
// or expired, renew every retry period, and give up leadership the moment the renew deadline passes without a
// successful renewal, whether the requests failed or still hang: every lease request carries a deadline that
// ends no later than the renew deadline, and a timer enforces the deadline even if one did not. A renewal
// counts from when its request was sent, so leadership always ends before the lease can look expired to a
// standby. Expiry is judged by when this process last saw the lease change, never by comparing clocks across
// machines. A clean shutdown releases the lease so a standby takes over at once.
import { ApiException, V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { withDeadline, type ApiClientOptions } from './api-client.js';
import { describeError } from './informer.js';
import { checkLeaderElectionTimings, type LeaderElectionTimings } from './leader-election-timings.js';

export interface LeaderElectionOptions extends LeaderElectionTimings {
  leaseName: string;
  leaseNamespace: string;
  identity: string;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  /** Leadership ended without a clean shutdown: the renew deadline passed. The elector campaigns no more. */
  onStoppedLeading(): void;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private deadlineTimer?: NodeJS.Timeout;
  private observed?: { holder: string; renewTime: string; at: number };
  private lastRenew = 0;
  private current?: V1Lease;
  private inFlight?: Promise<void>;
  private attempt?: AbortController;
  /** When the campaign loop last finished an attempt (or started): a loop that stops advancing is stuck. */
  lastProgressAt = Date.now();

  constructor(
    private readonly leases: CoordinationV1Api,
    private readonly opts: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
    /** The user agent (and any other client option) of lease requests; their deadlines are the elector's. */
    private readonly client: ApiClientOptions = {},
  ) {
    checkLeaderElectionTimings(opts);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get isRunning(): boolean {
    return !this.stopped;
  }

  start(): void {
    this.stopped = false;
    this.lastProgressAt = Date.now();
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tick().finally(() => {
        this.inFlight = undefined;
        this.lastProgressAt = Date.now();
        this.schedule(this.opts.retryPeriodMs);
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const sentAt = Date.now();
    // A leader's attempt must end by its renew deadline; a candidate's within one renew deadline.
    const budget = this.leading ? this.lastRenew + this.opts.renewDeadlineMs - sentAt : this.opts.renewDeadlineMs;
    if (budget <= 0) return this.loseLeadership();
    const attempt = new AbortController();
    this.attempt = attempt;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew(budget, attempt.signal);
    } finally {
      this.attempt = undefined;
    }
    if (this.stopped) return;
    if (ok && Date.now() - sentAt < this.opts.renewDeadlineMs) {
      this.lastRenew = sentAt;
      this.armDeadline();
      if (!this.leading) {
        this.leading = true;
        this.log.info('became leader', { lease: `${this.opts.leaseNamespace}/${this.opts.leaseName}`, identity: this.opts.identity });
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && Date.now() - this.lastRenew >= this.opts.renewDeadlineMs) {
      this.loseLeadership();
    }
  }

  /** Gives up leadership when the renew deadline passes, even while a renewal is still in flight. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.leading && Date.now() - this.lastRenew >= this.opts.renewDeadlineMs) this.loseLeadership();
    }, Math.max(0, this.lastRenew + this.opts.renewDeadlineMs - Date.now()));
  }

  private loseLeadership(): void {
    if (!this.leading) return;
    this.leading = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.attempt?.abort();
    this.log.error('lost leadership: the lease was not renewed within the renew deadline', {
      lease: `${this.opts.leaseNamespace}/${this.opts.leaseName}`, identity: this.opts.identity, renewDeadlineMs: this.opts.renewDeadlineMs, sinceLastRenewMs: Date.now() - this.lastRenew,
    });
    this.callbacks.onStoppedLeading();
  }

  /** One attempt within `budgetMs`; true when this process holds the lease afterwards. */
  async tryAcquireOrRenew(budgetMs = this.opts.renewDeadlineMs, signal?: AbortSignal): Promise<boolean> {
    const { leaseName: name, leaseNamespace: namespace, identity } = this.opts;
    const deadline = Date.now() + budgetMs;
    const call = () => withDeadline({ ...this.client, timeoutMs: Math.max(1, deadline - Date.now()), signal });
    const now = new V1MicroTime();
    const durationSeconds = Math.max(1, Math.ceil(this.opts.leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await this.leases.readNamespacedLease({ name, namespace }, call());
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) {
        this.log.debug('reading the lease failed', { error: describeError(err) });
        return false;
      }
      try {
        this.current = await this.leases.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        }, call());
        return true;
      } catch (createErr) {
        this.log.debug('creating the lease failed', { error: describeError(createErr) });
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ? String(spec.renewTime instanceof Date ? spec.renewTime.toISOString() : spec.renewTime) : '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && Date.now() < this.observed.at + this.opts.leaseDurationMs) return false;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        acquireTime: holder === identity && spec.acquireTime ? new V1MicroTime(spec.acquireTime) : now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
      },
    };
    try {
      this.current = await this.leases.replaceNamespacedLease({ name, namespace, body }, call());
      return true;
    } catch (err) {
      this.log.debug('updating the lease failed', { error: describeError(err) });
      return false;
    }
  }

  /** Stops campaigning; with release, a held lease is handed back so another candidate acquires it at once. */
  async stop(release: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (!release) this.attempt?.abort();
    await this.inFlight;
    const wasLeading = this.leading;
    this.leading = false;
    if (!wasLeading || !release || !this.current) return;
    const { leaseName: name, leaseNamespace: namespace } = this.opts;
    try {
      const opts = () => withDeadline({ ...this.client, timeoutMs: this.opts.renewDeadlineMs, signal: undefined });
      const lease = await this.leases.readNamespacedLease({ name, namespace }, opts());
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      await this.leases.replaceNamespacedLease({
        name, namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(), acquireTime: undefined } },
      }, opts());
      this.log.info('released the lease', { lease: `${namespace}/${name}` });
    } catch (err) {
      this.log.warn('releasing the lease failed', { error: describeError(err) });
    }
  }
}
