// The figures of a generation step, as genai-perf reports them: time to first token, inter-token latency (per
// request, the time between its first and last token over the tokens in between), output tokens per second and
// requests per second, all measured on the client.
import { LatencyHistogram } from './histogram.js';

/** One streamed generation: the error key when it failed, else when its first token came and what the server counted. */
export interface GenerationOutcome {
  error?: string;
  /** performance.now() when the first chunk with text arrived. */
  firstTokenAt?: number;
  /** usage.prompt_tokens, when the server sent usage. */
  promptTokens?: number;
  /** usage.completion_tokens, or without usage the chunks that carried text. */
  outputTokens: number;
}

export interface GenerationFigures {
  /** From the send (closed loop) or the time the request was due (open loop) to its first token, ms. */
  ttftMs: { p50: number; p90: number; p99: number };
  /** Per request (last token - first token) / (output tokens - 1), ms. */
  itlMs: { p50: number; p99: number };
  /** Output tokens of the successful requests, as the server counted them (usage.completion_tokens). */
  outputTokens: number;
  outputTokensPerS: number;
  requestsPerS: number;
  /** Prompt tokens asked for (--prompt-tokens) and the mean the server counted (usage.prompt_tokens; null without usage). */
  promptTokens: { asked: number; counted: number | null };
}

/** The generation side of a step's answers. */
export class GenerationTally {
  readonly ttft = new LatencyHistogram();
  readonly itl = new LatencyHistogram();
  outputTokens = 0;
  answers = 0;
  private promptSum = 0;
  private promptCounted = 0;

  constructor(private readonly askedPromptTokens: number) {}

  /** One successful answer: `latencyMs` from `startedAt` to its last byte. */
  record(latencyMs: number, o: GenerationOutcome, startedAt: number): void {
    this.answers++;
    this.outputTokens += o.outputTokens;
    if (o.promptTokens !== undefined) {
      this.promptSum += o.promptTokens;
      this.promptCounted++;
    }
    if (o.firstTokenAt === undefined) return;
    const ttft = Math.max(0, o.firstTokenAt - startedAt);
    this.ttft.record(ttft);
    if (o.outputTokens > 1) this.itl.record(Math.max(0, latencyMs - ttft) / (o.outputTokens - 1));
  }

  figures(seconds: number): GenerationFigures {
    const s = Math.max(seconds, 1e-3);
    return {
      ttftMs: { p50: this.ttft.percentile(50), p90: this.ttft.percentile(90), p99: this.ttft.percentile(99) },
      itlMs: { p50: this.itl.percentile(50), p99: this.itl.percentile(99) },
      outputTokens: this.outputTokens,
      outputTokensPerS: +(this.outputTokens / s).toFixed(2),
      requestsPerS: +(this.answers / s).toFixed(2),
      promptTokens: { asked: this.askedPromptTokens, counted: this.promptCounted ? +(this.promptSum / this.promptCounted).toFixed(2) : null },
    };
  }
}
