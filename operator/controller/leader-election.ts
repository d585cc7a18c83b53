// Leader election through a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the lease is free
// or expired, renew every retry period, give up leadership when renewals fail past the renew deadline, and
// release the lease on a clean shutdown so a standby takes over at once. Expiry is judged by when this
// process last saw the lease change, never by comparing clocks across machines.
import { ApiException, V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import { describeError } from './informer.js';

export interface LeaderElectionOptions {
  leaseName: string;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private observed?: { holder: string; renewTime: string; at: number };
  private lastRenew = 0;
  private current?: V1Lease;
  private inFlight?: Promise<void>;

  constructor(
    private readonly leases: CoordinationV1Api,
    private readonly opts: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tick().finally(() => {
        this.inFlight = undefined;
        this.schedule(this.opts.retryPeriodMs);
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const ok = await this.tryAcquireOrRenew();
    if (this.stopped) return;
    if (ok) {
      this.lastRenew = Date.now();
      if (!this.leading) {
        this.leading = true;
        this.log.info('became leader', { lease: `${this.opts.leaseNamespace}/${this.opts.leaseName}`, identity: this.opts.identity });
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && Date.now() - this.lastRenew > this.opts.renewDeadlineMs) {
      this.leading = false;
      this.log.warn('lost leadership: could not renew the lease in time', { lease: this.opts.leaseName, identity: this.opts.identity });
      this.callbacks.onStoppedLeading();
    }
  }

  /** One attempt; true when this process holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { leaseName: name, leaseNamespace: namespace, identity } = this.opts;
    const now = new V1MicroTime();
    const durationSeconds = Math.max(1, Math.ceil(this.opts.leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await this.leases.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) {
        this.log.debug('reading the lease failed', { error: describeError(err) });
        return false;
      }
      try {
        this.current = await this.leases.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
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
      this.current = await this.leases.replaceNamespacedLease({ name, namespace, body });
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
    await this.inFlight;
    const wasLeading = this.leading;
    this.leading = false;
    if (!wasLeading || !release || !this.current) return;
    const { leaseName: name, leaseNamespace: namespace } = this.opts;
    try {
      const lease = await this.leases.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      await this.leases.replaceNamespacedLease({
        name, namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(), acquireTime: undefined } },
      });
      this.log.info('released the lease', { lease: `${namespace}/${name}` });
    } catch (err) {
      this.log.warn('releasing the lease failed', { error: describeError(err) });
    }
  }
}
