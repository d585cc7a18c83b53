// The two load shapes against a stand-in send whose answer times the test controls.
import { dueAt, requestsDue, runClosedLoop, runOpenLoop } from '../../perf/load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const latencies: number[] = [];
  const errors: string[] = [];
  return { latencies, errors, onResult: (ms: number, err: string | undefined) => (err ? errors.push(err) : latencies.push(ms)) };
}

test.each([
  [1000, 100, 100],
  [500, 100, 50],
  [1000, 3, 3],
  [250, 7, 2],
])('an open-loop step of %d ms at %d/s sends %d requests, due i / rate apart', (ms, rate, n) => {
  expect(requestsDue(ms, rate)).toBe(n);
  expect(dueAt(n - 1, rate)).toBeLessThan(ms);
  expect(dueAt(n, rate)).toBeGreaterThanOrEqual(ms);
});

test('open loop: every due request is sent, on time, and answers are counted', async () => {
  const r = recorder();
  const sentAt: number[] = [];
  const t0 = performance.now();
  const res = await runOpenLoop(200, 100, { durationMs: 250, onResult: r.onResult, send: async () => { sentAt.push(performance.now() - t0); await sleep(1); return undefined; } });
  expect(res.sent).toBe(50);
  expect(res.unsent).toBe(0);
  expect(r.latencies).toHaveLength(50);
  // Sent near their due times: i x 5 ms (timers are coarse and the machine is shared, so loosely).
  sentAt.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(dueAt(i, 200) - 1));
  expect(res.elapsedMs).toBeGreaterThanOrEqual(250);
});

test('open loop counts the time a request waited to be sent (coordinated omission corrected)', async () => {
  const r = recorder();
  // One slow answer holds the only connection for 60 ms while requests keep coming due every 10 ms.
  const res = await runOpenLoop(100, 1, { durationMs: 200, onResult: r.onResult, send: async (i) => { await sleep(i === 0 ? 60 : 1); return undefined; } });
  expect(res.sent).toBe(20);
  expect(res.maxBacklog).toBeGreaterThanOrEqual(4);
  // Request 1 was due at 10 ms and could go at 60 ms: its latency is at least 50 ms, not the 1 ms it took on the wire.
  const slow = r.latencies.filter((ms) => ms >= 25);
  expect(slow.length).toBeGreaterThanOrEqual(4);
  expect(Math.max(...r.latencies)).toBeGreaterThanOrEqual(55);
});

test('open loop: requests that never got a connection are reported unsent', async () => {
  const r = recorder();
  const res = await runOpenLoop(100, 1, { durationMs: 200, onResult: r.onResult, send: async () => { await sleep(300); return undefined; } });
  expect(res.sent).toBe(1);
  expect(res.unsent).toBe(19);
  expect(r.latencies).toHaveLength(1);
});

test('closed loop: exactly N callers, each sending when its last answer came, errors counted apart', async () => {
  const r = recorder();
  let inflight = 0;
  let most = 0;
  const res = await runClosedLoop(3, {
    durationMs: 120,
    onResult: r.onResult,
    send: async (i) => {
      most = Math.max(most, ++inflight);
      await sleep(5);
      inflight--;
      return i % 4 === 3 ? '503 QueueFull' : undefined;
    },
  });
  expect(most).toBe(3);
  expect(res.sent).toBe(r.latencies.length + r.errors.length);
  expect(res.sent).toBeGreaterThan(15);
  expect(r.errors.every((e) => e === '503 QueueFull')).toBe(true);
  expect(r.errors.length).toBe(Math.floor(res.sent / 4));
  expect(Math.min(...r.latencies)).toBeGreaterThanOrEqual(4);
});

test.each(['closed', 'open'])('%s loop: a stop request ends the step early', async (kind) => {
  const r = recorder();
  const t0 = performance.now();
  const o = { durationMs: 5000, onResult: r.onResult, shouldStop: () => performance.now() - t0 > 100, send: async () => { await sleep(2); return undefined; } };
  const res = kind === 'closed' ? await runClosedLoop(2, o) : await runOpenLoop(100, 10, o);
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(res.sent).toBeGreaterThan(0);
});
