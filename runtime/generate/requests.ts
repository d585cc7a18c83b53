// The bodies of the generation APIs, checked field by field: OpenAI's completions and chat completions, and Triton's
// generate extension. A wrong field is refused naming it; a field asking for what this server does not do (n > 1,
// logprobs, penalties, tools) is refused too, never ignored, so no answer pretends to honour it.
import { isUtf8 } from 'node:buffer';
import { firstInvalidUtf8, loneSurrogateAt, surrogateEscape } from '../unicode.js';
import type { ChatMessage } from './tokenizer.js';
import { ApiError, badField, unsupported } from './errors.js';

export interface GenerationFields {
  /** Undefined: the API's default. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: string[];
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  /** Keep generating past end-of-sequence tokens, up to max_tokens (vLLM's ignore_eos). */
  ignoreEos: boolean;
  /** Token ids beside the text (vLLM's return_token_ids). */
  returnTokenIds: boolean;
}

export interface CompletionBody extends GenerationFields {
  model: string;
  /** Text, or token ids. */
  prompt: string | number[];
}

export interface ChatBody extends GenerationFields {
  model: string;
  messages: ChatMessage[];
  /** The field max_tokens came from: max_tokens, or max_completion_tokens (OpenAI's newer name). */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
}

export interface GenerateBody extends GenerationFields {
  textInput: string;
  id?: string;
  /** Whether text_output leaves out text_input (default true). */
  excludeInput: boolean;
}

const show = (v: unknown) => {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** max_tokens may be any integer from 1 here: one past what the model can run is refused naming its context length. */
const ANY = Number.MAX_VALUE;

/**
 * A request body as JSON. Bytes that are not UTF-8 are refused rather than read as U+FFFD, which would tokenize as
 * text the client never sent.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) {
    const at = firstInvalidUtf8(body);
    throw new ApiError(400, `the request body is not valid UTF-8: byte 0x${body[at].toString(16).padStart(2, '0')} at offset ${at} does not begin or continue a character; send JSON as UTF-8`, null, 'invalid_utf8');
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, `the request body is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
  }
}

/** Text as a tokenizer takes it: a lone UTF-16 surrogate (JSON's "\ud800" on its own) is not text, and is refused. */
function wellFormed(s: string, at: string): string {
  const i = loneSurrogateAt(s);
  if (i !== -1) throw badField(at, `has a lone UTF-16 surrogate (${surrogateEscape(s, i)} at character ${i}), which is not Unicode text; send well-formed text`, 'invalid_text');
  return s;
}

/** A JSON object's fields, read once each with their type checked; `null` is taken as absent, as OpenAI does. */
class Fields {
  constructor(private readonly obj: Record<string, unknown>, private readonly prefix = '') {}

  name(key: string): string {
    return `${this.prefix}${key}`;
  }

  value(key: string): unknown {
    const v = Object.prototype.hasOwnProperty.call(this.obj, key) ? this.obj[key] : undefined;
    return v === null ? undefined : v;
  }

  /** Refuses the first field not in `known`. */
  only(known: readonly string[]): void {
    for (const key of Object.keys(this.obj)) {
      if (!known.includes(key)) throw new ApiError(400, `Unrecognized request argument supplied: ${this.name(key)}`, this.name(key), 'unknown_parameter');
    }
  }

  string(key: string, required: true): string;
  string(key: string, required?: false): string | undefined;
  string(key: string, required = false): string | undefined {
    const v = this.value(key);
    if (v === undefined) {
      if (required) throw badField(this.name(key), 'is required');
      return undefined;
    }
    if (typeof v !== 'string') throw badField(this.name(key), `must be a string, got ${show(v)}`);
    return wellFormed(v, this.name(key));
  }

  number(key: string, min: number, max: number, opts: { integer?: boolean; above?: boolean } = {}): number | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    const kind = opts.integer ? 'an integer' : 'a number';
    const range = `${opts.above ? 'above' : 'from'} ${min}${max >= Number.MAX_SAFE_INTEGER ? '' : ` ${opts.above ? 'up ' : ''}to ${max}`}`;
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.above ? v <= min : v < min) || v > max) {
      throw badField(this.name(key), `must be ${kind} ${range}, got ${show(v)}`);
    }
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw badField(this.name(key), `must be true or false, got ${show(v)}`);
    return v;
  }

  /** A field whose only accepted values are those that ask for nothing this server lacks. */
  neutral(key: string, ok: (v: unknown) => boolean, what: string): void {
    const v = this.value(key);
    if (v !== undefined && !ok(v)) throw unsupported(this.name(key), what);
  }
}

function stopStrings(f: Fields, key: string): string[] {
  const v = f.value(key);
  if (v === undefined) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw badField(f.name(key), `must be a string or a list of strings, got ${show(v)}`);
  if (list.length > 4) throw badField(f.name(key), `at most 4 stop sequences, got ${list.length}`);
  if (list.some((s) => s === '')) throw badField(f.name(key), 'a stop sequence must not be empty');
  return (list as string[]).map((s, i) => wellFormed(s, typeof v === 'string' ? f.name(key) : `${f.name(key)}[${i}]`));
}

/** The fields every OpenAI generation request shares. */
const OPENAI_COMMON = [
  'model', 'max_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stream', 'stream_options', 'stop', 'seed',
  'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'user', 'ignore_eos', 'return_token_ids',
];

function openAiFields(f: Fields, maxTokensKey = 'max_tokens'): GenerationFields & { model: string } {
  const model = f.string('model', true);
  const n = f.number('n', 1, 128, { integer: true });
  if (n !== undefined && n !== 1) throw new ApiError(400, `n: only n=1 is supported (one choice per request), got ${n}`, 'n', 'unsupported_parameter');
  for (const key of ['presence_penalty', 'frequency_penalty']) {
    f.number(key, -2, 2);
    f.neutral(key, (v) => v === 0, `a non-zero ${key}`);
  }
  f.neutral('logit_bias', (v) => isObject(v) && Object.keys(v).length === 0, 'logit_bias');
  f.string('user');
  const stream = f.boolean('stream') ?? false;
  let includeUsage = false;
  const options = f.value('stream_options');
  if (options !== undefined) {
    if (!stream) throw badField('stream_options', 'is only allowed when stream is true');
    if (!isObject(options)) throw badField('stream_options', `must be an object, got ${show(options)}`);
    const o = new Fields(options, 'stream_options.');
    o.only(['include_usage', 'continuous_usage_stats']);
    o.neutral('continuous_usage_stats', (v) => v === false, 'continuous_usage_stats');
    includeUsage = o.boolean('include_usage') ?? false;
  }
  return {
    model,
    maxTokens: f.number(maxTokensKey, 1, ANY, { integer: true }),
    temperature: f.number('temperature', 0, 2),
    topP: f.number('top_p', 0, 1, { above: true }),
    topK: f.number('top_k', -1, Number.MAX_SAFE_INTEGER, { integer: true }),
    seed: f.number('seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { integer: true }),
    stop: stopStrings(f, 'stop'),
    stream,
    includeUsage,
    ignoreEos: f.boolean('ignore_eos') ?? false,
    returnTokenIds: f.boolean('return_token_ids') ?? false,
  };
}

function object(body: unknown): Fields {
  if (!isObject(body)) throw new ApiError(400, `the request body must be a JSON object, got ${Array.isArray(body) ? 'an array' : show(body)}`, null, 'invalid_body');
  return new Fields(body);
}

/** POST /v1/completions. */
export function parseCompletion(body: unknown): CompletionBody {
  const f = object(body);
  f.only([...OPENAI_COMMON, 'prompt', 'echo', 'suffix', 'best_of']);
  const common = openAiFields(f);
  f.neutral('echo', (v) => v === false, 'echo');
  f.neutral('suffix', (v) => v === '', 'suffix');
  f.neutral('logprobs', () => false, 'logprobs');
  const bestOf = f.number('best_of', 1, 128, { integer: true });
  if (bestOf !== undefined && bestOf !== 1) throw new ApiError(400, `best_of: only best_of=1 is supported, got ${bestOf}`, 'best_of', 'unsupported_parameter');
  const raw = f.value('prompt');
  if (raw === undefined) throw badField('prompt', 'is required');
  let prompt: string | number[];
  const tokens = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0);
  if (typeof raw === 'string') prompt = wellFormed(raw, 'prompt');
  else if (tokens(raw)) prompt = raw as number[];
  else if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === 'string') prompt = wellFormed(raw[0], 'prompt');
  else if (Array.isArray(raw) && raw.length === 1 && tokens(raw[0])) prompt = raw[0] as number[];
  else if (Array.isArray(raw) && raw.length > 1 && raw.every((p) => typeof p === 'string' || tokens(p))) {
    throw new ApiError(400, `prompt: one prompt per request is supported, got a batch of ${raw.length}`, 'prompt', 'unsupported_parameter');
  } else throw badField('prompt', `must be a string, a list of token ids, or a list of one of either, got ${show(raw)}`);
  return { ...common, prompt };
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

function messageContent(v: unknown, at: string): string {
  if (typeof v === 'string') return wellFormed(v, at);
  if (!Array.isArray(v)) throw badField(at, `must be a string or a list of text parts, got ${show(v)}`);
  return v.map((part, j) => {
    if (!isObject(part)) throw badField(`${at}[${j}]`, `must be an object, got ${show(part)}`);
    const p = new Fields(part, `${at}[${j}].`);
    const type = p.string('type', true);
    if (type !== 'text') throw unsupported(`${at}[${j}].type`, `content of type ${show(type)} (only text)`);
    p.only(['type', 'text']);
    return p.string('text', true);
  }).join('');
}

/** POST /v1/chat/completions. */
export function parseChat(body: unknown): ChatBody {
  const f = object(body);
  f.only([...OPENAI_COMMON, 'messages', 'max_completion_tokens', 'top_logprobs', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'store', 'metadata']);
  const maxKey = f.value('max_completion_tokens') !== undefined ? 'max_completion_tokens' : 'max_tokens';
  if (maxKey === 'max_completion_tokens' && f.value('max_tokens') !== undefined) throw badField('max_tokens', 'give max_tokens or max_completion_tokens, not both');
  const common = openAiFields(f, maxKey);
  f.neutral('logprobs', (v) => v === false, 'logprobs');
  f.neutral('top_logprobs', () => false, 'top_logprobs');
  f.neutral('tools', (v) => Array.isArray(v) && v.length === 0, 'tool calling');
  f.neutral('tool_choice', (v) => v === 'none', 'tool calling');
  f.boolean('parallel_tool_calls');
  f.neutral('response_format', (v) => isObject(v) && v.type === 'text' && Object.keys(v).length === 1, 'a response_format other than {"type": "text"}');
  f.neutral('store', (v) => v === false, 'storing completions');
  f.neutral('metadata', (v) => isObject(v), 'metadata that is not an object');
  const raw = f.value('messages');
  if (raw === undefined) throw badField('messages', 'is required');
  if (!Array.isArray(raw) || raw.length === 0) throw badField('messages', `must be a non-empty list of messages, got ${show(raw)}`);
  const messages = raw.map((m, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw badField(at, `must be an object, got ${show(m)}`);
    const mf = new Fields(m, `${at}.`);
    mf.only(['role', 'content', 'name', 'tool_calls', 'tool_call_id']);
    const role = mf.string('role', true);
    if (!ROLES.includes(role)) throw badField(`${at}.role`, `must be one of ${ROLES.join(', ')}, got ${show(role)}`);
    mf.neutral('tool_calls', (v) => Array.isArray(v) && v.length === 0, 'tool calling');
    mf.string('tool_call_id');
    const name = mf.string('name');
    const content = mf.value('content');
    if (content === undefined) throw badField(`${at}.content`, 'is required');
    return { role, content: messageContent(content, `${at}.content`), ...(name !== undefined ? { name } : {}) };
  });
  return { ...common, messages, maxTokensField: maxKey };
}

/** Sampling fields of Triton's generate extension, at the top of the body or in `parameters`. */
const GENERATE_PARAMETERS = ['max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'random_seed', 'stop', 'stop_words', 'bad_words', 'ignore_eos', 'stream', 'exclude_input_in_output', 'return_token_ids'];

/** POST /v2/models/{m}/generate and generate_stream: `text_input` and sampling fields (top level or `parameters`). */
export function parseGenerate(body: unknown, streaming: boolean): GenerateBody {
  const f = object(body);
  f.only(['text_input', 'id', 'parameters', ...GENERATE_PARAMETERS]);
  const textInput = f.string('text_input', true);
  const id = f.string('id');
  const rawParams = f.value('parameters') ?? {};
  if (!isObject(rawParams)) throw badField('parameters', `must be an object, got ${show(rawParams)}`);
  const p = new Fields(rawParams, 'parameters.');
  p.only(GENERATE_PARAMETERS);
  for (const key of GENERATE_PARAMETERS) {
    if (f.value(key) !== undefined && p.value(key) !== undefined) throw badField(key, `given both at the top level and in parameters`);
  }
  const from = (key: string) => (p.value(key) !== undefined ? p : f);
  for (const key of ['bad_words']) from(key).neutral(key, (v) => v === '' || (Array.isArray(v) && v.length === 0), 'bad_words');
  const stream = from('stream').boolean('stream');
  if (stream === true && !streaming) throw badField(from('stream').name('stream'), 'use /generate_stream to stream');
  const stop = [...stopStrings(from('stop'), 'stop'), ...stopStrings(from('stop_words'), 'stop_words')];
  const seedKey = from('seed').value('seed') !== undefined ? 'seed' : 'random_seed';
  return {
    textInput,
    id,
    maxTokens: from('max_tokens').number('max_tokens', 1, ANY, { integer: true }),
    temperature: from('temperature').number('temperature', 0, 2),
    topP: from('top_p').number('top_p', 0, 1, { above: true }),
    topK: from('top_k').number('top_k', -1, Number.MAX_SAFE_INTEGER, { integer: true }),
    seed: from(seedKey).number(seedKey, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { integer: true }),
    stop,
    stream: streaming,
    includeUsage: false,
    ignoreEos: from('ignore_eos').boolean('ignore_eos') ?? false,
    returnTokenIds: from('return_token_ids').boolean('return_token_ids') ?? false,
    excludeInput: from('exclude_input_in_output').boolean('exclude_input_in_output') ?? true,
  };
}
