import { ApiDiscovery } from '../../../operator/autoscaler/discovery.js';

test('discovery answers from one call for its TTL, shares a call in flight, and asks again after', async () => {
  let now = 0;
  let calls = 0;
  let served = ['autoscaling/v2'];
  const d = new ApiDiscovery(async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    return served;
  }, { ttlMs: 60_000, now: () => now });
  expect(await Promise.all([d.served('autoscaling/v2'), d.served('keda.sh/v1alpha1')])).toEqual([true, false]);
  expect(calls).toBe(1);
  served = ['autoscaling/v2', 'keda.sh/v1alpha1'];
  now = 59_999;
  expect(await d.served('keda.sh/v1alpha1')).toBe(false);
  now = 60_000;
  expect(await d.served('keda.sh/v1alpha1')).toBe(true);
  expect(calls).toBe(2);
});

test('a failed discovery call fails the caller (the reconcile retries) and is not cached', async () => {
  let fail = true;
  const d = new ApiDiscovery(async () => {
    if (fail) throw new Error('connect ECONNREFUSED');
    return ['keda.sh/v1alpha1'];
  }, { ttlMs: 60_000, now: () => 0 });
  await expect(d.served('keda.sh/v1alpha1')).rejects.toThrow('ECONNREFUSED');
  fail = false;
  expect(await d.served('keda.sh/v1alpha1')).toBe(true);
});
