// `modelplane local -f <file|dir>`: run ModelDeployments on this machine, processes instead of pods, behind one
// router. Flags only; the work is in local/.
import { Command, Option } from 'commander';
import { fileURLToPath } from 'node:url';

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new Error(`${flag}: ${JSON.stringify(value)} is not an integer in [${min}, ${max}]`);
  return n;
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 86400) throw new Error(`${flag}: ${JSON.stringify(value)} is not a number of seconds in (0, 86400]`);
  return n;
}

export function registerLocal(program: Command, version: string): void {
  program
    .command('local')
    .description('Run ModelDeployments on this machine: replicas as processes behind one router, the operator\'s validation, status and autoscaler, a live dashboard')
    .requiredOption('-f, --file <path>', 'a ModelDeployment manifest (multi-document YAML or JSON) or a directory of them; watched for changes')
    .addOption(new Option('--port <port>', 'router port; 0 picks a free one').default('8080').env('MODELPLANE_LOCAL_PORT'))
    .addOption(new Option('--host <address>', 'router address').default('127.0.0.1').env('MODELPLANE_LOCAL_HOST'))
    .addOption(new Option('--cache-dir <dir>', 'where downloaded models are kept, keyed by URI and sha256 (default ~/.cache/modelplane/models)').env('MODELPLANE_CACHE_DIR'))
    .addOption(new Option('--log-level <level>', 'error | warn | info | debug').default('warn').env('MODELPLANE_LOG_LEVEL'))
    .addOption(new Option('--no-table', 'do not print the status table when it changes'))
    // Tuning for tests and demos: the autoscaler's period and windows (the operator's defaults otherwise).
    .addOption(new Option('--autoscale-interval <seconds>').default('2').hideHelp())
    .addOption(new Option('--autoscale-stable-window <seconds>').hideHelp())
    .addOption(new Option('--autoscale-panic-window <seconds>').hideHelp())
    .addOption(new Option('--drain-timeout <seconds>').default('60').hideHelp())
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const { runLocal } = await import('../local/run.js');
      let port: number;
      let tuning: { stableWindowSeconds?: number; panicWindowSeconds?: number };
      let intervalMs: number;
      let drainMs: number;
      try {
        port = integer(String(o.port), '--port', 0, 65535);
        intervalMs = seconds(String(o.autoscaleInterval), '--autoscale-interval') * 1000;
        drainMs = seconds(String(o.drainTimeout), '--drain-timeout') * 1000;
        tuning = {
          ...(o.autoscaleStableWindow ? { stableWindowSeconds: seconds(String(o.autoscaleStableWindow), '--autoscale-stable-window') } : {}),
          ...(o.autoscalePanicWindow ? { panicWindowSeconds: seconds(String(o.autoscalePanicWindow), '--autoscale-panic-window') } : {}),
        };
        if (!['error', 'warn', 'info', 'debug'].includes(String(o.logLevel))) throw new Error(`--log-level: ${JSON.stringify(o.logLevel)} is not one of error, warn, info, debug`);
      } catch (err) {
        process.stderr.write(`modelplane local: ${(err as Error).message}\n`);
        process.exit(2);
      }
      await runLocal({
        path: String(o.file),
        port,
        host: String(o.host),
        ...(o.cacheDir ? { cacheDir: String(o.cacheDir) } : {}),
        logLevel: String(o.logLevel),
        table: o.table !== false,
        autoscaleIntervalMs: intervalMs,
        tuning,
        drainMs,
        version,
        cliPath: fileURLToPath(new URL('../../bin/modelplane.js', import.meta.url)),
      });
    });
}
