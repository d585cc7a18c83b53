// What a generation request runs: its prompt as token ids (text through the tokenizer or the chat template, or ids
// checked against the vocabulary) and the max_tokens it may run to, refused naming the field when it could never run.
import { ApiError, badField } from './errors.js';
import type { GenerativeModel } from './model.js';
import type { ChatBody, CompletionBody } from './requests.js';
import { ChatTemplateError, type ChatMessage } from './tokenizer.js';

/** Completions default to 16 tokens, as OpenAI's do. */
export const DEFAULT_MAX_TOKENS = 16;

/** The request fields a prompt and its max_tokens came from, named in refusals. */
export interface PromptFields {
  prompt: string;
  maxTokens: string;
}

/** Token ids of a completion prompt: text through the tokenizer, or ids checked against the vocabulary. */
export function promptIds(g: GenerativeModel, prompt: string | readonly number[], param: string): number[] {
  let ids: number[];
  if (typeof prompt === 'string') ids = g.tokenizer.encode(prompt, true);
  else {
    const V = g.engine.layout.vocabSize;
    const bad = prompt.find((t) => t >= V);
    if (bad !== undefined) throw badField(param, `token id ${bad} is outside the vocabulary (0 to ${V - 1})`);
    ids = prompt as number[];
  }
  if (ids.length === 0) throw badField(param, 'is empty: it must hold at least one token');
  return ids;
}

/** Token ids of a chat: the messages through the model's chat template (with the assistant's turn opened). */
export function chatPromptIds(g: GenerativeModel, messages: readonly ChatMessage[]): number[] {
  let text: string;
  try {
    text = g.tokenizer.applyChatTemplate(messages);
  } catch (err) {
    if (err instanceof ChatTemplateError) throw new ApiError(400, `messages: ${err.message}`, 'messages', 'chat_template_error');
    throw err;
  }
  const ids = g.tokenizer.encode(text, false);
  if (ids.length === 0) throw badField('messages', 'the chat template made an empty prompt');
  return ids;
}

/**
 * max_tokens as asked, or by default (16, within the context), refused (400 naming the field, OpenAI's
 * context_length_exceeded) when the prompt alone, or the prompt with max_tokens, could never run.
 */
export function maxTokensFor(g: GenerativeModel, ids: readonly number[], asked: number | undefined, fields: PromptFields): number {
  const maxTokens = asked ?? Math.max(1, Math.min(DEFAULT_MAX_TOKENS, g.engine.limits.maxModelLen - ids.length));
  const problem = g.engine.tooLarge(ids.length, maxTokens);
  if (problem) throw new ApiError(400, problem.message, problem.field === 'prompt' ? fields.prompt : fields.maxTokens, 'context_length_exceeded');
  return maxTokens;
}

/**
 * What a chat completion may run to when it names no max_tokens: the end of the context (or of the KV-cache budget),
 * as OpenAI's does; a completion stops at 16 tokens.
 */
export function defaultChatTokens(g: GenerativeModel, promptTokens: number): number {
  return Math.max(1, g.engine.mostTokens(promptTokens));
}

/**
 * The prompt ids and max_tokens of an OpenAI request: a completion's prompt, or a chat's messages through the chat
 * template; refusals name the field the client sent (max_completion_tokens when a chat gave that).
 */
export function openAiPrompt(g: GenerativeModel, f: CompletionBody | ChatBody): { ids: number[]; maxTokens: number } {
  if ('messages' in f) {
    const ids = chatPromptIds(g, f.messages);
    return { ids, maxTokens: maxTokensFor(g, ids, f.maxTokens ?? defaultChatTokens(g, ids.length), { prompt: 'messages', maxTokens: f.maxTokensField }) };
  }
  const ids = promptIds(g, f.prompt, 'prompt');
  return { ids, maxTokens: maxTokensFor(g, ids, f.maxTokens, { prompt: 'prompt', maxTokens: 'max_tokens' }) };
}
