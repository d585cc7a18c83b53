// Admission of a request's bytes against the one in-flight budget (`--max-inflight-bytes`), shared by every transport:
// HTTP holds a body's bytes as they arrive, gRPC a message's when it is handed over whole; both refuse alike.
import { RuntimeError } from './errors.js';

/** Bytes of request bodies held by requests not yet answered, against a budget (`--max-inflight-bytes`). */
export class InflightBytes {
  used = 0;
  constructor(readonly limit: number) {}

  /**
   * Holds n more bytes, or refuses (InflightBytesExceeded: HTTP 503, gRPC RESOURCE_EXHAUSTED). A request that is alone is always let through (up to the body
   * limit), so a budget smaller than one large request cannot refuse it forever.
   */
  reserve(n: number, held: number): void {
    if (this.used - held > 0 && this.used + n > this.limit) {
      throw new RuntimeError('InflightBytesExceeded', `requests in flight hold ${this.used} bytes; this request's ${n} more would exceed the budget of ${this.limit} bytes (--max-inflight-bytes); retry later`, { 'Retry-After': '1' });
    }
    this.used += n;
  }

  release(n: number): void {
    this.used -= n;
  }
}

/** One request's share of the budget, released once when the request is answered. */
export class Reservation {
  private held = 0;
  constructor(private readonly budget: InflightBytes) {}

  add(n: number): void {
    this.budget.reserve(n, this.held);
    this.held += n;
  }

  /** Raises the reservation to n bytes when it is below. */
  atLeast(n: number): void {
    if (n > this.held) this.add(n - this.held);
  }

  release(): void {
    this.budget.release(this.held);
    this.held = 0;
  }
}
