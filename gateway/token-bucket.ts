// A token bucket: a client's rate limit. It holds up to `burst` tokens, refills continuously at `ratePerSecond`, and
// each request takes one. Time is passed in (milliseconds from any monotonic origin), so tests and the gateway share
// one clock and nothing sleeps; no timers, no allocation per take.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private ratePerSecond: number, private burst: number, nowMs: number) {
    this.tokens = burst;
    this.last = nowMs;
  }

  /** Takes one token: 0 when it was there, else the seconds until one will be (nothing is taken then). */
  take(nowMs: number): number {
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.ratePerSecond;
  }

  /** Tokens there now (a fraction while refilling). */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /** A new rate and burst (a reloaded key file): the tokens it holds stay, cut to the new burst. */
  reconfigure(ratePerSecond: number, burst: number, nowMs: number): void {
    this.refill(nowMs);
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    if (this.tokens > burst) this.tokens = burst;
  }

  /** A clock that goes back (another origin, a test) refills nothing and takes nothing away. */
  private refill(nowMs: number): void {
    const elapsed = nowMs - this.last;
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.ratePerSecond);
    this.last = nowMs;
  }
}
