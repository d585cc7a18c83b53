// A generative model as the APIs see it: its engine, its tokenizer, the sampling defaults of its
// generation_config.json, and what the model metadata says of it.
import { randomInt } from 'node:crypto';
import type { GenerationEngine } from './engine.js';
import type { GenerationFields } from './requests.js';
import type { SamplingParams } from './sampling.js';
import type { TextTokenizer } from './tokenizer.js';

/** generation_config.json's sampling defaults, used where a request leaves a field out. */
export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
}

export class GenerativeModel {
  constructor(
    readonly engine: GenerationEngine,
    readonly tokenizer: TextTokenizer,
    readonly defaults: SamplingDefaults,
    /** When the model was loaded (seconds since the epoch), OpenAI's `created` of the model. */
    readonly created: number,
  ) {}

  /** What GET /v2/models/{m} says of the model besides its tensors. */
  describe(): Record<string, string | number | boolean> {
    const { layout, limits } = this.engine;
    return {
      layers: layout.layers,
      attention_heads: layout.heads,
      kv_heads: layout.kvHeads,
      head_dim: layout.headDim,
      kv_dtype: layout.kvDtype,
      vocab_size: layout.vocabSize,
      position_ids: layout.positionIds,
      max_model_len: limits.maxModelLen,
      max_num_seqs: limits.maxNumSeqs,
      max_kv_cache_bytes: limits.maxKvCacheBytes,
      chat_template: this.tokenizer.hasChatTemplate,
    };
  }

  /** The sampling of a request: its fields, else generation_config.json's, else OpenAI's defaults; a random seed if none. */
  sampling(f: Pick<GenerationFields, 'temperature' | 'topP' | 'topK' | 'seed'>): SamplingParams {
    const topK = f.topK ?? this.defaults.topK ?? 0;
    return {
      temperature: f.temperature ?? this.defaults.temperature ?? 1,
      topP: f.topP ?? this.defaults.topP ?? 1,
      topK: topK < 0 ? 0 : topK,
      // Seeds are 64-bit in OpenAI's API; the generator takes 32 bits of it.
      seed: f.seed !== undefined ? Number(BigInt.asUintN(32, BigInt(f.seed))) : randomInt(2 ** 32 - 1),
    };
  }
}
