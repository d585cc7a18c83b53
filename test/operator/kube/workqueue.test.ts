import { describe, expect, it } from '@jest/globals';
import { ExponentialBackoff, WorkQueue, backoffDelay, runWorkers } from '../../../operator/kube/workqueue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('never holds a key twice', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    q.done('a');
    q.done('b');
    expect(q.length).toBe(0);
  });

  it('runs a key re-added during processing again afterwards, never concurrently', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // held back while a worker processes it
    q.done(key!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('backs off per key exponentially and resets on forget', () => {
    const b = new ExponentialBackoff(10, 100);
    expect([b.next('a'), b.next('a'), b.next('a'), b.next('b'), b.next('a'), b.next('a')]).toEqual([10, 20, 40, 10, 80, 100]);
    b.forget('a');
    expect(b.next('a')).toBe(10);
    expect(backoffDelay(3, 100, 10_000, 0.5, () => 1)).toBe(1200);
    expect(backoffDelay(40, 100, 10_000, 0, () => 1)).toBe(10_000);
  });

  it('requeues failures after their backoff and keeps the earliest delayed add', async () => {
    const q = new WorkQueue({ baseDelayMs: 30, maxDelayMs: 1000 });
    q.addAfter('a', 500);
    q.addAfter('a', 20);
    expect(q.length).toBe(0);
    await sleep(60);
    expect(q.length).toBe(1);
    const k = await q.get();
    expect(q.addRateLimited(k!)).toBe(30);
    q.done(k!);
    await sleep(10);
    expect(q.length).toBe(0);
    await sleep(50);
    expect(q.length).toBe(1);
    await q.shutDown();
  });

  it('bounds parallel workers, retries errors with backoff and drains on shutdown', async () => {
    const q = new WorkQueue({ baseDelayMs: 5, maxDelayMs: 50 });
    let running = 0;
    let peak = 0;
    const attempts = new Map<string, number>();
    const done = new Set<string>();
    const workers = runWorkers(q, 3, async (key) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(5);
      running--;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (key === 'flaky' && n < 3) throw new Error('transient');
      done.add(key);
    });
    for (let i = 0; i < 12; i++) q.add(`k${i}`);
    q.add('flaky');
    const deadline = Date.now() + 3000;
    while (done.size < 13 && Date.now() < deadline) await sleep(10);
    expect(done.size).toBe(13);
    expect(peak).toBe(3);
    expect(attempts.get('flaky')).toBe(3);
    expect(q.backoff.failuresOf('flaky')).toBe(0);
    q.add('slow');
    await sleep(1);
    await q.shutDown();
    await workers;
    expect(running).toBe(0);
  });
});
