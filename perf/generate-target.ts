// `modelplane perf --generate`: prompts of exactly --prompt-tokens tokens from the model's tokenizer, one generation
// tried first (a refusal stops the run before any load; what the server counted is checked against what was asked),
// then the requests the load sends.
import type { GenerateConfig, PerfConfig } from './config.js';
import { PerfError } from './errors.js';
import { GenerateTransport, type GenerationOutcome } from './generate-transport.js';
import { buildPrompts, loadTokenizer } from './prompts.js';
import type { Target } from './transport.js';

/** What the first generation says about the run to come: a refusal, or warnings on what the server counted. */
export function checkProbe(cfg: Pick<PerfConfig, 'url' | 'model'>, g: GenerateConfig, o: GenerationOutcome): string[] {
  if (o.error !== undefined && /^4\d\d/.test(o.error)) {
    throw new PerfError('InvalidArgument', `the server refused the generation perf built for ${cfg.model} (${o.error}); check --prompt-tokens and --output-tokens against the model's context length, and --endpoint`);
  }
  if (o.error !== undefined && /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH)$/.test(o.error)) throw new PerfError('Unreachable', `cannot reach ${cfg.url}: ${o.error}`);
  if (o.error !== undefined) return [`the first generation failed (${o.error}); the run goes on and counts such failures as errors`];
  const warnings: string[] = [];
  if (o.promptTokens === undefined) warnings.push('the server sent no usage (stream_options.include_usage): output tokens are counted as the stream\'s chunks of text, and the prompt\'s length is not checked');
  else if (o.promptTokens !== g.promptTokens) warnings.push(`the server counted ${o.promptTokens} prompt tokens where --tokenizer made ${g.promptTokens}: its tokenizer is not the one given`);
  if (o.promptTokens !== undefined && o.outputTokens !== g.outputTokens) warnings.push(`the server generated ${o.outputTokens} tokens where max_tokens asked ${g.outputTokens} with ignore_eos: the figures use what it counted`);
  if (o.firstTokenAt === undefined) warnings.push('the first generation streamed no text: no time to first token');
  return warnings;
}

export async function generationTarget(cfg: PerfConfig, g: GenerateConfig, warn: (w: string) => void): Promise<Target> {
  const prompts = buildPrompts(loadTokenizer(g.tokenizer), g.endpoint, g.promptTokens, cfg.seed);
  const transport = new GenerateTransport({ url: cfg.url, model: cfg.model, endpoint: g.endpoint, outputTokens: g.outputTokens, timeoutMs: cfg.timeoutMs, maxInflight: cfg.maxInflight });
  try {
    await transport.checkModel();
    transport.prepare(prompts);
    for (const w of checkProbe(cfg, g, await transport.send(0))) warn(w);
    return {
      description: { url: cfg.url, model: cfg.model, protocol: cfg.protocol, binary: false, inputs: [], endpoint: transport.path },
      send: (i) => transport.send(i),
      close: () => transport.close(),
    };
  } catch (err) {
    transport.close();
    throw err;
  }
}
