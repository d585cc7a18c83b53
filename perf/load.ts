// The two ways of applying load. Closed loop: N callers, each sending its next request when the last one
// answered (latency from the send). Open loop: requests due at fixed times, i / rate, whether or not earlier
// ones have answered; latency runs from the time a request was due, not from when it could be sent, so a
// server that falls behind cannot hide its queue by slowing the client down (coordinated omission corrected).

/** Sends request i; resolves its outcome: for inference undefined on success or an error key. */
export type Send<R = string | undefined> = (i: number) => Promise<R>;
/**
 * One finished request: its latency in ms, its outcome, and when it started (performance.now(): the send in closed
 * loop, the time it was due in open loop), so that times within the answer are measured from the same start.
 */
export type OnResult<R = string | undefined> = (latencyMs: number, outcome: R, startedAt: number) => void;

export interface LoadResult {
  /** From the first send to the last answer, ms. */
  elapsedMs: number;
  sent: number;
  /** Open loop: the most requests that were due and not yet sent at one time. */
  maxBacklog?: number;
  /** Open loop: requests that came due during the step but were never sent (the client was at --max-inflight). */
  unsent?: number;
}

/** Live figures for progress lines. */
export interface LoadState {
  inflight: number;
  backlog: number;
}

export interface LoadOptions<R = string | undefined> {
  durationMs: number;
  send: Send<R>;
  onResult: OnResult<R>;
  state?: LoadState;
  /** Ends the step early (Ctrl-C): no new request is sent, those in flight finish. */
  shouldStop?: () => boolean;
  now?: () => number;
}

export async function runClosedLoop<R>(concurrency: number, o: LoadOptions<R>): Promise<LoadResult> {
  const now = o.now ?? (() => performance.now());
  const state = o.state ?? { inflight: 0, backlog: 0 };
  const start = now();
  const end = start + o.durationMs;
  let next = 0;
  let last = start;
  const caller = async () => {
    while (now() < end && !o.shouldStop?.()) {
      const i = next++;
      const t0 = now();
      state.inflight++;
      const err = await o.send(i);
      state.inflight--;
      last = now();
      o.onResult(last - t0, err, t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { elapsedMs: Math.max(last - start, 1e-3), sent: next };
}

/** When request i is due, in ms from the start of an open-loop step at `rate` requests per second. */
export function dueAt(i: number, rate: number): number {
  return (i * 1000) / rate;
}

/** How many requests an open-loop step of this length sends: those due before its end. */
export function requestsDue(durationMs: number, rate: number): number {
  return Math.ceil((durationMs * rate) / 1000 - 1e-9);
}

export function runOpenLoop<R>(rate: number, maxInflight: number, o: LoadOptions<R>): Promise<LoadResult> {
  const now = o.now ?? (() => performance.now());
  const state = o.state ?? { inflight: 0, backlog: 0 };
  const total = requestsDue(o.durationMs, rate);
  const start = now();
  let due = 0;
  let sent = 0;
  let maxBacklog = 0;
  let stopped = false;
  let cut = false;
  let timer: NodeJS.Timeout | undefined;
  let last = start;
  return new Promise((resolve) => {
    // The step lasts its whole duration even when the last request is due (and answered) before its end.
    const finish = () => resolve({ elapsedMs: Math.max(last - start, cut ? now() - start : o.durationMs), sent, maxBacklog, unsent: Math.max(0, due - sent) });
    const fire = (i: number) => {
      const intended = start + dueAt(i, rate);
      state.inflight++;
      void o.send(i).then((err) => {
        state.inflight--;
        last = now();
        o.onResult(last - intended, err, intended);
        if (!stopped) pump();
        else if (state.inflight === 0) finish();
      });
    };
    const pump = () => {
      const t = now() - start;
      while (due < total && dueAt(due, rate) <= t) due++;
      while (sent < due && state.inflight < maxInflight) fire(sent++);
      state.backlog = due - sent;
      maxBacklog = Math.max(maxBacklog, state.backlog);
      cut = cut || (t < o.durationMs && !!o.shouldStop?.());
      if (t >= o.durationMs || (due === total && sent === total) || cut) {
        stopped = true;
        state.backlog = 0;
        if (timer) clearTimeout(timer);
        if (state.inflight === 0) finish();
        return;
      }
      if (!timer) {
        const wait = Math.max(0, Math.min(dueAt(due, rate), o.durationMs) - t);
        timer = setTimeout(() => {
          timer = undefined;
          pump();
        }, wait);
      }
    };
    pump();
  });
}
