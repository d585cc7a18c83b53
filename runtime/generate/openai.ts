// The bodies OpenAI's API answers with: the model list, completions and chat completions, whole or as stream chunks.
import type { Finished, FinishReason } from './completion.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

export function modelObject(name: string, created: number, maxModelLen: number): Record<string, unknown> {
  return { id: name, object: 'model', created, owned_by: 'modelplane', max_model_len: maxModelLen };
}

/** What every response and chunk of one request carries. */
export interface ResponseHead {
  id: string;
  created: number;
  model: string;
}

const tokenFields = (ids: readonly number[] | undefined, promptIds?: readonly number[]) => ({
  ...(promptIds ? { prompt_token_ids: promptIds } : {}),
  ...(ids ? { token_ids: ids } : {}),
});

export function completionResponse(h: ResponseHead, f: Finished, promptIds?: readonly number[]): Record<string, unknown> {
  return {
    id: h.id, object: 'text_completion', created: h.created, model: h.model,
    choices: [{ index: 0, text: f.text, logprobs: null, finish_reason: f.finishReason, ...tokenFields(promptIds && f.tokenIds, promptIds) }],
    usage: usage(f.promptTokens, f.completionTokens),
  };
}

export function completionChunk(h: ResponseHead, text: string, finishReason: FinishReason | null, tokenIds?: readonly number[], withUsage = false): Record<string, unknown> {
  return {
    id: h.id, object: 'text_completion', created: h.created, model: h.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason, ...tokenFields(tokenIds) }],
    ...(withUsage ? { usage: null } : {}),
  };
}

export function chatResponse(h: ResponseHead, f: Finished, promptIds?: readonly number[]): Record<string, unknown> {
  return {
    id: h.id, object: 'chat.completion', created: h.created, model: h.model,
    choices: [{ index: 0, message: { role: 'assistant', content: f.text }, logprobs: null, finish_reason: f.finishReason, ...tokenFields(promptIds && f.tokenIds, promptIds) }],
    usage: usage(f.promptTokens, f.completionTokens),
  };
}

export function chatChunk(h: ResponseHead, delta: Record<string, string>, finishReason: FinishReason | null, tokenIds?: readonly number[], withUsage = false): Record<string, unknown> {
  return {
    id: h.id, object: 'chat.completion.chunk', created: h.created, model: h.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason, ...tokenFields(tokenIds) }],
    ...(withUsage ? { usage: null } : {}),
  };
}

/** The last chunk of a stream asked for with stream_options.include_usage: no choices, the usage. */
export function usageChunk(h: ResponseHead, object: 'text_completion' | 'chat.completion.chunk', f: Finished): Record<string, unknown> {
  return { id: h.id, object, created: h.created, model: h.model, choices: [], usage: usage(f.promptTokens, f.completionTokens) };
}
