// The manual holds together: every relative link in README.md and docs/ reaches a file that exists and, when it names
// an anchor, a heading of that page; docs/README.md lists every page; README stays a short front page.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { DOCS } from '../support/docs.js';
import { REPO } from '../support/runtime-process.js';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of withoutFences(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** The text without fenced blocks, where a `# ...` line is not a heading. */
function withoutFences(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, '');
}

/** The text without fenced blocks and inline code, where a `[x](y)` is not a link. */
function withoutCode(markdown: string): string {
  return withoutFences(markdown).replace(/`[^`\n]*`/g, '``');
}

/** Every link target of a page: `[text](target)` and `![alt](target)`, code left out. */
export function links(markdown: string): string[] {
  return [...withoutCode(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map((m) => m[1]);
}

const pages = DOCS.map((file) => ({ file, text: readFileSync(join(REPO, file), 'utf8') }));

test('every relative link reaches an existing file and, with an anchor, an existing heading', () => {
  const broken: string[] = [];
  for (const { file, text } of pages) {
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not in this repository
      const [path, anchor] = target.split('#');
      const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
      if (resolved.startsWith('..') || !existsSync(join(REPO, resolved))) {
        broken.push(`${file}: ${target} (no ${resolved})`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith('.md') || statSync(join(REPO, resolved)).isDirectory()) {
        broken.push(`${file}: ${target} (an anchor into a file that is not a page)`);
        continue;
      }
      if (!anchors(readFileSync(join(REPO, resolved), 'utf8')).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${resolved})`);
    }
  }
  expect(broken).toEqual([]);
});

test('the pages link to each other (the check above has something to check)', () => {
  expect(pages.flatMap(({ text }) => links(text)).filter((l) => l.includes('.md#')).length).toBeGreaterThan(10);
});

test('docs/README.md, the table of contents, lists every page of docs/', () => {
  const contents = links(readFileSync(join(REPO, 'docs/README.md'), 'utf8'));
  const listed = DOCS.filter((f) => f.startsWith('docs/') && f !== 'docs/README.md').filter((f) => !contents.includes(f.slice('docs/'.length)));
  expect(listed).toEqual([]);
});

test('README.md is a front page of at most 200 lines, linking to the manual', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(200);
  expect(links(readme)).toContain('docs/README.md');
});

test('the heading anchors follow GitHub', () => {
  expect([...anchors('# A: `b c`\n## Local mode\'s router: `npm run bench:local`\n## Status\n## Status\n```sh\n# not a heading\n```\n')])
    .toEqual(['a-b-c', 'local-modes-router-npm-run-benchlocal', 'status', 'status-1']);
  expect(links('[a](x.md) ![b](img.png) `[c](not.md)` [d](https://e.f) [g `h`](i.md#j)')).toEqual(['x.md', 'img.png', 'https://e.f', 'i.md#j']);
});
