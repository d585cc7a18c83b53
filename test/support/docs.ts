// The manual's fenced code blocks (README.md and docs/), for the tests that check every snippet.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './runtime-process.js';

/** README.md and every page under docs/. */
export const DOCS = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

export interface Block { file: string; line: number; lang: string; text: string }

/** The fenced blocks of one page, with the line each starts on and its language. */
export function blocks(file: string): Block[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const out: Block[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(text); m; m = fence.exec(text)) out.push({ file, line: text.slice(0, m.index).split('\n').length, lang: m[1], text: m[2] });
  return out;
}
