// What each ready runtime pod says of its warm-up. A warm-up on generated inputs that the model refuses is not a
// failure (the model loaded and is served), but the user should see it: the operator asks each pod once, when it
// turns ready, for its model metadata (`warmup` in GET /v2/models/{name}), off the reconcile path, and queues the
// ModelDeployment again when the answer arrives, so its status can say so.
import type { V1Pod } from '@kubernetes/client-node';
import { metricsUrl } from '../autoscaler/builtin.js';

/** A pod's warm-up that failed on generated inputs, with onnxruntime's message. */
export interface WarmupFailure {
  pod: string;
  message: string;
}

export type MetadataReader = (url: string, timeoutMs: number) => Promise<unknown>;

const readJson: MetadataReader = async (url, timeoutMs) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
};

const isReady = (p: V1Pod) => !p.metadata?.deletionTimestamp && !!p.status?.podIP && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

export class WarmupObserver {
  /** Per pod uid: the failure it reported, null when its warm-up went well or it could not say. */
  private readonly known = new Map<string, WarmupFailure | null>();
  private readonly asking = new Set<string>();

  constructor(
    /** Called with the ModelDeployment's key once a pod has answered. */
    private readonly learned: (key: string) => void,
    private readonly read: MetadataReader = readJson,
    private readonly timeoutMs = 2000,
    private readonly capacity = 20_000,
  ) {}

  /** The warm-up failures the ready pods have reported so far; pods not yet asked are asked now, in the background. */
  failures(key: string, model: string, pods: V1Pod[]): WarmupFailure[] {
    const out: WarmupFailure[] = [];
    for (const pod of pods.filter(isReady)) {
      const uid = pod.metadata?.uid ?? pod.metadata?.name ?? '';
      const note = this.known.get(uid);
      if (note) out.push(note);
      else if (note === undefined && !this.asking.has(uid)) void this.ask(key, model, pod, uid);
    }
    return out.sort((a, b) => a.pod.localeCompare(b.pod));
  }

  private async ask(key: string, model: string, pod: V1Pod, uid: string): Promise<void> {
    const url = metricsUrl(pod)?.replace(/\/metrics$/, `/v2/models/${encodeURIComponent(model)}`);
    if (!url) return;
    this.asking.add(uid);
    let note: WarmupFailure | null = null;
    try {
      const warmup = ((await this.read(url, this.timeoutMs)) as { warmup?: { status?: string; message?: string } }).warmup;
      if (warmup?.status === 'failed') note = { pod: pod.metadata?.name ?? uid, message: warmup.message ?? 'no message' };
    } catch {
      // A pod that cannot say is taken at its word that it is ready: nothing to report.
    } finally {
      this.asking.delete(uid);
    }
    if (this.known.size >= this.capacity) this.known.delete(this.known.keys().next().value!);
    this.known.set(uid, note);
    if (note) this.learned(key);
  }
}
