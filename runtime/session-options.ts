// How the session worker asks onnxruntime for a session: the options for one execution provider, and, with
// --require-gpu, onnxruntime told first that no node may fall back to the CPU provider.
import type ort from 'onnxruntime-node';
import { isGpuProvider } from '../common/serve-contract.js';
import type { WorkerInit } from './worker-protocol.js';

/** onnxruntime's session config entry that makes a node assigned to the CPU provider fail the session. */
export const DISABLE_CPU_EP_FALLBACK = 'session.disable_cpu_ep_fallback';

/** What onnxruntime answers when that entry is set and a node would run on the CPU provider. */
const CPU_FALLBACK_REFUSED = /fallback to CPU EP has been explicitly disabled/;

export type SessionSettings = Pick<WorkerInit, 'deviceId' | 'graphOptimizationLevel' | 'intraOpThreads'>;

/**
 * Session options for one provider. `gpuOnly` sets session.disable_cpu_ep_fallback (through the options' `extra`
 * entries, which onnxruntime-node passes on as session config entries: `extra.session.x` is `session.x`).
 */
export function sessionOptions(provider: string, s: SessionSettings, gpuOnly = false): ort.InferenceSession.SessionOptions {
  const ep = isGpuProvider(provider) ? { name: provider, deviceId: s.deviceId } : provider;
  return {
    executionProviders: [ep as ort.InferenceSession.ExecutionProviderConfig],
    graphOptimizationLevel: s.graphOptimizationLevel,
    intraOpNumThreads: s.intraOpThreads > 0 ? s.intraOpThreads : undefined,
    logSeverityLevel: 3,
    // onnxruntime-node refuses `extra: undefined`: the key is there only when it holds something.
    ...(gpuOnly ? { extra: { session: { [DISABLE_CPU_EP_FALLBACK.slice('session.'.length)]: '1' } } } : {}),
  };
}

export type CreateSession = (path: string, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;

export interface CreatedSession {
  session: ort.InferenceSession;
  /**
   * With --require-gpu on a GPU provider: whether onnxruntime placed nodes on the CPU provider. onnxruntime puts
   * small shape computations (Shape -> Gather -> Concat feeding a Reshape) there by design, so such a model is served,
   * and the runtime says so, rather than refused.
   */
  nodesOnCpu?: boolean;
}

/**
 * A session on `provider`. Under --require-gpu on a GPU provider it is first created with no CPU fallback allowed;
 * when onnxruntime refuses that because some nodes would run on the CPU provider, it is created again without the
 * entry and `nodesOnCpu` says so. Any other failure is the provider's, as it is.
 */
export async function createSession(create: CreateSession, path: string, provider: string, init: SessionSettings & Pick<WorkerInit, 'requireGpu'>): Promise<CreatedSession> {
  if (!init.requireGpu || !isGpuProvider(provider)) return { session: await create(path, sessionOptions(provider, init)) };
  try {
    return { session: await create(path, sessionOptions(provider, init, true)), nodesOnCpu: false };
  } catch (err) {
    if (!CPU_FALLBACK_REFUSED.test((err as Error).message)) throw err;
  }
  return { session: await create(path, sessionOptions(provider, init)), nodesOnCpu: true };
}
