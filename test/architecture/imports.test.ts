// The import graph of the product's sources keeps the layout docs/architecture.md draws: imports run one way
// (cli -> local -> gateway, operator, optimize, perf -> runtime, fetch -> common), the operator's generic machinery (kube) knows
// nothing of ModelDeployments, nothing imports examples/, and no module reaches itself through others.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { REPO } from '../support/runtime-process.js';

const SOURCE_DIRS = ['cli', 'common', 'fetch', 'runtime', 'operator', 'local', 'optimize', 'perf', 'gateway', 'examples'];

/** Which package each package may import (besides itself). One table: the layering, written once. */
const MAY_IMPORT: Record<string, string[]> = {
  common: [],
  fetch: ['common'],
  runtime: ['common', 'fetch'],
  optimize: ['common', 'fetch', 'runtime'],
  perf: ['common', 'runtime'],
  'operator/api': ['common'],
  'operator/kube': ['common'],
  'operator/resources': ['common', 'operator/api', 'operator/kube'],
  'operator/autoscaler': ['common', 'operator/api', 'operator/kube', 'operator/resources'],
  operator: ['common', 'operator/resources'],
  'operator/controller': ['common', 'operator', 'operator/api', 'operator/kube', 'operator/resources', 'operator/autoscaler'],
  // Local mode runs the operator's own status and autoscaler decisions on processes instead of pods,
  // and puts the gateway in front of its processes.
  local: ['common', 'fetch', 'runtime', 'optimize', 'perf', 'operator/api', 'operator/resources', 'operator/autoscaler', 'operator/controller', 'gateway'],
  gateway: ['common', 'runtime', 'operator/api', 'operator/kube'],
  cli: ['common', 'fetch', 'runtime', 'optimize', 'perf', 'operator', 'operator/api', 'operator/kube', 'operator/resources', 'operator/autoscaler', 'operator/controller', 'local', 'gateway'],
  // The quick start runs local mode on the example models.
  examples: ['common', 'local'],
};

function sources(dir: string): string[] {
  const full = join(REPO, dir);
  if (!existsSync(full)) return [];
  return readdirSync(full).flatMap((name) => {
    const path = join(full, name);
    if (statSync(path).isDirectory()) return sources(relative(REPO, path));
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [relative(REPO, path)] : [];
  });
}

/** The package a file belongs to: operator/<part> for the operator's parts, else its top folder. */
function packageOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'operator') return parts.length > 2 ? `operator/${parts[1]}` : 'operator';
  return parts[0];
}

/** Every relative module a file imports, statically or dynamically, types included, as repository paths. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(REPO, file), 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => relative(REPO, resolve(REPO, dirname(file), name)).replace(/\.js$/, '.ts'));
}

const files = SOURCE_DIRS.flatMap(sources);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Strongly connected components of more than one file (Tarjan), each a circle of imports. */
function circles(): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return out;
}

describe('the import graph', () => {
  it('covers the sources, and every relative import names a file that exists', () => {
    expect(files.length).toBeGreaterThan(100);
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !existsSync(join(REPO, d))).map((d) => `${f} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('has no circle of imports', () => {
    expect(circles()).toEqual([]);
  });

  it('runs one way: each package imports only what the layering allows', () => {
    const against = [...graph].flatMap(([f, deps]) => deps
      .filter((d) => packageOf(d) !== packageOf(f))
      .filter((d) => !(MAY_IMPORT[packageOf(f)] ?? []).includes(packageOf(d)))
      .map((d) => `${f} -> ${d}`));
    expect(against).toEqual([]);
  });

  it('lets nothing import examples/ but examples themselves', () => {
    expect([...graph].flatMap(([f, deps]) => (packageOf(f) === 'examples' ? [] : deps.filter((d) => d.startsWith('examples/')).map((d) => `${f} -> ${d}`)))).toEqual([]);
  });

  it('names every package it checks in the layering', () => {
    expect([...new Set(files.map(packageOf))].filter((p) => !(p in MAY_IMPORT))).toEqual([]);
  });
});
