// The built-in autoscaler's decision: a pure function from observed load to a replica count, in the manner of
// Knative's KPA (a stable and a panic window, a scale-down delay, rate limits, bounds, scale to zero after a
// grace period without demand). The scraper that observes load and the writer that applies the decision live
// elsewhere; local mode feeds the same function from its router.
import { DEFAULT_SCALE_TO_ZERO_DELAY_SECONDS, type ModelDeploymentSpec } from '../api/schema.js';

type AutoscalingSpec = NonNullable<ModelDeploymentSpec['autoscaling']>;

/** What the built-in autoscaler measures: requests in flight plus queued, or a generative model's sequences. */
export type LoadSignal = 'concurrency' | 'sequences';

/** What the user asked for (spec.autoscaling) plus the tuning knobs, all in seconds and ratios. */
export interface AutoscalerPolicy {
  minReplicas: number;
  maxReplicas: number;
  /**
   * The load per replica to aim for, in the signal's unit: in-flight plus queued requests (signal concurrency), or
   * sequences running or waiting (signal sequences).
   */
  targetConcurrency: number;
  /** What the load counts, for the reasons the decider gives; default concurrency. */
  signal?: LoadSignal;
  /** Desired counts are remembered this long; a scale-down goes no lower than their maximum. */
  scaleDownDelaySeconds: number;
  /**
   * With minReplicas 0: how long no demand may be seen before the last replica goes (Knative's scale-to-zero grace
   * period). Until then the floor is one replica. Optional for policies built by hand; policyFor sets it.
   */
  scaleToZeroDelaySeconds?: number;
  stableWindowSeconds: number;
  panicWindowSeconds: number;
  /** Panic when the panic window asks for at least this multiple of the ready replicas. */
  panicThreshold: number;
  /** At most this multiple of the ready replicas in one step (Knative: 1000%). */
  maxScaleUpRate: number;
  /** At most this divisor of the current replicas in one step (Knative: 2, i.e. halve). */
  maxScaleDownRate: number;
  /**
   * Outside panic, load within this fraction of the target for the current replicas keeps the count (the HPA's
   * 10% tolerance): a load sitting on a multiple of the target would otherwise flip ceil() with its noise.
   * Optional for policies built by hand; policyFor sets 0.1.
   */
  tolerance?: number;
}

/** The knobs that are not in spec.autoscaling (operator flags, local mode, tests). */
export type PolicyTuning = Required<Pick<AutoscalerPolicy, 'stableWindowSeconds' | 'panicWindowSeconds' | 'panicThreshold' | 'maxScaleUpRate' | 'maxScaleDownRate' | 'tolerance'>>;

export const DEFAULT_POLICY_TUNING: Readonly<PolicyTuning> = {
  stableWindowSeconds: 60,
  panicWindowSeconds: 6,
  panicThreshold: 2,
  maxScaleUpRate: 10,
  maxScaleDownRate: 2,
  tolerance: 0.1,
};

/** The signal a spec.autoscaling block scales on with the built-in autoscaler. */
export function loadSignal(a: Partial<Pick<AutoscalingSpec, 'metric'>>): LoadSignal {
  return a.metric === 'sequences' ? 'sequences' : 'concurrency';
}

/** The status.autoscaler field that carries the stable window's average load: it names the policy's signal. */
export function averageField(policy: Pick<AutoscalerPolicy, 'signal'>): 'averageSequences' | 'averageConcurrency' {
  return policy.signal === 'sequences' ? 'averageSequences' : 'averageConcurrency';
}

/**
 * The policy for a spec.autoscaling block (its defaults already applied: they are the schema's). With metric
 * sequences the target is targetSequences, and the load fed to decide() must count sequences.
 */
export function policyFor(
  a: Pick<AutoscalingSpec, 'minReplicas' | 'maxReplicas' | 'targetConcurrency' | 'scaleDownDelaySeconds'> &
    Partial<Pick<AutoscalingSpec, 'metric' | 'targetSequences' | 'scaleToZeroDelaySeconds'>>,
  tuning: Partial<PolicyTuning> = {},
): AutoscalerPolicy {
  const signal = loadSignal(a);
  return {
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
    targetConcurrency: signal === 'sequences' && a.targetSequences !== undefined ? a.targetSequences : a.targetConcurrency,
    signal,
    scaleDownDelaySeconds: a.scaleDownDelaySeconds,
    scaleToZeroDelaySeconds: a.scaleToZeroDelaySeconds ?? DEFAULT_SCALE_TO_ZERO_DELAY_SECONDS,
    ...DEFAULT_POLICY_TUNING,
    ...tuning,
  };
}

/**
 * One observation of a deployment's load over an interval that ended at `time`.
 * `concurrency` is the total load in the policy's signal, summed over the replicas that were measured and
 * extrapolated to every ready replica: average concurrency (in flight plus queued) over the interval, or the sequences
 * running and waiting at `time`; `rejectedConcurrency` is the demand that was turned away (queue full), expressed as
 * the load it would have added (Little's law).
 */
export interface LoadSample {
  time: number;
  seconds: number;
  concurrency: number;
  rejectedConcurrency: number;
  /** Requests refused because a queue was full, during the interval. */
  rejected: number;
}

/** What the decider remembers between steps. Start from `initialState(now)`. */
export interface AutoscalerState {
  samples: LoadSample[];
  /** Desired counts recommended recently, for the scale-down delay. */
  recommendations: { time: number; desired: number }[];
  /** When the decider began observing: a scale-down needs a full delay window of observations. */
  since: number;
  panicUntil?: number;
  panicDesired?: number;
  /**
   * When demand (load or refusals) was last seen, or replicas were activated from zero by someone else (the
   * gateway): the scale-to-zero delay counts from here, else from `since`.
   */
  lastDemand?: number;
  /** The count the last step decided: a step that finds replicas above it at 0 sees an outside activation. */
  lastDesired?: number;
}

export function initialState(now: number): AutoscalerState {
  return { samples: [], recommendations: [], since: now };
}

export interface DecisionInput {
  now: number;
  /** spec.replicas today. */
  current: number;
  /** Runtime pods ready to serve. */
  ready: number;
  /** Runtime pods that exist but are not ready (pending for a node, pulling, loading): capacity on its way. */
  notReady: number;
  /** This step's observation; undefined when no replica could be measured. */
  sample?: LoadSample;
}

export interface Decision {
  /** The replica count to write; equals input.current when nothing should change. */
  desired: number;
  /** Average total concurrency over the stable and panic windows (undefined without observations). */
  stableConcurrency?: number;
  panicConcurrency?: number;
  panicking: boolean;
  /** Why: a sentence for the Event and status. */
  reason: string;
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));
/** One decimal, as status and Events show concurrency. */
export const round1 = (n: number) => Math.round(n * 10) / 10;

/** Time-weighted average of total demand (served plus turned away) over the samples ending after `from`. */
function windowAverage(samples: LoadSample[], from: number): number | undefined {
  let weighted = 0;
  let seconds = 0;
  for (const s of samples) {
    if (s.time <= from) continue;
    weighted += (s.concurrency + s.rejectedConcurrency) * s.seconds;
    seconds += s.seconds;
  }
  return seconds > 0 ? weighted / seconds : undefined;
}

/** The replica bounds a policy allows: maxReplicas never below minReplicas. */
function bounds(policy: AutoscalerPolicy): { lo: number; hi: number } {
  return { lo: policy.minReplicas, hi: Math.max(policy.minReplicas, policy.maxReplicas) };
}

/** Adds this step's sample, forgets samples older than the stable window, and averages both windows. */
function observeWindows(policy: AutoscalerPolicy, state: AutoscalerState, input: DecisionInput): { next: AutoscalerState; stable?: number; panic?: number } {
  const stableFrom = input.now - policy.stableWindowSeconds * 1000;
  const samples = [...state.samples, ...(input.sample ? [input.sample] : [])].filter((s) => s.time > stableFrom);
  const stable = windowAverage(samples, stableFrom);
  const panic = windowAverage(samples, input.now - policy.panicWindowSeconds * 1000);
  return { next: { ...state, samples }, stable, panic };
}

/** Nothing measured lately (no ready replica answered, or only new ones): hold, except to honour the bounds. */
function holdWithoutLoad(policy: AutoscalerPolicy, current: number): Decision {
  const { lo, hi } = bounds(policy);
  const bounded = clamp(current, lo, hi);
  const reason = bounded !== current ? `replicas ${current} outside [${lo}, ${hi}]` : 'no load observed yet; holding';
  return { desired: bounded, panicking: false, reason };
}

/**
 * The replicas each window asks for. The stable count keeps the current one within the tolerance, and a replica
 * that turns requests away is saturated, whatever its capped in-flight count says: add one unless capacity is
 * already on its way.
 */
function windowDesired(policy: AutoscalerPolicy, input: DecisionInput, stable: number, panic: number): { stableDesired: number; panicDesired: number; rejecting: boolean } {
  const { current, notReady } = input;
  const target = policy.targetConcurrency;
  let stableDesired = Math.ceil(stable / target - 1e-9);
  const panicDesired = Math.ceil(panic / target - 1e-9);
  const tolerance = policy.tolerance ?? 0;
  if (tolerance > 0 && current > 0 && Math.abs(stable / (current * target) - 1) <= tolerance) stableDesired = current;
  const rejecting = (input.sample?.rejected ?? 0) > 0;
  if (rejecting && notReady === 0) stableDesired = Math.max(stableDesired, current + 1);
  return { stableDesired, panicDesired, rejecting };
}

/**
 * Panic: the short window asks for at least panicThreshold x the ready replicas; panic lasts a stable window.
 * Returns whether the step panics and the state with the panic's deadline (cleared, with its count, when calm).
 */
function updatePanic(policy: AutoscalerPolicy, state: AutoscalerState, input: DecisionInput, panicDesired: number): { panicking: boolean; next: AutoscalerState } {
  const { now, current } = input;
  const next = { ...state };
  let panicking = next.panicUntil !== undefined && now < next.panicUntil;
  if (panicDesired / Math.max(input.ready, 1) >= policy.panicThreshold && panicDesired > current) {
    panicking = true;
    next.panicUntil = now + policy.stableWindowSeconds * 1000;
  }
  if (!panicking) {
    next.panicUntil = undefined;
    next.panicDesired = undefined;
  }
  return { panicking, next };
}

/** The count the windows recommend, with its reason: in panic scale up at once to the larger of the windows, never down. */
function recommend(
  policy: AutoscalerPolicy,
  state: AutoscalerState,
  input: DecisionInput,
  w: { stable: number; panic: number; stableDesired: number; panicDesired: number; panicking: boolean; rejecting: boolean },
): { desired: number; why: string; next: AutoscalerState } {
  const target = policy.targetConcurrency;
  const unit = policy.signal === 'sequences' ? 'sequences' : 'concurrency';
  let desired: number;
  let why: string;
  let next = state;
  if (w.panicking) {
    desired = Math.max(w.panicDesired, w.stableDesired, state.panicDesired ?? 0, input.current);
    next = { ...state, panicDesired: desired };
    why = `panic: ${unit} over ${policy.panicWindowSeconds}s ${round1(w.panic)}, target ${target}`;
  } else {
    desired = w.stableDesired;
    why = `average ${unit} ${round1(w.stable)}, target ${target}`;
  }
  if (w.rejecting) why += `; ${input.sample!.rejected} requests rejected (queue full)`;
  return { desired, why, next };
}

/** Rate limits, against the replicas that serve now (fresh pods must not trigger a knee-jerk scale-down), then the bounds. */
function rateLimit(policy: AutoscalerPolicy, input: DecisionInput, desired: number): number {
  const { lo, hi } = bounds(policy);
  const upLimit = Math.ceil(Math.max(input.ready, 1) * policy.maxScaleUpRate);
  const downLimit = Math.floor(input.current / policy.maxScaleDownRate);
  return clamp(clamp(desired, Math.min(input.current, downLimit), Math.max(input.current, upLimit)), lo, hi);
}

/**
 * Scale-down delay: go no lower than the most any recommendation asked for during the delay, and only once a full
 * delay window has been observed. `state` is the state before this step (its start and recommendations).
 */
function delayScaleDown(
  policy: AutoscalerPolicy,
  state: AutoscalerState,
  input: DecisionInput,
  desired: number,
  why: string,
): { desired: number; why: string; recommendations: AutoscalerState['recommendations'] } {
  const { now, current } = input;
  const { lo, hi } = bounds(policy);
  const delayFrom = now - policy.scaleDownDelaySeconds * 1000;
  const recommendations = [...state.recommendations.filter((r) => r.time > delayFrom), { time: now, desired }];
  if (desired < current) {
    const windowMax = Math.max(...recommendations.map((r) => r.desired));
    if (state.since > delayFrom && current <= hi) {
      desired = current;
      why += `; scale-down waits for ${policy.scaleDownDelaySeconds}s of observation`;
    } else if (windowMax > desired) {
      desired = Math.min(current, windowMax);
      if (desired === current) why += `; scale-down delayed (${policy.scaleDownDelaySeconds}s)`;
    }
  }
  return { desired: clamp(desired, lo, hi), why, recommendations };
}

/** Whether an observation shows demand: load in flight or held, or requests turned away. */
export function hasDemand(sample: LoadSample | undefined): boolean {
  return !!sample && (sample.concurrency > 0 || sample.rejectedConcurrency > 0 || sample.rejected > 0);
}

/**
 * When demand was last seen: this step's sample, or an activation from zero the decider did not make (the gateway
 * wrote /scale for a request it holds), which counts as demand at that moment.
 */
function lastDemandAt(state: AutoscalerState, input: DecisionInput): number | undefined {
  const activated = state.lastDesired === 0 && input.current > 0;
  return hasDemand(input.sample) || activated ? input.now : state.lastDemand;
}

/**
 * minReplicas 0: at zero, stay there until demand shows (then at least one replica, from the windows as usual);
 * above zero, go to zero once scaleToZeroDelaySeconds passed without demand, observed (a sample) or with no replica
 * ready to be observed. That delay alone governs the last step: the windows, rate limits and scale-down delay keep
 * replicas while demand is recent, and after the delay no demand is left for them to weigh. Otherwise undefined:
 * the usual steps decide, with a floor of one replica.
 */
function scaleToZero(policy: AutoscalerPolicy, state: AutoscalerState, input: DecisionInput, lastDemand: number | undefined): Decision | undefined {
  if (policy.minReplicas > 0 || hasDemand(input.sample)) return undefined;
  if (input.current === 0) return { desired: 0, panicking: false, reason: 'no requests; scaled to zero' };
  const idleMs = input.now - (lastDemand ?? state.since);
  const delay = policy.scaleToZeroDelaySeconds ?? DEFAULT_SCALE_TO_ZERO_DELAY_SECONDS;
  if (idleMs < delay * 1000 || (input.sample === undefined && input.ready > 0)) return undefined;
  return { desired: 0, panicking: false, reason: `no requests for ${Math.round(idleMs / 1000)}s; scaling to zero` };
}

/** The usual steps: observe the windows, the count each window asks for, panic, the recommendation, rate limits, the scale-down delay. */
function decideLoad(policy: AutoscalerPolicy, state: AutoscalerState, input: DecisionInput): { decision: Decision; state: AutoscalerState } {
  const observed = observeWindows(policy, state, input);
  const { stable, panic } = observed;
  if (stable === undefined || panic === undefined) return { decision: holdWithoutLoad(policy, input.current), state: observed.next };

  const wanted = windowDesired(policy, input, stable, panic);
  const { panicking, next: panicState } = updatePanic(policy, observed.next, input, wanted.panicDesired);
  const recommended = recommend(policy, panicState, input, { stable, panic, ...wanted, panicking });
  const limited = rateLimit(policy, input, recommended.desired);
  const delayed = delayScaleDown(policy, state, input, limited, recommended.why);
  const next: AutoscalerState = { ...recommended.next, recommendations: delayed.recommendations };
  return { decision: { desired: delayed.desired, stableConcurrency: stable, panicConcurrency: panic, panicking, reason: delayed.why }, state: next };
}

/**
 * Decide the next replica count. Pure: the same policy, state and input always give the same result.
 * With minReplicas 0, scaleToZero decides the step to and from zero; every other step is decideLoad's, with a
 * floor of one replica.
 */
export function decide(policy: AutoscalerPolicy, state: AutoscalerState, input: DecisionInput): { decision: Decision; state: AutoscalerState } {
  const lastDemand = lastDemandAt(state, input);
  const zero = scaleToZero(policy, state, input, lastDemand);
  let result: { decision: Decision; state: AutoscalerState };
  if (zero) {
    const observed = observeWindows(policy, state, input);
    const next: AutoscalerState = { ...observed.next, panicUntil: undefined, panicDesired: undefined, recommendations: [{ time: input.now, desired: 0 }] };
    result = { decision: { ...zero, stableConcurrency: observed.stable, panicConcurrency: observed.panic }, state: next };
  } else {
    result = decideLoad(policy.minReplicas > 0 ? policy : { ...policy, minReplicas: 1 }, state, input);
  }
  const next: AutoscalerState = { ...result.state, lastDesired: result.decision.desired };
  if (lastDemand !== undefined) next.lastDemand = lastDemand;
  return { decision: result.decision, state: next };
}
