// The load signal the autoscaler reads: request-seconds in flight, integrated exactly on every change and read.
import { InflightTracker, RuntimeMetrics } from '../../runtime/metrics.js';

describe('InflightTracker', () => {
  test.each([
    // [steps of (advance ms, new count)], expected request-seconds
    { name: 'idle', steps: [[1000, 0]], seconds: 0 },
    { name: 'one request for 2 s', steps: [[0, 1], [2000, 0]], seconds: 2 },
    { name: 'three overlapping requests', steps: [[0, 1], [500, 2], [500, 3], [1000, 1], [1000, 0]], seconds: 0.5 + 1 + 3 + 1 },
    { name: 'a read mid-request counts the time so far', steps: [[0, 4], [250, 4]], seconds: 1 },
  ])('$name', ({ steps, seconds }) => {
    let now = 10_000;
    const t = new InflightTracker(() => now);
    for (const [advance, count] of steps) {
      now += advance;
      t.count = count;
    }
    expect(t.concurrencySeconds()).toBeCloseTo(seconds, 9);
  });

  test('++ and -- keep the integral, as the server uses them', () => {
    let now = 0;
    const t = new InflightTracker(() => now);
    t.count++;
    now += 1000;
    t.count++;
    now += 1000;
    t.count--;
    now += 1000;
    t.count--;
    expect(t.count).toBe(0);
    expect(t.concurrencySeconds()).toBeCloseTo(4, 9);
  });

  test('the counter in /metrics follows the integral and never goes backwards', async () => {
    let now = 0;
    const t = new InflightTracker(() => now);
    const m = new RuntimeMetrics('m', { inflight: () => t.count, queued: () => 0, concurrencySeconds: () => t.concurrencySeconds() });
    const read = async () => Number(/modelplane_request_concurrency_seconds_total\{model="m"\} (\S+)/.exec(await m.registry.metrics())![1]);
    expect(await read()).toBe(0);
    t.count = 3;
    now += 2000;
    expect(await read()).toBeCloseTo(6, 9);
    now += 1000;
    expect(await read()).toBeCloseTo(9, 9);
  });
});
