// `npm run bench:autoscale`: the built-in autoscaler measured two ways in one run.
// 1. Simulated time: the real decider (operator/autoscaler/decision.ts) against a simulated cluster whose new
//    pods take a while to become ready, for a load step, minutes of steady noisy load, load oscillating around
//    the target and a step while GPU nodes are provisioned; side by side with a naive scaler that writes
//    ceil(concurrency / target) every step. Counts scale writes and the time from a load step to the write.
// 2. Wall-clock: the real operator loop against the in-repo API server, scraping real HTTP /metrics endpoints
//    on loopback: the time from a load step to the /scale write, at the default 2 s interval.
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../common/logger.js';
import { seededRandom } from '../common/seeded-random.js';
import { decide, initialState, policyFor, type AutoscalerPolicy, type LoadSample } from '../operator/autoscaler/decision.js';
import { builtinAutoscalerLoop } from '../operator/autoscaler/builtin.js';
import { Operator } from '../operator/controller/operator.js';
import { findResource, putDeploymentPod, setDeploymentStatus, startFakeApiServer } from '../test/support/fake-apiserver/index.js';

const INTERVAL_S = 2;
const TARGET = 4;
const POLICY: AutoscalerPolicy = policyFor({ minReplicas: 1, maxReplicas: 20, targetConcurrency: TARGET, scaleDownDelaySeconds: 300 });

interface Scenario {
  name: string;
  seconds: number;
  start: number;
  load: (t: number) => number;
  /** Seconds before a new pod is ready (node provisioning, image pull, model load). */
  readyAfter: number;
  /** Average concurrency a pod can hold before its queue is full and it rejects. */
  podCapacity: number;
  stepAt?: number;
}

interface Outcome {
  writes: number;
  /** Writes that reversed the direction of the one before (up then down, or down then up). */
  flaps: number;
  firstWriteAfterStep?: number;
  maxRequested: number;
  final: number;
}

type Scaler = 'builtin' | 'naive';

function simulate(s: Scenario, scaler: Scaler): Outcome {
  const noise = seededRandom(7); // the same noise every run
  let state = initialState(0);
  let current = s.start;
  let pods: number[] = Array.from({ length: s.start }, () => 0); // readyAt, seconds
  let writes = 0;
  let flaps = 0;
  let lastDirection = 0;
  let firstWriteAfterStep: number | undefined;
  let maxRequested = current;
  for (let t = INTERVAL_S; t <= s.seconds; t += INTERVAL_S) {
    const ready = pods.filter((r) => r <= t).length;
    const demand = s.load(t);
    const served = Math.min(demand, ready * s.podCapacity);
    const excess = demand - served;
    // Scrapes see the exact average over the interval; per-interval load itself is noisy (+-25%).
    const jitter = 1 + (noise() - 0.5) * 0.5;
    const sample: LoadSample | undefined = ready > 0
      ? { time: t * 1000, seconds: INTERVAL_S, concurrency: served * jitter, rejectedConcurrency: excess * jitter, rejected: Math.round((excess / 0.5) * INTERVAL_S) }
      : undefined;
    let desired: number;
    if (scaler === 'builtin') {
      const r = decide(POLICY, state, { now: t * 1000, current, ready, notReady: current - ready, sample });
      state = r.state;
      desired = r.decision.desired;
    } else {
      desired = sample ? Math.min(POLICY.maxReplicas, Math.max(POLICY.minReplicas, Math.ceil((sample.concurrency + sample.rejectedConcurrency) / TARGET))) : current;
    }
    if (desired !== current) {
      writes++;
      const direction = Math.sign(desired - current);
      if (lastDirection !== 0 && direction !== lastDirection) flaps++;
      lastDirection = direction;
      if (s.stepAt !== undefined && t >= s.stepAt && firstWriteAfterStep === undefined) firstWriteAfterStep = t - s.stepAt;
      if (desired > current) pods = [...pods, ...Array.from({ length: desired - current }, () => t + s.readyAfter)];
      else pods = pods.slice(0, desired);
      current = desired;
      maxRequested = Math.max(maxRequested, current);
    }
  }
  return { writes, flaps, firstWriteAfterStep, maxRequested, final: current };
}

const SCENARIOS: Scenario[] = [
  { name: 'step 8 -> 40 concurrent at t=120 s (pods ready after 20 s)', seconds: 300, start: 2, stepAt: 120, load: (t) => (t >= 120 ? 40 : 8), readyAfter: 20, podCapacity: 16 },
  { name: 'steady 20 concurrent +-25% noise, 10 min', seconds: 600, start: 5, load: () => 20, readyAfter: 20, podCapacity: 16 },
  { name: 'load oscillating 14 <-> 26 every 20 s, 10 min', seconds: 600, start: 5, load: (t) => (Math.floor(t / 20) % 2 ? 26 : 14), readyAfter: 20, podCapacity: 16 },
  { name: 'step to 60 while GPU nodes take 120 s (queues full, 503s)', seconds: 400, start: 2, stepAt: 60, load: (t) => (t >= 60 ? 60 : 4), readyAfter: 120, podCapacity: 8 },
];

function simulated(): void {
  console.log(`Simulated time: decision every ${INTERVAL_S} s, target ${TARGET} per replica, replicas 1..20, stable 60 s, panic 6 s, scale-down delay 300 s, tolerance 10%`);
  console.log('');
  console.log('| Scenario | Scale writes (builtin / naive) | Flaps: reversals (builtin / naive) | Step to first write (builtin / naive) | Most replicas asked (builtin / naive) | Needed |');
  console.log('|---|---|---|---|---|---|');
  for (const s of SCENARIOS) {
    const b = simulate(s, 'builtin');
    const n = simulate(s, 'naive');
    const needed = Math.ceil(Math.max(...Array.from({ length: s.seconds / INTERVAL_S }, (_, i) => s.load((i + 1) * INTERVAL_S))) / TARGET);
    const step = (o: Outcome) => (o.firstWriteAfterStep === undefined ? '-' : `${o.firstWriteAfterStep} s`);
    console.log(`| ${s.name} | ${b.writes} / ${n.writes} | ${b.flaps} / ${n.flaps} | ${step(b)} / ${step(n)} | ${b.maxRequested} / ${n.maxRequested} | ${Math.min(needed, 20)} |`);
  }
}

/** A stand-in runtime: /metrics with the concurrency counter integrating a settable in-flight count. */
function fakeRuntime(host: string): Promise<{ server: Server; port: number; setInflight: (n: number) => void }> {
  let inflight = 0;
  let integral = 0;
  let since = performance.now();
  const advance = () => {
    const now = performance.now();
    integral += (inflight * (now - since)) / 1000;
    since = now;
  };
  const server = createServer((req, res) => {
    advance();
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(`modelplane_request_concurrency_seconds_total{model="m"} ${integral}\nmodelplane_inference_requests_total{model="m",outcome="rejected"} 0\n`);
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve({
    server,
    port: (server.address() as { port: number }).port,
    setInflight: (n) => {
      advance();
      inflight = n;
    },
  })));
}

async function wallClock(): Promise<void> {
  const api = await startFakeApiServer();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  const log = createLogger('operator', process.env.BENCH_LOG ?? 'error');
  log.silent = !process.env.BENCH_LOG;
  const op = new Operator({ kubeConfig: kc, namespaces: ['bench'], config: { runtimeImage: 'ghcr.io/modelplane/runtime:bench' }, metricsPort: null, leaderElection: false, resyncMs: 0, logger: log, defaultMetrics: false, leaderLoops: [builtinAutoscalerLoop()] });
  const MDS = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
  const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
  const servers: Server[] = [];
  const steps: number[] = [];
  let idleWrites = 0;
  try {
    await op.start();
    await op.waitUntilSynced();
    // Three rounds, each a fresh ModelDeployment with two pods backed by their own /metrics endpoints.
    for (let round = 0; round < 3; round++) {
      const name = `m${round}`;
      const hosts = [`127.0.0.${31 + 2 * round}`, `127.0.0.${32 + 2 * round}`];
      const runtimes = await Promise.all(hosts.map(fakeRuntime));
      servers.push(...runtimes.map((r) => r.server));
      runtimes.forEach((r) => r.setInflight(TARGET)); // at the target: nothing to do
      api.store.create(MDS, 'bench', {
        apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name },
        spec: { model: { uri: 'file:///m.onnx' }, replicas: 2, autoscaling: { minReplicas: 1, maxReplicas: 20, targetConcurrency: TARGET } },
      } as never);
      const deadline = Date.now() + 10_000;
      while (!api.store.get(DEPLOYMENTS, 'bench', name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      runtimes.forEach((r, i) => putDeploymentPod(api, 'bench', name, `${name}-5d8c7b9f4-p${i}`, { phase: 'Running', ready: true }, { podIP: hosts[i], ports: { http: r.port } }));
      setDeploymentStatus(api, 'bench', name, { replicas: 2, readyReplicas: 2 });
      const scalePath = new RegExp(`/modeldeployments/${name}/scale$`);
      await new Promise((r) => setTimeout(r, 5000));
      const before = api.writes(scalePath).length;
      idleWrites += before;
      const step = performance.now();
      runtimes.forEach((r) => r.setInflight(TARGET * 4)); // 4x the load
      while (api.writes(scalePath).length === before && performance.now() - step < 15_000) await new Promise((r) => setTimeout(r, 5));
      steps.push((performance.now() - step) / 1000);
    }
    console.log('');
    console.log(`Wall clock: the operator loop at its default ${INTERVAL_S} s interval against the in-repo API server, /metrics endpoints on loopback`);
    console.log(`  scale writes while load sat at the target (3 x 5 s): ${idleWrites}`);
    console.log(`  load step (4x) to the /scale write: ${steps.map((s) => `${s.toFixed(2)} s`).join(', ')} (median ${[...steps].sort((a, b) => a - b)[1].toFixed(2)} s)`);
  } finally {
    await op.kill();
    await api.stop();
    for (const s of servers) s.close();
  }
}

simulated();
await wallClock();
