// The built-in autoscaler's loop with its edges faked: pods in a cache, /metrics bodies from a function, and a
// writer that records. The real client-node and HTTP paths are covered by test/operator/integration/autoscaling.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../../common/logger.js';
import type { ModelDeployment } from '../../../operator/api/schema.js';
import { BuiltinAutoscaler, DEFAULT_BUILTIN_OPTIONS, builtinAutoscalerLoop, gatewayMetricsUrl, gatewayPodLister, metricsUrl, type ScaleWriter } from '../../../operator/autoscaler/builtin.js';
import { makeApiClient } from '../../../operator/kube/api-client.js';
import { startFakeApiServer } from '../../support/fake-apiserver/index.js';
import type { AutoscalerStatus } from '../../../operator/autoscaler/scalers.js';
import { memoryLogger } from '../../support/memory-logger.js';

const log = createLogger('test', 'error');
log.silent = true;

function md(spec: Record<string, unknown>, generation = 1): ModelDeployment {
  return { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'm', namespace: 'ml', uid: 'u1', generation }, spec: { model: { uri: 's3://models/m.onnx' }, ...spec } as never };
}

function pod(i: number, ready = true, ip: string | null = `10.0.0.${i}`): V1Pod {
  return {
    metadata: { name: `m-abc-${i}`, uid: `p${i}`, labels: {} },
    spec: { containers: [{ name: 'runtime', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

const metrics = (seconds: number) => `modelplane_request_concurrency_seconds_total{model="m"} ${seconds}\n`;

function setup(objects: ModelDeployment[], pods: V1Pod[], read: (url: string) => Promise<string>) {
  let now = 0;
  const scales: number[] = [];
  const statuses: AutoscalerStatus[] = [];
  const events: string[] = [];
  const writer: ScaleWriter = {
    scale: async (_md, replicas) => void scales.push(replicas),
    writeStatus: async (_md, s) => void statuses.push(s),
    event: (_md, reason, message) => void events.push(`${reason}: ${message}`),
  };
  const a = new BuiltinAutoscaler(
    { modelDeployments: () => objects, pods: () => pods },
    writer,
    log,
    { ...DEFAULT_BUILTIN_OPTIONS, statusRefreshMs: 10_000 },
    read,
    () => now,
  );
  return { a, scales, statuses, events, advance: (ms: number) => (now += ms) };
}

test('metricsUrl: pod IP and the runtime container port named http; IPv6 in brackets; none without either', () => {
  expect(metricsUrl(pod(3))).toBe('http://10.0.0.3:8080/metrics');
  expect(metricsUrl(pod(3, true, 'fd00::3'))).toBe('http://[fd00::3]:8080/metrics');
  expect(metricsUrl(pod(3, true, null))).toBeUndefined();
  expect(metricsUrl({ ...pod(3), spec: { containers: [{ name: 'runtime', image: 'x', ports: [{ containerPort: 8080 }] }] } })).toBeUndefined();
});

test('scales up from two successive scrapes, writes once with an Event and a status, and skips a pod that fails', async () => {
  const counters = new Map([['10.0.0.1', 0], ['10.0.0.2', 0]]);
  const { a, scales, statuses, events, advance } = setup(
    [md({ replicas: 3, autoscaling: { maxReplicas: 10, targetConcurrency: 4 } })],
    [pod(1), pod(2), pod(3), pod(4, false)],
    async (url) => {
      const ip = new URL(url).hostname;
      if (ip === '10.0.0.3') throw new Error('timeout');
      return metrics(counters.get(ip)!);
    },
  );
  await a.step(); // first scrape: a baseline, no rate yet
  expect(scales).toEqual([]);
  expect(statuses).toEqual([{ mode: 'builtin', desiredReplicas: 3, reason: 'no load observed yet; holding' }]);
  advance(2000);
  counters.set('10.0.0.1', 16); // 8 in flight on each measured pod over 2 s
  counters.set('10.0.0.2', 16);
  await a.step();
  // 16 measured over 2 of 3 ready pods -> 24 total -> 6 replicas (panic: 6 >= 2 x 3 ready).
  expect(scales).toEqual([6]);
  expect(events).toEqual([expect.stringMatching(/^Scaled: scaled 3 -> 6: panic: concurrency over 6s 24, target 4$/)]);
  expect(statuses.at(-1)).toEqual({ mode: 'builtin', averageConcurrency: 24, desiredReplicas: 6, lastScaleTime: '1970-01-01T00:00:02Z', reason: 'panic: concurrency over 6s 24, target 4' });
});

test('metric sequences: scales on the generation gauges from the first scrape, and reports average sequences', async () => {
  const sequences = new Map([['10.0.0.1', 14], ['10.0.0.2', 10]]);
  const { a, scales, statuses, events } = setup(
    [md({ replicas: 2, autoscaling: { metric: 'sequences', maxReplicas: 10, targetSequences: 8 }, runtime: { generation: { maxNumSeqs: 16 } } })],
    [pod(1), pod(2)],
    async (url) => {
      const ip = new URL(url).hostname;
      const running = Math.min(sequences.get(ip)!, 12);
      return `${metrics(0)}modelplane_generation_running_sequences{model="m"} ${running}\nmodelplane_generation_waiting_sequences{model="m"} ${sequences.get(ip)! - running}\n`;
    },
  );
  await a.step();
  // 24 sequences running or waiting on 2 replicas, 8 each wanted: 3 replicas at once, no earlier scrape needed.
  expect(scales).toEqual([3]);
  expect(events).toEqual(['Scaled: scaled 2 -> 3: average sequences 24, target 8']);
  expect(statuses.at(-1)).toEqual({ mode: 'builtin', averageSequences: 24, desiredReplicas: 3, lastScaleTime: '1970-01-01T00:00:00Z', reason: 'average sequences 24, target 8' });
});

test('metric sequences on a runtime without the generation gauges: the pod is skipped, saying why', async () => {
  const { log: logger, entries } = memoryLogger('autoscaler');
  const writer: ScaleWriter = { scale: async () => {}, writeStatus: async () => {}, event: () => {} };
  const a = new BuiltinAutoscaler(
    { modelDeployments: () => [md({ replicas: 1, autoscaling: { metric: 'sequences', maxReplicas: 4 } })], pods: () => [pod(1)] },
    writer, logger, DEFAULT_BUILTIN_OPTIONS, async () => metrics(5), () => 0,
  );
  await a.step();
  expect(entries.filter((l) => l.message === 'pod skipped by the autoscaler').map((l) => l.error)).toEqual([
    'its metrics lack modelplane_generation_running_sequences (metric sequences needs a generative model)',
  ]);
});

test('nothing is written for a ModelDeployment in another mode, an invalid one, or one without autoscaling', async () => {
  const reads: string[] = [];
  const { a, scales, statuses } = setup(
    [
      md({ replicas: 1, autoscaling: { mode: 'hpa', maxReplicas: 3 } }),
      md({ replicas: 1, autoscaling: { minReplicas: 4, maxReplicas: 3 } }),
      md({ replicas: 1 }),
      md({ replicas: 1, autoscaling: { mode: 'none', maxReplicas: 3 } }),
    ],
    [pod(1)],
    async (url) => {
      reads.push(url);
      return metrics(0);
    },
  );
  await a.step();
  expect(reads).toEqual([]);
  expect(scales).toEqual([]);
  expect(statuses).toEqual([]);
});

test.each([
  ['keeps going', false, [10]],
  ['was stopped', true, []],
])('a loop that %s while a step scrapes: scale writes', async (_name, stop, want) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let n = 0;
  const { a, scales, advance } = setup([md({ replicas: 1, autoscaling: { maxReplicas: 10 } })], [pod(1)], async () => {
    n++;
    if (n === 2) await gate;
    return metrics(n === 1 ? 0 : 100);
  });
  await a.step();
  advance(2000);
  const stepping = a.step();
  const stopping = stop ? a.stop() : Promise.resolve();
  release();
  await Promise.all([stepping, stopping]);
  expect(scales).toEqual(want);
});

test('as a leader loop: reads the term\'s cache, writes through the term\'s client; stop(false) returns at once and writes nothing more', async () => {
  let scrapes = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const server = createServer((_req, res) => {
    scrapes++;
    // The first scrape is the baseline; the second hangs until the test lets it go, with load that would scale.
    if (scrapes === 1) return void res.end(metrics(0));
    void held.then(() => res.end(metrics(1000)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const local: V1Pod = { ...pod(1, true, '127.0.0.1'), spec: { containers: [{ name: 'runtime', image: 'x', ports: [{ name: 'http', containerPort: port }] }] } };
  const writes: string[] = [];
  const abort = new AbortController();
  const term = {
    signal: abort.signal,
    cache: { modelDeployments: () => [md({ replicas: 1, autoscaling: { maxReplicas: 10 } })], pods: () => [local] },
    apiClient: () => ({
      patchNamespacedCustomObjectScale: async () => void writes.push('scale'),
      patchNamespacedCustomObjectStatus: async () => void writes.push('status'),
    }),
    events: { normal: () => void writes.push('event') },
    log,
  };
  const loop = builtinAutoscalerLoop({ intervalMs: 20, scrapeTimeoutMs: 10_000 });
  try {
    await loop.start(term as never);
    for (let i = 0; i < 200 && scrapes < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(scrapes).toBe(2);
    expect(writes).toEqual(['status']); // the baseline step: no load yet, holding
    abort.abort(new Error('leadership lost'));
    const stopped = Date.now();
    await loop.stop(false);
    expect(Date.now() - stopped).toBeLessThan(1000);
    release();
    await new Promise((r) => setTimeout(r, 100));
    expect(writes).toEqual(['status']);
    expect(scrapes).toBe(2);
  } finally {
    release();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('no metrics for a whole stable window: status says since when and why, a Warning Event once, the pod logged at warn once; it clears when a scrape succeeds', async () => {
  const { log: memLog, entries } = memoryLogger('operator', 'debug');
  let up = false;
  let now = 0;
  const statuses: AutoscalerStatus[] = [];
  const events: string[] = [];
  const a = new BuiltinAutoscaler(
    { modelDeployments: () => [md({ replicas: 1, autoscaling: { maxReplicas: 4, targetConcurrency: 2 } })], pods: () => [pod(1)] },
    { scale: async () => {}, writeStatus: async (_md, s) => void statuses.push(s), event: (_md, reason, message, type) => void events.push(`${type}: ${reason}: ${message}`) },
    memLog,
    { ...DEFAULT_BUILTIN_OPTIONS, statusRefreshMs: 0, tuning: { stableWindowSeconds: 6 } },
    async () => {
      if (!up) throw new Error('connect ECONNREFUSED 10.0.0.1:8080');
      return metrics(now / 1000);
    },
    () => now,
  );
  for (let t = 0; t <= 8000; t += 2000) {
    now = t;
    await a.step();
  }
  const last = statuses.at(-1)!;
  expect(last.unscrapedSince).toBe('1970-01-01T00:00:00Z');
  expect(last.reason).toBe("no ready runtime pod's metrics could be read for 8 s (m-abc-1: its metrics did not answer: connect ECONNREFUSED 10.0.0.1:8080)");
  expect(events).toEqual([`Warning: NoMetrics: no ready runtime pod's metrics could be read for 6 s (m-abc-1: its metrics did not answer: connect ECONNREFUSED 10.0.0.1:8080)`]);
  expect(entries.filter((e) => e.level === 'warn' && e.message === 'pod skipped by the autoscaler')).toHaveLength(1);
  up = true;
  now += 2000;
  await a.step();
  expect(statuses.at(-1)!.unscrapedSince).toBeUndefined();
  expect(entries.some((e) => e.level === 'info' && e.message === 'pod metrics answer again')).toBe(true);
});

describe('with the gateway', () => {
  function gatewayPod(i: number, ready = true): V1Pod {
    return {
      metadata: { name: `gw-${i}`, uid: `g${i}` },
      spec: { containers: [{ name: 'gateway', image: 'x', ports: [{ name: 'http', containerPort: 8000 }, { name: 'metrics', containerPort: 9090 }] }] },
      status: { podIP: `10.1.0.${i}`, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    };
  }
  const gauges = (inFlight: number, held: number, name = 'm') =>
    `# TYPE modelplane_gateway_requests_in_flight gauge\nmodelplane_gateway_requests_in_flight{namespace="ml",modeldeployment="${name}",model="${name}"} ${inFlight}\n` +
    `modelplane_gateway_requests_held{namespace="ml",modeldeployment="${name}",model="${name}"} ${held}\n`;

  /** An autoscaler whose runtime pods and gateway pods answer from the maps (by IP); steps every 2 s. */
  function withGateway(object: ModelDeployment, runtimePods: V1Pod[], answers: Map<string, () => string>, gatewayPods: () => Promise<V1Pod[]>) {
    let now = 0;
    const { log: memLog, entries } = memoryLogger('operator', 'debug');
    const scales: number[] = [];
    const statuses: AutoscalerStatus[] = [];
    const events: string[] = [];
    const urls: string[] = [];
    const a = new BuiltinAutoscaler(
      { modelDeployments: () => [object], pods: () => runtimePods, gatewayPods },
      { scale: async (_md, r) => void scales.push(r), writeStatus: async (_md, st) => void statuses.push(st), event: (_md, reason, message) => void events.push(`${reason}: ${message}`) },
      memLog,
      { ...DEFAULT_BUILTIN_OPTIONS, statusRefreshMs: 0 },
      async (url) => {
        urls.push(url);
        const answer = answers.get(new URL(url).hostname);
        if (!answer) throw new Error('connect ECONNREFUSED');
        return answer();
      },
      () => now,
    );
    const step = async () => {
      await a.step();
      now += 2000;
    };
    return { step, scales, statuses, events, urls, entries };
  }

  test('gatewayMetricsUrl: the pod IP and the container port named metrics', () => {
    expect(gatewayMetricsUrl(gatewayPod(2))).toBe('http://10.1.0.2:9090/metrics');
    expect(gatewayMetricsUrl(pod(1))).toBeUndefined();
  });

  test('a deployment at zero with requests held at the gateways scales up at once, with no runtime pod to scrape', async () => {
    const answers = new Map([['10.1.0.1', () => gauges(0, 3)], ['10.1.0.2', () => gauges(0, 2) + gauges(7, 0, 'other')]]);
    const h = withGateway(md({ replicas: 0, autoscaling: { minReplicas: 0, maxReplicas: 10, targetConcurrency: 4 } }), [], answers, async () => [gatewayPod(1), gatewayPod(2), gatewayPod(3, false)]);
    await h.step();
    // 5 held over both ready gateways (the not-ready one is not scraped): ceil(5 / 4) = 2 replicas.
    expect(h.scales).toEqual([2]);
    expect(h.events).toEqual(['Scaled: scaled 0 -> 2: panic: concurrency over 6s 5, target 4']);
    expect(h.urls.sort()).toEqual(['http://10.1.0.1:9090/metrics', 'http://10.1.0.2:9090/metrics']);
  });

  test('at zero with nothing held it stays at zero and writes nothing but its status', async () => {
    const h = withGateway(md({ replicas: 0, autoscaling: { minReplicas: 0, maxReplicas: 10 } }), [], new Map([['10.1.0.1', () => gauges(0, 0)]]), async () => [gatewayPod(1)]);
    await h.step();
    await h.step();
    expect(h.scales).toEqual([]);
    expect(h.statuses.at(-1)).toEqual({ mode: 'builtin', desiredReplicas: 0, reason: 'no requests; scaled to zero' });
  });

  test('requests in flight at the gateway are not counted twice: the larger of the pods\' and the gateway\'s, plus those held', async () => {
    let gw = gauges(0, 0);
    let seconds = 0;
    const answers = new Map([['10.0.0.1', () => metrics(seconds)], ['10.0.0.2', () => metrics(seconds)], ['10.1.0.1', () => gw]]);
    const h = withGateway(md({ replicas: 2, autoscaling: { maxReplicas: 10, targetConcurrency: 4 } }), [pod(1), pod(2)], answers, async () => [gatewayPod(1)]);
    await h.step(); // baseline
    seconds = 8; // 4 in flight on each pod over 2 s: 8 in all, which the gateway's 6 in flight are part of
    gw = gauges(6, 0);
    await h.step();
    expect(h.scales).toEqual([]);
    expect(h.statuses.at(-1)).toMatchObject({ averageConcurrency: 8, desiredReplicas: 2 });
    seconds = 16;
    gw = gauges(20, 2); // a burst the pods' average has not caught up with, and 2 held: 22
    await h.step();
    expect(h.statuses.at(-1)).toMatchObject({ desiredReplicas: 4 });
    expect(h.events.at(-1)).toBe('Scaled: scaled 2 -> 4: panic: concurrency over 6s 15, target 4');
  });

  test('scales to zero after scaleToZeroDelaySeconds without a request, with a ScaledToZero Event naming the delay', async () => {
    const answers = new Map([['10.0.0.1', () => metrics(0)], ['10.1.0.1', () => gauges(0, 0)]]);
    const object = md({ replicas: 1, autoscaling: { minReplicas: 0, maxReplicas: 4, scaleToZeroDelaySeconds: 4 } });
    const h = withGateway(object, [pod(1)], answers, async () => [gatewayPod(1)]);
    await h.step(); // t=0: baseline
    await h.step(); // t=2: idle for 2 s of 4
    expect(h.scales).toEqual([]);
    await h.step(); // t=4
    expect(h.scales).toEqual([0]);
    expect(h.events).toEqual(['ScaledToZero: scaled 1 -> 0: no requests for 4s; scaling to zero (scaleToZeroDelaySeconds 4); the gateway starts a replica on the next request']);
    expect(h.statuses.at(-1)).toEqual({ mode: 'builtin', averageConcurrency: 0, desiredReplicas: 0, lastScaleTime: '1970-01-01T00:00:04Z', reason: 'no requests for 4s; scaling to zero' });
  });

  test('gateway pods that cannot be listed leave the runtime pods as the load, logged at warn once', async () => {
    let seconds = 0;
    const answers = new Map([['10.0.0.1', () => metrics(seconds)]]);
    const h = withGateway(md({ replicas: 1, autoscaling: { maxReplicas: 10, targetConcurrency: 4 } }), [pod(1)], answers, async () => {
      throw new Error('pods is forbidden: User "system:serviceaccount:mp:operator" cannot list resource "pods" in the namespace "gw"');
    });
    await h.step();
    seconds = 16; // 8 in flight over 2 s
    await h.step();
    expect(h.scales).toEqual([2]);
    const warned = h.entries.filter((e) => e.level === 'warn' && e.message === 'gateway pods could not be listed; deciding on the runtime pods alone');
    expect(warned).toHaveLength(1);
    expect(warned[0].error).toMatch(/cannot list resource "pods"/);
  });
});

test('gatewayPodLister lists the selected pods in the gateway namespace through the API server, and gives up at its deadline', async () => {
  const server = await startFakeApiServer();
  try {
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfigYaml());
    const core = kc.makeApiClient(CoreV1Api);
    const pods: Array<[string, string, string]> = [['edge', 'gw-1', 'gw'], ['edge', 'other', 'x'], ['ml', 'gw-elsewhere', 'gw']];
    for (const [namespace, name, app] of pods) {
      await core.createNamespacedPod({ namespace, body: { metadata: { name, labels: { app } }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    }
    const list = gatewayPodLister(makeApiClient(kc, CoreV1Api, { timeoutMs: 300 }), { namespace: 'edge', selector: 'app=gw' });
    expect((await list()).map((p) => p.metadata?.name)).toEqual(['gw-1']);
    server.hangNext(1);
    await expect(list()).rejects.toThrow(/no complete answer within 300 ms/);
  } finally {
    await server.stop();
  }
});
