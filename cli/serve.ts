// `modelplane serve`: flags (each also read from an environment variable) come from the serve contract; the
// server lives in runtime/.
import { Command, Option } from 'commander';
import { GENERATION_FLAGS, SERVE_FLAGS } from '../common/serve-contract.js';

/** Adds every `serve` flag of the contract to a command. */
export function addServeOptions(cmd: Command): Command {
  for (const f of [...Object.values(SERVE_FLAGS), ...Object.values(GENERATION_FLAGS)]) cmd.addOption(new Option(f.flags, f.help).env(f.env));
  return cmd;
}

/** The raw option values commander parses from `serve` argv (without the leading `serve`), without acting on them. */
export function parseServeOptions(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const cmd = addServeOptions(new Command('serve')).exitOverride().configureOutput({ writeErr: () => {} });
  cmd.parse([...argv], { from: 'user' });
  return cmd.opts();
}

export function registerServe(program: Command, version: string): void {
  addServeOptions(program.command('serve').description('Serve one ONNX model over the Open Inference Protocol (HTTP, and gRPC with --grpc-port)'))
    .action(async (options: Record<string, string | boolean | undefined>) => {
      const { parseServeConfig, ConfigError } = await import('../runtime/config.js');
      let cfg;
      try {
        cfg = parseServeConfig(options);
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`modelplane serve: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      const { serveMain } = await import('../runtime/serve.js');
      await serveMain(cfg, version);
    });
}
