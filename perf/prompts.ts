// Prompts of an exact number of tokens for `modelplane perf --generate`, made with the model's own tokenizer (the
// tokenizer.json and tokenizer_config.json of its directory), counted as the server counts them: a completion's
// prompt with the tokenizer's special tokens added, a chat message through the chat template.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TextTokenizer } from '../runtime/generate/tokenizer.js';
import { invalid } from './errors.js';
import { seededRandom } from '../common/seeded-random.js';

export type GenerateEndpoint = 'completions' | 'chat';

/** Plain English words, drawn in a seeded order, that prompts are made of before they are cut to length. */
const WORDS = (
  'the quick brown fox jumps over a lazy dog while rain falls on quiet hills and people walk home after work ' +
  'music plays in small rooms where friends talk about books travel history science and the weather of next week ' +
  'a river runs past old stone bridges toward the sea under bright stars that sailors once used to find their way ' +
  'children learn to read write count draw and build things with wood paper glass metal and simple tools at school'
).split(' ');

function readJsonObject(path: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    invalid(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`${flag}: ${path} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** The tokenizer of a model directory (or of a tokenizer.json beside its tokenizer_config.json). */
export function loadTokenizer(path: string, flag = '--tokenizer'): TextTokenizer {
  if (!existsSync(path)) invalid(`${flag}: ${path} does not exist (give the model directory holding tokenizer.json, or the file)`);
  const file = statSync(path).isDirectory() ? join(path, 'tokenizer.json') : path;
  if (!existsSync(file)) invalid(`${flag}: ${path} holds no tokenizer.json`);
  const configPath = join(dirname(file), 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJsonObject(configPath, flag) : {};
  try {
    return new TextTokenizer(readJsonObject(file, flag), config);
  } catch (err) {
    invalid(`${flag}: ${file} is not a tokenizer this runtime can read: ${(err as Error).message}`);
  }
}

/** How the server counts the prompt tokens of a text: what --prompt-tokens means for each endpoint. */
export function promptCounter(tokenizer: TextTokenizer, endpoint: GenerateEndpoint): (text: string) => number {
  if (endpoint === 'completions') return (text) => tokenizer.encode(text, true).length;
  if (!tokenizer.hasChatTemplate) invalid('--endpoint: chat needs a tokenizer with a chat template (tokenizer_config.json chat_template); use --endpoint completions');
  return (text) => tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: text }]), false).length;
}

/** Seeded words, enough of them to give at least `tokens` tokens. */
function wordsText(seed: number, tokens: number): string {
  const next = seededRandom(seed);
  return Array.from({ length: tokens + 16 }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ');
}

/**
 * A text the server counts as exactly `target` prompt tokens: seeded words, cut at a token boundary, the cut moved
 * a token at a time until the count (special tokens or the chat template included) is exact.
 */
export function exactPrompt(tokenizer: TextTokenizer, count: (text: string) => number, target: number, seed: number): string {
  const overhead = count('');
  if (target <= overhead) invalid(`--prompt-tokens: ${target} is not more than the ${overhead} token(s) the server adds to every prompt`);
  const ids = tokenizer.encode(wordsText(seed, target), false);
  const guess = target - overhead;
  for (let d = 0; d <= 16; d++) {
    for (const k of d === 0 ? [guess] : [guess - d, guess + d]) {
      if (k < 1 || k > ids.length) continue;
      const text = tokenizer.decode(ids.slice(0, k));
      if (count(text) === target) return text;
    }
  }
  invalid(`--prompt-tokens: could not make a prompt of exactly ${target} tokens with this tokenizer`);
}

/** `n` different prompts of exactly `target` tokens each. */
export function buildPrompts(tokenizer: TextTokenizer, endpoint: GenerateEndpoint, target: number, seed: number, n = 8): string[] {
  const count = promptCounter(tokenizer, endpoint);
  return Array.from({ length: n }, (_, i) => exactPrompt(tokenizer, count, target, seed * 1000 + i));
}
