// A node simulator for a control plane without kubelets (KWOK-style): Node objects with CPU, memory and GPU
// capacity, kept Ready by heartbeats (node status and a Lease in kube-node-lease, or the node lifecycle controller
// taints them unreachable after ~40 s); pods the scheduler binds to them get a loopback pod IP (127.0.<node>.<n>)
// and are marked Running. A real API server refuses loopback addresses in EndpointSlices, so its EndpointSlice
// controller publishes no endpoint for such pods: where the test needs them (the gateway), `routablePodIPs` gives pods
// addresses in 10.250.0.0/16 instead, each added to the loopback interface while its pod runs (root only). Where asked, a pod whose container runs `modelplane serve` gets a real runtime process on
// its pod IP, probed for readiness as a kubelet would, and stopped when the pod is deleted; the pod then goes with
// a zero grace period, as the kubelet confirms a deletion.
import { isoSeconds } from '../../../common/time.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api, CoreV1Api, PatchStrategy, V1MicroTime, Watch, setHeaderOptions,
  type KubeConfig, type V1Container, type V1Pod,
} from '@kubernetes/client-node';
import { CLI } from '../runtime-process.js';
import { terminate } from '../processes.js';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const LEASE_SECONDS = 40;

export interface SimulatedNode {
  name: string;
  cpu?: string;
  memory?: string;
  gpus?: number;
  /** Most pods the node takes (its pods capacity); default 110, the kubelet's. */
  pods?: string;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: string }>;
}

export interface NodeSimulatorOptions {
  nodes: SimulatedNode[];
  /** Start a real runtime process for pods whose main container runs `modelplane serve`. */
  runRuntimes?: boolean;
  /** How often nodes renew their Lease and status; default 10 s (the kubelet's). */
  heartbeatMs?: number;
  /** How often a running runtime's readiness probe is tried; default 500 ms. */
  probeMs?: number;
  /**
   * Pod IPs in 10.250.0.0/16, added to the loopback interface (`ip addr add`, root only) while the pod runs, instead
   * of 127.0.x.y: a real API server refuses loopback addresses in EndpointSlices. See canRouteSimulatedPods().
   */
  routablePodIPs?: boolean;
}

const ALIAS_PROBE = '10.250.255.254';

/** Whether this process may add addresses to the loopback interface (what routablePodIPs needs). */
export function canRouteSimulatedPods(): boolean {
  try {
    execFileSync('ip', ['addr', 'add', `${ALIAS_PROBE}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    execFileSync('ip', ['addr', 'del', `${ALIAS_PROBE}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function aliasLoopback(ip: string, add: boolean): void {
  try {
    execFileSync('ip', ['addr', add ? 'add' : 'del', `${ip}/32`, 'dev', 'lo'], { stdio: 'ignore' });
  } catch {
    // Already there (add), or already gone (del).
  }
}

interface SimulatedPod {
  key: string;
  ip: string;
  node: string;
  proc?: ChildProcess;
  terminationLog?: string;
  dir?: string;
  ready?: boolean;
  started: string;
  exited?: { code: number | null; message: string };
  deleting?: boolean;
  timer?: NodeJS.Timeout;
}

const now = () => isoSeconds(Date.now());

export class NodeSimulator {
  private readonly core: CoreV1Api;
  private readonly leases: CoordinationV1Api;
  private readonly pods = new Map<string, SimulatedPod>();
  private readonly nextHost = new Map<string, number>();
  private heartbeat?: NodeJS.Timeout;
  private watch?: AbortController;
  private stopped = false;
  /** Runtime processes started, for tests that count them. */
  started = 0;

  constructor(private readonly kc: KubeConfig, private readonly opts: NodeSimulatorOptions) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.leases = kc.makeApiClient(CoordinationV1Api);
  }

  private nodeIndex(name: string): number {
    return this.opts.nodes.findIndex((n) => n.name === name);
  }

  /** The address of host `host` on a node: 127.0.<index + 10>.<host>, or 10.250.<index + 10>.<host> with routablePodIPs. */
  private address(node: string, host: number): string {
    return `${this.opts.routablePodIPs ? '10.250' : '127.0'}.${this.nodeIndex(node) + 10}.${host}`;
  }

  async start(): Promise<this> {
    for (const n of this.opts.nodes) await this.createNode(n);
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), this.opts.heartbeatMs ?? 10_000);
    await this.watchPods();
    return this;
  }

  private async createNode(n: SimulatedNode): Promise<void> {
    const capacity: Record<string, string> = { cpu: n.cpu ?? '8', memory: n.memory ?? '32Gi', pods: n.pods ?? '110', ...(n.gpus ? { 'nvidia.com/gpu': String(n.gpus) } : {}) };
    const ip = this.address(n.name, 1);
    await this.core.createNode({ body: { metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...n.labels } }, spec: { taints: n.taints } } });
    await this.core.patchNodeStatus({
      name: n.name,
      body: { status: { capacity, allocatable: capacity, addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: n.name }], nodeInfo: { kubeletVersion: 'v1.28.0-sim', architecture: 'amd64', operatingSystem: 'linux', containerRuntimeVersion: 'sim', kernelVersion: '', kubeProxyVersion: '', machineID: '', systemUUID: '', bootID: '', osImage: 'sim' } } },
    }, MERGE);
  }

  /** What a kubelet sends every heartbeat: Ready in the node status, and its Lease renewed. */
  private async beat(): Promise<void> {
    for (const n of this.opts.nodes) {
      const t = now();
      const conditions = [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated kubelet is posting ready status', lastHeartbeatTime: t, lastTransitionTime: t },
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({ type, status: 'False', reason: `KubeletHasNo${type}`, message: '', lastHeartbeatTime: t, lastTransitionTime: t })),
      ];
      await this.core.patchNodeStatus({ name: n.name, body: { status: { conditions } } }, MERGE);
      const lease = { metadata: { name: n.name, namespace: 'kube-node-lease' }, spec: { holderIdentity: n.name, leaseDurationSeconds: LEASE_SECONDS, renewTime: new V1MicroTime() } };
      try {
        await this.leases.replaceNamespacedLease({ name: n.name, namespace: 'kube-node-lease', body: { ...(await this.leases.readNamespacedLease({ name: n.name, namespace: 'kube-node-lease' })), spec: lease.spec } });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        await this.leases.createNamespacedLease({ namespace: 'kube-node-lease', body: lease });
      }
    }
  }

  private async watchPods(): Promise<void> {
    const ours = new Set(this.opts.nodes.map((n) => n.name));
    this.watch = await new Watch(this.kc).watch('/api/v1/pods', {}, (phase, obj) => {
      const pod = obj as V1Pod;
      const node = pod.spec?.nodeName;
      if (!node || !ours.has(node)) return;
      const key = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
      if (phase === 'DELETED') return void this.forget(key);
      if (pod.metadata?.deletionTimestamp) return void this.terminate(key, pod);
      if (!this.pods.has(key)) void this.run(key, pod).catch(() => undefined);
    }, () => {
      // A watch ends on the server's timeout: resume unless stopped.
      if (!this.stopped) void this.watchPods();
    });
  }

  /** A bound pod starts: an address, a runtime process where asked, then Running. */
  private async run(key: string, pod: V1Pod): Promise<void> {
    const node = pod.spec!.nodeName!;
    const host = (this.nextHost.get(node) ?? 1) + 1;
    this.nextHost.set(node, host);
    const sim: SimulatedPod = { key, node, ip: this.address(node, host), started: now() };
    if (this.opts.routablePodIPs) aliasLoopback(sim.ip, true);
    this.pods.set(key, sim);
    const main = pod.spec!.containers[0];
    if (this.opts.runRuntimes && main.command?.[0] === 'modelplane' && main.args?.[0] === 'serve') this.launch(sim, pod, main);
    await this.writeStatus(sim, pod);
    if (sim.proc) this.probe(sim, pod, main);
  }

  private launch(sim: SimulatedPod, pod: V1Pod, main: V1Container): void {
    sim.dir = mkdtempSync(join(tmpdir(), 'modelplane-pod-'));
    sim.terminationLog = join(sim.dir, 'termination-log');
    writeFileSync(sim.terminationLog, '');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: sim.dir, MODELPLANE_TERMINATION_LOG: sim.terminationLog };
    for (const e of main.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const proc = spawn(process.execPath, [CLI, ...main.args!, '--host', sim.ip], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    sim.proc = proc;
    this.started++;
    proc.on('exit', (code) => {
      let message = '';
      try {
        message = readFileSync(sim.terminationLog!, 'utf8');
      } catch {
        // already cleaned up
      }
      sim.exited = { code, message: message || stderr.trim().split('\n').slice(-5).join('\n') };
      sim.ready = false;
      if (!sim.deleting && !this.stopped) void this.writeStatus(sim, pod).catch(() => undefined);
    });
  }

  /** The kubelet's readiness probe: HTTP GET on the pod IP, Ready following its answer. */
  private probe(sim: SimulatedPod, pod: V1Pod, main: V1Container): void {
    const get = main.readinessProbe?.httpGet;
    const port = typeof get?.port === 'string' ? main.ports?.find((p) => p.name === get.port)?.containerPort : Number(get?.port);
    const tick = async () => {
      if (sim.deleting || this.stopped || sim.exited) return;
      const ready = await fetch(`http://${sim.ip}:${port}${get?.path ?? '/'}`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ready !== sim.ready) {
        sim.ready = ready;
        await this.writeStatus(sim, pod).catch(() => undefined);
      }
      sim.timer = setTimeout(() => void tick(), this.opts.probeMs ?? 500);
    };
    void tick();
  }

  private async writeStatus(sim: SimulatedPod, pod: V1Pod): Promise<void> {
    const [namespace, name] = sim.key.split('/');
    const ready = sim.proc ? sim.ready === true : true;
    const t = now();
    const main = pod.spec!.containers[0];
    const exited = sim.exited;
    const containerStatuses = pod.spec!.containers.map((c) => ({
      name: c.name, image: c.image ?? '', imageID: '', restartCount: exited ? 1 : 0, ready: c === main ? ready : true, started: !exited,
      state: exited && c === main ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name}` } } : { running: { startedAt: sim.started } },
      ...(exited && c === main ? { lastState: { terminated: { exitCode: exited.code ?? 137, reason: 'Error', message: exited.message, startedAt: sim.started, finishedAt: t } } } : {}),
    }));
    const initContainerStatuses = (pod.spec!.initContainers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', imageID: '', restartCount: 0, ready: true, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: sim.started, finishedAt: sim.started } } }));
    const condition = (type: string, status: boolean) => ({ type, status: status ? 'True' : 'False', lastTransitionTime: t, lastProbeTime: null });
    await this.core.patchNamespacedPodStatus({
      name, namespace,
      body: {
        status: {
          phase: 'Running', hostIP: this.address(sim.node, 1), podIP: sim.ip, podIPs: [{ ip: sim.ip }], startTime: sim.started,
          conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', ready), condition('Ready', ready)],
          containerStatuses, initContainerStatuses,
        },
      },
    }, MERGE);
  }

  /** A deleted pod: SIGTERM to its process, then the kubelet's final delete with no grace period. */
  private async terminate(key: string, pod: V1Pod): Promise<void> {
    const sim = this.pods.get(key);
    if (sim?.deleting) return;
    if (sim) sim.deleting = true;
    await this.stopProcess(sim, (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
    const [namespace, name] = key.split('/');
    await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }

  private async stopProcess(sim: SimulatedPod | undefined, graceMs: number): Promise<void> {
    if (!sim) return;
    if (sim.timer) clearTimeout(sim.timer);
    if (sim.proc) await terminate(sim.proc, graceMs);
    if (sim.dir) rmSync(sim.dir, { recursive: true, force: true });
    if (this.opts.routablePodIPs) aliasLoopback(sim.ip, false);
  }

  private forget(key: string): void {
    const sim = this.pods.get(key);
    this.pods.delete(key);
    void this.stopProcess(sim, 1000);
  }

  /** Kills a pod's runtime process with SIGKILL, as an OOM kill or a node failure would: no drain, no answer. */
  kill(key: string): void {
    const proc = this.pods.get(key)?.proc;
    if (!proc) throw new Error(`no runtime process for pod ${key}`);
    proc.kill('SIGKILL');
  }

  /** Runtime processes running now, by pod key. */
  running(): string[] {
    return [...this.pods.values()].filter((p) => p.proc && p.proc.exitCode === null && p.proc.signalCode === null).map((p) => p.key);
  }

  /** Stops heartbeats, the watch and every runtime process; the Node objects stay. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.watch?.abort();
    await Promise.all([...this.pods.values()].map((p) => this.stopProcess(p, 5000)));
    this.pods.clear();
    // Its nodes go with it, so that the suites sharing a control plane each see only their own (a scheduler's
    // "0/N nodes are available" counts every node).
    await Promise.all(this.opts.nodes.map((n) => this.core.deleteNode({ name: n.name }).catch(() => undefined)));
  }
}
