import { decide, initialState, policyFor, type AutoscalerPolicy, type AutoscalerState, type LoadSample } from '../../../operator/autoscaler/decision.js';

const policy: AutoscalerPolicy = policyFor({ minReplicas: 1, maxReplicas: 10, targetConcurrency: 4, scaleDownDelaySeconds: 30 });
const sample = (time: number, concurrency: number, extra: Partial<LoadSample> = {}): LoadSample => ({ time, seconds: 2, concurrency, rejectedConcurrency: 0, rejected: 0, ...extra });

/** Runs the decider every 2 s over a load curve, applying each decision as the writer would (pods become ready at once). */
function simulate(load: (t: number) => number, seconds: number, start = 1, p = policy, opts: { readyLag?: number } = {}) {
  let state: AutoscalerState = initialState(0);
  let current = start;
  const history: { t: number; desired: number; reason: string }[] = [];
  for (let t = 2; t <= seconds; t += 2) {
    const now = t * 1000;
    const ready = opts.readyLag ? Math.min(current, start) : current;
    const r = decide(p, state, { now, current, ready, notReady: current - ready, sample: sample(now, load(t)) });
    state = r.state;
    if (r.decision.desired !== current) history.push({ t, desired: r.decision.desired, reason: r.decision.reason });
    current = r.decision.desired;
  }
  return { current, history };
}

describe('autoscaler decision', () => {
  test('policyFor takes targetSequences for metric sequences, and says sequences in its reasons', () => {
    const spec = { minReplicas: 1, maxReplicas: 10, targetConcurrency: 4, targetSequences: 16, scaleDownDelaySeconds: 30 };
    expect(policyFor({ ...spec, metric: 'concurrency' })).toMatchObject({ targetConcurrency: 4, signal: 'concurrency' });
    const sequences = policyFor({ ...spec, metric: 'sequences' });
    expect(sequences).toMatchObject({ targetConcurrency: 16, signal: 'sequences' });
    // 48 sequences on 2 replicas at 16 each: 3 replicas, from the stable window (1.5x the ready replicas is no panic).
    const { history } = simulate(() => 48, 120, 2, sequences);
    expect(history[0]).toMatchObject({ desired: 3 });
    expect(history[0].reason).toMatch(/^average sequences 48, target 16/);
  });

  test('steady load at the target keeps the count and writes nothing', () => {
    const { current, history } = simulate(() => 8, 600, 2);
    expect(current).toBe(2);
    expect(history).toEqual([]);
  });

  test('a spike panics and scales up at once, within one step', () => {
    const { history, current } = simulate((t) => (t >= 100 ? 40 : 2), 104, 1);
    // The first step that sees the spike scales up; the panic window reaches the full count as it fills.
    expect(history[0]).toMatchObject({ t: 100, desired: 4 });
    expect(history[0].reason).toMatch(/^panic: concurrency over 6s 14\.7, target 4/);
    expect(history.at(-1)).toMatchObject({ t: 104, desired: 10 });
    expect(current).toBe(10);
  });

  test('slow decay scales down only after the delay, never below what the window asked for', () => {
    const { history } = simulate((t) => (t < 120 ? 32 : 4), 400, 8);
    const downs = history.filter((h) => h.desired < 8);
    expect(downs.length).toBeGreaterThan(0);
    // The stable window (60 s) and the delay (30 s) must both pass after the drop at 120 s.
    expect(downs[0].t).toBeGreaterThanOrEqual(150);
    expect(history.at(-1)!.desired).toBe(1);
  });

  test('flapping load around the target causes no scale writes', () => {
    const { history } = simulate((t) => (Math.floor(t / 10) % 2 ? 9 : 5), 600, 2);
    expect(history).toEqual([]);
  });

  test('bounds: never above max or below min, and a count outside them is corrected', () => {
    expect(simulate(() => 400, 60, 1).current).toBe(10);
    expect(simulate(() => 0, 600, 3).current).toBe(1);
    const r = decide(policy, initialState(0), { now: 2000, current: 40, ready: 40, notReady: 0 });
    expect(r.decision.desired).toBe(10);
  });

  test('no observation (only fresh pods scraped) holds the count', () => {
    const r = decide(policy, initialState(0), { now: 2000, current: 5, ready: 5, notReady: 0 });
    expect(r.decision.desired).toBe(5);
    expect(r.decision.reason).toMatch(/no load observed/);
  });

  test('scale-down waits for a full delay window after the decider starts', () => {
    let state = initialState(0);
    let r = decide(policy, state, { now: 2000, current: 6, ready: 6, notReady: 0, sample: sample(2000, 1) });
    expect(r.decision.desired).toBe(6);
    state = r.state;
    r = decide(policy, state, { now: 32_000, current: 6, ready: 6, notReady: 0, sample: sample(32_000, 1) });
    expect(r.decision.desired).toBe(3); // halved at most per step
  });

  test('rejections are demand: a saturated replica scales up even when its capped in-flight count looks fine', () => {
    const r = decide(policy, initialState(0), { now: 2000, current: 2, ready: 2, notReady: 0, sample: sample(2000, 6, { rejected: 50 }) });
    expect(r.decision.desired).toBe(3);
    expect(r.decision.reason).toMatch(/50 requests rejected/);
  });

  test('rejected demand counts at its Little\'s-law concurrency', () => {
    const r = decide(policy, initialState(0), { now: 2000, current: 2, ready: 2, notReady: 0, sample: sample(2000, 8, { rejected: 100, rejectedConcurrency: 12 }) });
    expect(r.decision.desired).toBe(5);
  });

  test('pending pods are capacity on its way: rejections do not add replicas without end', () => {
    let state = initialState(0);
    let current = 2;
    for (let t = 2; t <= 40; t += 2) {
      const ready = 2; // the new pods wait for a GPU node
      const r = decide(policy, state, { now: t * 1000, current, ready, notReady: current - ready, sample: sample(t * 1000, 8, { rejected: 10 }) });
      state = r.state;
      current = r.decision.desired;
    }
    expect(current).toBe(3);
  });

  test('scale-up per step is limited to a multiple of the ready replicas', () => {
    const p = { ...policy, maxReplicas: 100, maxScaleUpRate: 2 };
    const r = decide(p, initialState(0), { now: 2000, current: 2, ready: 2, notReady: 0, sample: sample(2000, 400) });
    expect(r.decision.desired).toBe(4);
  });

  test('no scale-down while panicking', () => {
    let state = initialState(0);
    let r = decide(policy, state, { now: 2000, current: 1, ready: 1, notReady: 0, sample: sample(2000, 40) });
    expect(r.decision.panicking).toBe(true);
    state = r.state;
    r = decide(policy, state, { now: 10_000, current: r.decision.desired, ready: 10, notReady: 0, sample: sample(10_000, 0) });
    expect(r.decision.desired).toBe(10);
    expect(r.decision.panicking).toBe(true);
  });

  test('load sitting on a multiple of the target, with noise, causes no writes (10% tolerance)', () => {
    let seed = 1;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.5; // +-25%
    const { history } = simulate(() => 20 * (1 + noise()), 600, 5);
    expect(history).toEqual([]);
    const strict = simulate(() => 20 * (1 + noise()), 600, 5, { ...policy, tolerance: 0 });
    expect(strict.history.length).toBeGreaterThan(0);
  });

  test.each([
    // name, current, ready, notReady, sample (undefined: nothing measured), expected desired
    ['a scrape of only new pods right after a scale-up holds, never a knee-jerk scale-down', 8, 8, 0, undefined, 8],
    ['pods still pending for a GPU node hold the count with no sample', 6, 0, 6, undefined, 6],
    ['a count above max is brought down to max even without a sample', 14, 14, 0, undefined, 10],
    ['a count below min is brought up to min', 0, 0, 0, undefined, 1],
    ['one replica rejecting with nothing pending adds one', 1, 1, 0, sample(2000, 3.9, { rejected: 5 }), 2],
    ['one replica rejecting while a pod is pending waits for it', 2, 1, 1, sample(2000, 3.9, { rejected: 5 }), 2],
  ])('%s', (_name, current, ready, notReady, s, want) => {
    const r = decide(policy, initialState(0), { now: 2000, current, ready, notReady, sample: s });
    expect(r.decision.desired).toBe(want);
  });

  test('panic ends a stable window after the spike, then the delay governs the way down', () => {
    const { history } = simulate((t) => (t >= 100 && t < 110 ? 40 : 2), 400, 1);
    const up = history.filter((h) => h.reason.startsWith('panic'));
    expect(up.length).toBeGreaterThan(0);
    const firstDown = history.find((h, i) => i > 0 && h.desired < history[i - 1].desired);
    // The panic holds for a stable window (60 s) after its last trigger; the delay (30 s) follows it.
    expect(firstDown!.t).toBeGreaterThanOrEqual(108 + 60);
    expect(history.at(-1)!.desired).toBe(1);
  });

  test('a manual scale inside the bounds is corrected at the next decision while the load lasts', () => {
    let state = initialState(0);
    let current = 1;
    for (let t = 2; t <= 120; t += 2) {
      const r = decide(policy, state, { now: t * 1000, current, ready: current, notReady: 0, sample: sample(t * 1000, 16) });
      state = r.state;
      current = r.decision.desired;
    }
    expect(current).toBe(4);
    const r = decide(policy, state, { now: 122_000, current: 2, ready: 2, notReady: 0, sample: sample(122_000, 16) });
    expect(r.decision.desired).toBe(4);
  });
});

describe('autoscaler decision with minReplicas 0 (scale to zero)', () => {
  const zero = policyFor({ minReplicas: 0, maxReplicas: 10, targetConcurrency: 4, scaleDownDelaySeconds: 30, scaleToZeroDelaySeconds: 100 });
  const idle = (time: number) => sample(time, 0);

  test('policyFor takes scaleToZeroDelaySeconds, and the schema default without it', () => {
    expect(zero.scaleToZeroDelaySeconds).toBe(100);
    expect(policyFor({ minReplicas: 0, maxReplicas: 2, targetConcurrency: 4, scaleDownDelaySeconds: 30 }).scaleToZeroDelaySeconds).toBe(300);
  });

  test('keeps one replica until no demand was seen for the delay, then goes to zero in one step', () => {
    // Load until t = 20 s, then none: the floor is 1 until 100 s have passed since the last demand.
    const { history, current } = simulate((t) => (t <= 20 ? 8 : 0), 200, 2, zero);
    expect(current).toBe(0);
    const toZero = history.find((h) => h.desired === 0)!;
    expect(toZero.t).toBe(120);
    expect(toZero.reason).toBe('no requests for 100s; scaling to zero');
    expect(history.filter((h) => h.t < 120).every((h) => h.desired >= 1)).toBe(true);
  });

  test('the delay counts from when the decider started when it never saw demand', () => {
    let state = initialState(0);
    let r = decide(zero, state, { now: 98_000, current: 1, ready: 1, notReady: 0, sample: idle(98_000) });
    expect(r.decision.desired).toBe(1);
    state = r.state;
    r = decide(zero, state, { now: 100_000, current: 1, ready: 1, notReady: 0, sample: idle(100_000) });
    expect(r.decision.desired).toBe(0);
  });

  test('rejections are demand: they keep the replica as requests in flight do', () => {
    let state = initialState(0);
    let r = decide(zero, state, { now: 90_000, current: 1, ready: 1, notReady: 0, sample: sample(90_000, 0, { rejected: 2, rejectedConcurrency: 0.5 }) });
    state = r.state;
    expect(state.lastDemand).toBe(90_000);
    r = decide(zero, state, { now: 150_000, current: 1, ready: 1, notReady: 0, sample: idle(150_000) });
    expect(r.decision.desired).toBe(1);
    r = decide(zero, r.state, { now: 190_000, current: 1, ready: 1, notReady: 0, sample: idle(190_000) });
    expect(r.decision.desired).toBe(0);
  });

  test('ready replicas that could not be measured are never scaled to zero blind', () => {
    const r = decide(zero, initialState(0), { now: 500_000, current: 1, ready: 1, notReady: 0 });
    expect(r.decision.desired).toBe(1);
  });

  test('at zero: held requests scale up at once, ceil(demand / target), within the rate limit', () => {
    const r = decide(zero, initialState(0), { now: 2000, current: 0, ready: 0, notReady: 0, sample: sample(2000, 9) });
    expect(r.decision.desired).toBe(3);
    const one = decide(zero, initialState(0), { now: 2000, current: 0, ready: 0, notReady: 0, sample: sample(2000, 0.5) });
    expect(one.decision.desired).toBe(1);
    const limited = decide({ ...zero, maxReplicas: 100, maxScaleUpRate: 2 }, initialState(0), { now: 2000, current: 0, ready: 0, notReady: 0, sample: sample(2000, 400) });
    expect(limited.decision.desired).toBe(2);
  });

  test('at zero without a sample, or with one showing no demand, it holds at zero', () => {
    for (const s of [undefined, idle(2000)]) {
      const r = decide(zero, initialState(0), { now: 2000, current: 0, ready: 0, notReady: 0, sample: s });
      expect(r.decision).toMatchObject({ desired: 0, reason: 'no requests; scaled to zero' });
    }
  });

  test('an activation from zero by someone else counts as demand at that moment', () => {
    // The decider scaled to zero; the gateway then wrote 1 for a request it holds, served before the next scrape.
    let r = decide(zero, initialState(0), { now: 200_000, current: 1, ready: 1, notReady: 0, sample: idle(200_000) });
    expect(r.decision.desired).toBe(0);
    r = decide(zero, r.state, { now: 202_000, current: 1, ready: 0, notReady: 1 });
    expect(r.decision.desired).toBe(1);
    expect(r.state.lastDemand).toBe(202_000);
    r = decide(zero, r.state, { now: 250_000, current: 1, ready: 1, notReady: 0, sample: idle(250_000) });
    expect(r.decision.desired).toBe(1);
    r = decide(zero, r.state, { now: 302_000, current: 1, ready: 1, notReady: 0, sample: idle(302_000) });
    expect(r.decision.desired).toBe(0);
  });

  test('with a delay of 0, the first step without demand scales to zero', () => {
    const p = { ...zero, scaleToZeroDelaySeconds: 0 };
    let r = decide(p, initialState(0), { now: 2000, current: 1, ready: 1, notReady: 0, sample: sample(2000, 1) });
    expect(r.decision.desired).toBe(1);
    r = decide(p, r.state, { now: 4000, current: 1, ready: 1, notReady: 0, sample: idle(4000) });
    expect(r.decision).toMatchObject({ desired: 0, reason: 'no requests for 2s; scaling to zero' });
  });

  test('minReplicas 1 never goes to zero, however long it is idle', () => {
    expect(simulate(() => 0, 1200, 3).current).toBe(1);
  });
});
