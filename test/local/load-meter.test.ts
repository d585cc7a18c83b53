// The router's measure of load, as the autoscaler's decision function takes it.
import { LoadMeter, percentile } from '../../local/load-meter.js';

test('concurrency is the time integral of requests in flight over the interval', () => {
  const m = new LoadMeter(0);
  m.begin(0);
  m.begin(0);
  m.end('success', 1, 1000); // two in flight for 1 s
  m.end('success', 2, 2000); // one for the next second
  const s = m.sample(2000);
  expect(s).toMatchObject({ time: 2000, seconds: 2, rejected: 0, rejectedConcurrency: 0 });
  expect(s.concurrency).toBeCloseTo(1.5);
  // The next interval starts empty; a request still in flight counts in full.
  m.begin(2000);
  expect(m.sample(4000).concurrency).toBeCloseTo(1);
});

test('rejected requests become the concurrency they would have added (Little\'s law)', () => {
  const m = new LoadMeter(0);
  for (let i = 0; i < 4; i++) {
    m.begin(0);
    m.end('success', 0.5, 0);
  }
  for (let i = 0; i < 10; i++) {
    m.begin(0);
    m.end('rejected', 0, 0);
  }
  const s = m.sample(2000);
  expect(s.rejected).toBe(10);
  // 10 rejected in 2 s = 5/s, times the 0.5 s mean latency of answered requests
  expect(s.rejectedConcurrency).toBeCloseTo(2.5);
});

test('summary and history give rate and percentiles per second', () => {
  const m = new LoadMeter(0);
  const base = 1_000_000;
  for (let i = 1; i <= 100; i++) {
    m.begin(base);
    m.end('success', i / 1000, base + 500);
  }
  m.noteReplicas(2, base + 600);
  const s = m.summary(10, base + 900);
  expect(s.p50).toBeCloseTo(0.05);
  expect(s.p99).toBeCloseTo(0.099);
  const h = m.history(5, base + 900);
  expect(h).toHaveLength(5);
  expect(h[4]).toMatchObject({ t: base / 1000, rate: 100, readyReplicas: 2 });
  expect(h[0].rate).toBe(0);
  expect(percentile([], 50)).toBeUndefined();
});
