// Every snippet in README.md and docs/ is checked: each fenced block names its language; every ModelDeployment
// in a yaml block passes validation; every shell command is one this test knows how to check, and is checked
// against the repository: helm commands render the chart with the real helm (values schema included), files
// and scripts exist, kubectl names existing examples and chart objects, curl bodies are JSON for real routes,
// and `modelplane render` runs.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { helm } from '../support/helm.js';
import { parseManifests } from '../chart/kube-schemas.js';
import { REPO, runCli } from '../support/runtime-process.js';
import { blocks, DOCS } from '../support/docs.js';

const LANGUAGES = new Set(['sh', 'yaml', 'python', 'text', 'mermaid']);

const ALL = DOCS.flatMap(blocks);

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

const exampleModelDeployments = new Set(
  readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseManifests(readFileSync(join(REPO, 'examples', f), 'utf8')))
    .filter((o) => o.kind === 'ModelDeployment')
    .map((o) => o.metadata.name),
);
const CREDENTIAL_KEYS = new Set(['authorization', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_ENDPOINT_URL', 'S3_FORCE_PATH_STYLE', 'ca.crt']);
const RUNTIME_ROUTE = /^\/(metrics|v2(\/health\/(live|ready))?|v2\/models\/[a-z0-9-]+(\/versions\/\d+)?(\/(ready|infer|config|generate|generate_stream))?|v1\/(models|completions|chat\/completions))$/;
/** What local mode's router adds: the repository index and ModelDeployments with their status. */
const LOCAL_ROUTE = /^\/(v2\/repository\/index|apis\/serving\.modelplane\.io\/v1alpha1\/modeldeployments)$/;
const chartObjects: string[] = [];
const chartNamespaces = new Set<string>();
const installedReleases: string[] = [];

function option(words: string[], name: string): string | undefined {
  for (let i = 0; i < words.length; i++) {
    if (words[i] === name) return words[i + 1];
    if (words[i].startsWith(`${name}=`)) return words[i].slice(name.length + 1);
  }
  return undefined;
}

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'modelplane.js'), ...args], { cwd: REPO, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Standard output of the CLI. */
async function runOut(args: string[]): Promise<string> {
  return (await runCli(args, { cwd: REPO })).stdout;
}

/** Checks one command; throws naming what is wrong. */
async function check(raw: string[]): Promise<void> {
  let words = raw.filter((w) => w !== '&');
  while (words.length && /^[A-Z_]+=/.test(words[0])) words = words.slice(1);
  const [program, ...args] = words;
  const nonOption = args.filter((a) => !a.startsWith('-'));
  switch (program) {
    case 'npm': {
      if (args[0] === 'run') expect(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts[args[1]]).toBeDefined();
      else expect(['ci', 'test', 'start']).toContain(args[0]);
      return;
    }
    case 'apt-get': {
      // Debian packages the manual asks for are the ones the project's own scripts and test support name.
      expect(args.slice(0, 2)).toEqual(['install', '-y']);
      const named = ['.ci/run', 'test/support/kube/control-plane.ts'].map((f) => readFileSync(join(REPO, f), 'utf8')).join('\n');
      for (const pkg of args.slice(2)) expect(named).toContain(`apt-get install -y ${pkg}`);
      return;
    }
    case 'node': {
      const m = /^dist\/(.+)\.js$/.exec(args[0]);
      expect(m).not.toBeNull();
      expect(existsSync(join(REPO, `${m![1]}.ts`))).toBe(true);
      return;
    }
    case 'npx': {
      expect(args[0]).toBe('modelplane');
      if (args[1] === 'perf') {
        // A load test needs a server: test/docs/readme.test.ts runs this very command against one. Here its flags
        // must be ones perf knows.
        const help = await runOut(['perf', '--help']);
        for (const flag of args.filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
        return;
      }
      const r = await run(args.slice(1));
      expect({ command: words.join(' '), code: r.code, stderr: r.stderr }).toEqual({ command: words.join(' '), code: 0, stderr: '' });
      return;
    }
    case 'docker': {
      expect(args[0]).toBe('build');
      expect(readFileSync(join(REPO, 'Dockerfile'), 'utf8')).toMatch(new RegExp(`^FROM \\S+ AS ${option(args, '--target')}$`, 'm'));
      return;
    }
    case 'helm': {
      if (args[0] === 'uninstall') {
        expect(installedReleases).toContain(nonOption[1]);
        return;
      }
      expect(args[0]).toBe('install');
      const [release, chart] = nonOption.slice(1);
      expect(chart).toBe('charts/modelplane');
      const rest = args.slice(1).filter((a) => a !== release && a !== chart && a !== '--create-namespace');
      const r = await helm(['template', release, join(REPO, chart), ...rest]);
      expect({ command: words.join(' '), stderr: r.stderr, code: r.code }).toEqual({ command: words.join(' '), stderr: '', code: 0 });
      for (const o of parseManifests(r.stdout)) {
        chartObjects.push(`${o.kind.toLowerCase()}/${o.metadata.name}`);
        if (o.kind === 'Namespace' || o.metadata.namespace) chartNamespaces.add(o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace!);
      }
      installedReleases.push(release);
      const ns = option(args, '-n') ?? option(args, '--namespace');
      if (ns) chartNamespaces.add(ns);
      return;
    }
    case 'curl': {
      const target = args.find((a, i) => !a.startsWith('-') && !['-X', '-H', '-d', '-o'].includes(args[i - 1]))!;
      const url = new URL(`http://${target.replace(/^https?:\/\//, '')}`);
      expect(url.pathname).toMatch(LOCAL_ROUTE.test(url.pathname) ? LOCAL_ROUTE : RUNTIME_ROUTE);
      const body = option(args, '-d');
      if (body !== undefined) expect(() => JSON.parse(body)).not.toThrow();
      return;
    }
    case 'kubectl': {
      const verbs = nonOption.filter((w) => w !== option(args, '-n'));
      const [verb, ...rest] = verbs;
      switch (verb) {
        case 'apply':
          for (const f of args.filter((_a, i) => args[i - 1] === '-f')) {
            const text = readFileSync(join(REPO, f), 'utf8');
            for (const o of parseManifests(text).filter((x) => x.kind === 'ModelDeployment')) expect(validateModelDeployment(o).ok).toBe(true);
          }
          return;
        case 'create':
          if (rest[0] === 'configmap') {
            expect(readFileSync(join(REPO, 'examples', 'model-store.yaml'), 'utf8')).toContain(`name: ${rest[1]}`);
            expect(option(args, '--from-file')).toBe('examples/models/');
          } else {
            expect(rest.slice(0, 2)).toEqual(['secret', 'generic']);
            for (const a of args.filter((x) => x.startsWith('--from-literal='))) expect(CREDENTIAL_KEYS).toContain(a.slice('--from-literal='.length).split('=')[0]);
          }
          return;
        case 'get':
          if (rest[0] === 'crd') expect(rest[1]).toBe('modeldeployments.serving.modelplane.io');
          else expect(rest[0]).toBe('mdp');
          if (rest[1] && rest[0] === 'mdp') expect(exampleModelDeployments).toContain(rest[1]);
          return;
        case 'wait':
        case 'scale':
        case 'port-forward': {
          const [kind, name] = rest[0].split('/');
          expect(verb === 'port-forward' ? kind === 'svc' : kind === 'mdp').toBe(true);
          expect(exampleModelDeployments).toContain(name);
          if (verb === 'wait') expect(['Ready', 'Available', 'Progressing', 'ModelLoaded']).toContain(option(args, '--for')!.replace('condition=', ''));
          if (verb === 'port-forward') expect(rest[1]).toMatch(/^\d+:8080$/);
          return;
        }
        case 'delete':
          if (rest[0] === 'mdp') expect(rest[1] === undefined ? args.includes('--all') : exampleModelDeployments.has(rest[1])).toBe(true);
          else if (rest[0] === 'crd') expect(rest[1]).toBe('modeldeployments.serving.modelplane.io');
          else if (rest[0] === 'namespace') expect(chartNamespaces).toContain(rest[1]);
          else if (args.includes('-f')) for (const f of args.filter((_a, i) => args[i - 1] === '-f')) expect(existsSync(join(REPO, f))).toBe(true);
          else throw new Error(`kubectl delete ${rest[0]}: no check for it in test/docs/snippets.test.ts`);
          return;
        case 'rollout':
          expect(rest[0]).toBe('status');
          expect(chartObjects).toContain(rest[1]);
          return;
        default:
          throw new Error(`kubectl ${verb}: no check for it in test/docs/snippets.test.ts`);
      }
    }
    case 'grpcurl': {
      // test/docs/readme-grpc.test.ts sends these payloads to a real server; here the files and names must exist.
      const importPath = option(args, '-import-path') ?? '.';
      const proto = readFileSync(join(REPO, importPath, option(args, '-proto')!), 'utf8');
      const [service, method] = args[args.length - 1].split('/');
      const pkg = /^package ([\w.]+);/m.exec(proto)![1];
      expect(service.startsWith(`${pkg}.`)).toBe(true);
      expect(proto).toMatch(new RegExp(`service ${service.slice(pkg.length + 1)}\\s*\\{[\\s\\S]*rpc ${method}\\(`));
      const body = option(args, '-d');
      if (body !== undefined) expect(() => JSON.parse(body)).not.toThrow();
      return;
    }
    default:
      if (program?.startsWith('scripts/')) {
        accessSync(join(REPO, program), constants.X_OK);
        return;
      }
      throw new Error(`${program}: no check for it in test/docs/snippets.test.ts`);
  }
}

describe('README and docs snippets', () => {
  test('every fenced block names its language', () => {
    expect(ALL.filter((b) => !LANGUAGES.has(b.lang)).map((b) => `${b.file}:${b.line} "${b.lang}"`)).toEqual([]);
  });

  test('every ModelDeployment in a yaml block is valid', () => {
    const mds = ALL.filter((b) => b.lang === 'yaml').flatMap((b) => (yaml.loadAll(b.text) as Array<{ kind?: string }>).filter((o) => o?.kind === 'ModelDeployment').map((o) => ({ where: `${b.file}:${b.line}`, o })));
    expect(mds.length).toBeGreaterThan(0);
    for (const { where, o } of mds) {
      const r = validateModelDeployment(o);
      expect({ where, errors: r.ok ? [] : r.errors }).toEqual({ where, errors: [] });
    }
  });

  const commands = ALL.filter((b) => b.lang === 'sh').flatMap((b) => shellCommands(b.text).map((words) => ({ where: `${b.file}:${b.line}`, words })));
  test('the shell snippets hold commands', () => {
    expect(commands.length).toBeGreaterThan(20);
  });

  // In order: helm commands record the chart's objects before kubectl rollout checks them.
  test('every shell command is checked against the repository', async () => {
    for (const { where, words } of commands) {
      try {
        await check(words);
      } catch (err) {
        throw new Error(`${where}: ${words.join(' ')}\n${(err as Error).message}`);
      }
    }
  }, 120_000);

  test('the tokenizer joins continuations, honours quotes and drops comments', () => {
    expect(shellCommands("a 'b c' \\\n  d # note\n\ne \"f#g\" # x\n")).toEqual([['a', 'b c', 'd'], ['e', 'f#g']]);
  });
});
