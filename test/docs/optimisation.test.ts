// The model optimisation page: its example validates, its usage names only real flags, its exit-code table is the
// code's, and the bench the benchmarks page quotes exists.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { OPTIMIZE_REASONS } from '../../optimize/errors.js';
import { CLI, REPO } from '../support/runtime-process.js';

const section = readFileSync(join(REPO, 'docs', 'optimisation.md'), 'utf8');
const benchmarks = readFileSync(join(REPO, 'docs', 'benchmarks.md'), 'utf8');

test('the example ModelDeployment is valid', () => {
  const block = /```yaml\n([\s\S]*?)```/.exec(section)![1];
  const r = validateModelDeployment(yaml.load(block));
  expect(r.ok).toBe(true);
});

test('the usage lists exactly the flags `modelplane optimize --help` knows', () => {
  const usage = /```(?:text)?\n(modelplane optimize[\s\S]*?)```/.exec(section)![1];
  const help = execFileSync(process.execPath, [CLI, 'optimize', '--help'], { encoding: 'utf8' });
  const flags = (text: string) => new Set([...text.matchAll(/--[a-z][a-z-]+/g)].map((m) => m[0]).filter((f) => f !== '--help'));
  expect([...flags(usage)].sort()).toEqual([...flags(help)].sort());
});

test('the exit-code table is the one the code uses', () => {
  const rows = [...section.matchAll(/^\| (\d+) \| `(\w+)`/gm)].map((m) => [m[2], Number(m[1])]);
  const fromCode = Object.entries(OPTIMIZE_REASONS).map(([reason, { exitCode }]) => [reason, exitCode]);
  expect(rows.filter(([, code]) => code !== 0).sort()).toEqual(fromCode.sort());
});

test('the bench quoted is a package script', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  expect(benchmarks).toContain('npm run bench:optimize');
  expect(pkg.scripts['bench:optimize']).toBe('tsc -p tsconfig.json && node dist/bench/optimize.js');
});
