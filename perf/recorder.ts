// Outcomes of the requests of one step (or one soak interval): latency of the answers, errors by key, and for
// generations the tokens' figures.
import { GenerationTally, type GenerationOutcome } from './generation.js';
import { LatencyHistogram } from './histogram.js';
import type { OnResult } from './load.js';

/** What one request came to: an inference's error key (undefined on success), or a generation's outcome. */
export type Outcome = string | undefined | GenerationOutcome;

export class Recorder {
  readonly latency = new LatencyHistogram();
  readonly errors: Record<string, number> = {};
  errorCount = 0;
  /** Present when the requests are generations: the prompt tokens they asked for. */
  readonly generation?: GenerationTally;

  constructor(generation?: { promptTokens: number }) {
    if (generation) this.generation = new GenerationTally(generation.promptTokens);
  }

  readonly record: OnResult<Outcome> = (ms, outcome, startedAt) => {
    const err = typeof outcome === 'object' ? outcome.error : outcome;
    if (err !== undefined) {
      this.errors[err] = (this.errors[err] ?? 0) + 1;
      this.errorCount++;
      return;
    }
    this.latency.record(ms);
    if (typeof outcome === 'object') this.generation?.record(ms, outcome, startedAt);
  };

  get requests(): number {
    return this.latency.count + this.errorCount;
  }
}
