// Quiet watches are left alone: each watch asks for bookmarks and a server-side timeout, a watch the server
// ends normally is resumed from its last resourceVersion without a re-list, and the watchdog fires only after
// more silence than the server timeout plus slack.
import { afterEach, expect, it, jest } from '@jest/globals';
import { createLogger } from '../../../common/logger.js';
import { Harness, condition, modelDeployment, sleep } from './harness.js';

const NS = 'ml';
let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

it('a quiet cluster for several watch periods causes no re-list, no restart and no warning', async () => {
  h = await Harness.start();
  const log = createLogger('operator', 'debug');
  log.silent = true;
  const warn = jest.spyOn(log, 'warn');
  const op = h.operator({ logger: log, informer: { watchTimeoutSeconds: 1, watchdogSlackMs: 1500, backoffBaseMs: 20, backoffMaxMs: 200 } });
  await op.start();
  await op.waitUntilSynced();
  await h.create(NS, modelDeployment('quiet'));
  await h.until(NS, 'quiet', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'));
  await sleep(200);
  h.server.clearRequestLog();

  // Four watch periods in which nothing changes.
  await sleep(4200);
  const requests = h.server.requests;
  const watches = requests.filter((r) => r.method === 'GET' && /[?&]watch=true/.test(r.query));
  const lists = requests.filter((r) => r.method === 'GET' && !/[?&]watch=true/.test(r.query));
  expect(lists.map((r) => r.path)).toEqual([]);
  expect(requests.filter((r) => r.method !== 'GET')).toEqual([]);
  // Five informers, each resumed about once a second.
  expect(watches.length).toBeGreaterThanOrEqual(5 * 3);
  for (const w of watches) {
    const q = new URLSearchParams(w.query);
    expect(q.get('allowWatchBookmarks')).toBe('true');
    expect(q.get('timeoutSeconds')).toBe('1');
    expect(Number(q.get('resourceVersion'))).toBeGreaterThan(0);
  }
  const restarts = await op.metrics.registry.getSingleMetricAsString('modelplane_operator_informer_restarts_total');
  expect(restarts.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([]);
  expect(warn).not.toHaveBeenCalled();

  // A change after the quiet spell still arrives through the resumed watches.
  await h.create(NS, modelDeployment('after-quiet'));
  await h.until(NS, 'after-quiet', (m) => expect(condition(m, 'Ready')?.reason).toBe('RollingOut'));
});
