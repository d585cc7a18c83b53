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

/** Shell words of each command: comments dropped, continuations joined, quotes honoured. */
export function shellCommands(text: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  const end = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      if (close < 0) throw new Error(`unterminated ${c} in: ${text}`);
      word = (word ?? '') + text.slice(i + 1, close);
      i = close;
    } else if (c === '\\' && text[i + 1] === '\n') {
      end();
      i++;
    } else if (c === '#' && word === undefined) {
      while (i < text.length && text[i] !== '\n') i++;
      i--;
    } else if (c === '\n' || c === ';') {
      end();
      if (words.length) commands.push(words);
      words = [];
    } else if (c === ' ' || c === '\t') {
      end();
    } else {
      word = (word ?? '') + c;
    }
  }
  end();
  if (words.length) commands.push(words);
  return commands;
}
