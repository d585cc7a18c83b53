// metav1.Condition as Kubernetes conventions want it: keyed by type, a transition time that moves only with the status.
import type { V1Condition } from '@kubernetes/client-node';
import { isoSeconds } from '../../common/time.js';

/** A condition that keeps its lastTransitionTime unless its status changes. */
export function condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string, generation: number, previous: V1Condition[] | undefined, now: Date): V1Condition {
  const prev = previous?.find((c) => c.type === type);
  const lastTransitionTime = prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : (isoSeconds(now) as unknown as Date);
  return { type, status, observedGeneration: generation, lastTransitionTime, reason, message };
}
