// The files of a Hugging Face model directory that make a decoder generative here: config.json and tokenizer.json
// (both required), tokenizer_config.json (special tokens, the chat template) and generation_config.json (end tokens,
// sampling defaults).
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelConfigJson } from './layout.js';

export interface GenerationConfigJson {
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  [key: string]: unknown;
}

export interface ModelFiles {
  dir: string;
  config: ModelConfigJson & Record<string, unknown>;
  tokenizer: object;
  tokenizerConfig: Record<string, unknown>;
  generationConfig: GenerationConfigJson;
}

/** A file that is there but cannot be used: the start fails naming it. */
export class ModelFilesError extends Error {
  readonly reason = 'ModelLoadFailed';
}

function readJson(dir: string, name: string): Record<string, unknown> | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ModelFilesError(`${path}: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ModelFilesError(`${path}: is not a JSON object`);
  return value as Record<string, unknown>;
}

const hasGenerationFiles = (dir: string) => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'tokenizer.json'));

/**
 * The generation files of the model file's directory `modelDir`, or of the directory above it when the model lies
 * under onnx/ (a transformers.js repository); undefined when neither has config.json and tokenizer.json (not a
 * generative model).
 */
export function readModelFiles(modelDir: string): ModelFiles | undefined {
  const dir = hasGenerationFiles(modelDir) ? modelDir
    : basename(modelDir) === 'onnx' && hasGenerationFiles(dirname(modelDir)) ? dirname(modelDir)
    : undefined;
  if (dir === undefined) return undefined;
  return {
    dir,
    config: readJson(dir, 'config.json')!,
    tokenizer: readJson(dir, 'tokenizer.json')!,
    tokenizerConfig: readJson(dir, 'tokenizer_config.json') ?? {},
    generationConfig: (readJson(dir, 'generation_config.json') ?? {}) as GenerationConfigJson,
  };
}

const ids = (v: unknown): number[] | undefined => {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  const out = list.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  return out.length > 0 ? out : undefined;
};

/** End-of-sequence token ids: generation_config.json's, else config.json's, else the tokenizer's eos_token. */
export function eosTokenIds(files: ModelFiles, tokenId: (text: string) => number | undefined, eosToken: string | undefined): number[] {
  const fromTokenizer = eosToken !== undefined ? tokenId(eosToken) : undefined;
  return ids(files.generationConfig.eos_token_id) ?? ids(files.config.eos_token_id) ?? (fromTokenizer !== undefined ? [fromTokenizer] : []);
}

/** The model's context length: config.json's max_position_embeddings (n_positions for GPT-2), else the tokenizer's. */
export function modelContextLength(files: ModelFiles): number | undefined {
  for (const v of [files.config.max_position_embeddings, files.config.n_positions, files.tokenizerConfig.model_max_length]) {
    // Tokenizers without a limit say so with a huge model_max_length.
    if (typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 1e9) return v;
  }
  return undefined;
}
