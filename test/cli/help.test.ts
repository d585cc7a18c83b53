// One help style across `modelplane` and its subcommands: 80 columns, defaults written `(default: VALUE)`, an
// Examples section under every subcommand, and every example a command line that parses.
import type { Command } from 'commander';
import { createProgram } from '../../cli/program.js';
import { clusterGatewaySettings, type ClusterGatewayCliOptions } from '../../cli/gateway.js';
import { localSettings, type LocalCliOptions } from '../../cli/local.js';
import { operatorSettings, type OperatorCliOptions } from '../../cli/operator.js';
import { runtimeConfigFrom, type RuntimeConfigFlags } from '../../cli/runtime-config.js';
import { parsePerfConfig, type PerfFlags } from '../../perf/config.js';
import { parseServeConfig } from '../../runtime/config.js';

const SUBCOMMANDS = ['serve', 'fetch', 'crd', 'render', 'operator', 'gateway', 'sleep', 'local', 'optimize', 'perf'];

/** What `modelplane [command] --help` prints, with the text added after it. */
function helpOf(path: string[]): string {
  const program = createProgram('1.2.3');
  let cmd: Command = program;
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

/** The `$ modelplane ...` lines of an Examples section, continuation lines joined. */
function exampleLines(help: string): string[] {
  const section = help.slice(help.indexOf('\nExamples:\n'));
  return [...section.replace(/\\\n\s*/g, '').matchAll(/^\s+\$ (.+)$/gm)].map((m) => m[1]);
}

/** The words of the `modelplane` part of a shell line (before a pipe or redirection). */
function argvOf(line: string): string[] {
  const command = line.split(/\s[|<>]\s?/)[0];
  const words = command.trim().split(/\s+/);
  expect(words[0]).toBe('modelplane');
  return words.slice(1);
}

/** Parses argv as the CLI would, running no action: the command reached and its options. */
async function parse(argv: string[]): Promise<{ name: string; opts: Record<string, unknown>; args: unknown[] }> {
  const program = createProgram('1.2.3');
  let reached: { name: string; opts: Record<string, unknown>; args: unknown[] } | undefined;
  const errors: string[] = [];
  for (const cmd of [program, ...program.commands]) {
    cmd.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: (s) => errors.push(s) });
    if (cmd !== program) cmd.action((...args: unknown[]) => {
      reached = { name: cmd.name(), opts: cmd.opts(), args: args.slice(0, -2) };
    });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    throw new Error(`modelplane ${argv.join(' ')}: ${(err as Error).message} ${errors.join('')}`);
  }
  if (!reached) throw new Error(`modelplane ${argv.join(' ')}: no command ran`);
  return reached;
}

describe('help', () => {
  test.each([[''], ...SUBCOMMANDS.map((c) => [c])])('`modelplane %s --help`: at most 80 columns, defaults written one way', (name) => {
    const help = helpOf(name ? [name] : []);
    const long = help.split('\n').filter((l) => l.length > 80);
    expect(long).toEqual([]);
    const flat = help.replace(/\s+/g, ' ');
    // Every default reads `(default: VALUE)`: not commander's quoted `default: "x"`, not `(default x)`, not in prose.
    expect(flat).not.toMatch(/default: "/);
    expect(flat.match(/\bdefault\b[^)]*/gi)?.filter((d) => !flat.includes(`(${d})`)) ?? []).toEqual([]);
    expect(flat.match(/\(default[^:]/g) ?? []).toEqual([]);
  });

  test('defaults set in code and defaults written in descriptions read the same', () => {
    const local = helpOf(['local']).replace(/\s+/g, ' ');
    expect(local).toContain('(default: 8080) (env: MODELPLANE_LOCAL_PORT)');
    expect(local).toContain('(default: ~/.cache/modelplane/models)');
    const serve = helpOf(['serve']).replace(/\s+/g, ' ');
    expect(serve).toContain('HTTP port (default: 8080) (env: MODELPLANE_HTTP_PORT)');
    expect(serve).toContain('(default: 1, off) (env: MODELPLANE_MAX_BATCH_SIZE)');
    expect(helpOf(['operator']).replace(/\s+/g, ' ')).toContain('(default: 15s) (env: MODELPLANE_LEADER_ELECT_LEASE_DURATION)');
  });

  test.each(SUBCOMMANDS)('`modelplane %s --help` has examples, and every one parses', async (name) => {
    const help = helpOf([name]);
    expect(help).toMatch(/\nExamples:\n {2}# .+\n {2}\$ modelplane /);
    const lines = exampleLines(help);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const { name: reached, opts, args } = await parse(argvOf(line));
      expect(reached).toBe(name);
      // Where the command checks its flags before it acts, those checks pass too.
      if (name === 'local') expect(() => localSettings(opts as unknown as LocalCliOptions)).not.toThrow();
      if (name === 'gateway') expect(() => clusterGatewaySettings(opts as unknown as ClusterGatewayCliOptions)).not.toThrow();
      if (name === 'operator') expect(() => operatorSettings(opts as unknown as OperatorCliOptions)).not.toThrow();
      if (name === 'render') expect(() => runtimeConfigFrom(opts as unknown as RuntimeConfigFlags)).not.toThrow();
      if (name === 'perf') expect(() => parsePerfConfig(opts as PerfFlags)).not.toThrow();
      if (name === 'serve') expect(() => parseServeConfig(opts as Parameters<typeof parseServeConfig>[0])).not.toThrow();
      if (name === 'sleep') expect(args).toEqual([5]);
    }
  });

  test('a bad example would be caught: unknown flags and bad values do not parse', async () => {
    await expect(parse(['local', '-f', 'x.yaml', '--file', 'y.yaml'])).rejects.toThrow(/unknown option '--file'/);
    await expect(parse(['operator', '--workers', 'many'])).rejects.toThrow(/--workers: must be an integer from 1 to 1000, got "many"/);
    await expect(parse(['optimize', '--model', 'm.onnx', '--out', 'o', '--quantize', 'int4'])).rejects.toThrow(/Allowed choices are int8, fp16/);
  });
});
