// `modelplane local -f <file|dir>...`: run ModelDeployments on this machine, processes instead of pods, behind one
// router. Flags only; the work is in local/.
import { Command, Option } from 'commander';
import { fileURLToPath } from 'node:url';
import { LOG_LEVELS } from '../common/logger.js';
import { parseDuration, parseInteger } from '../common/parse.js';
import type { LocalSettings } from '../local/run.js';
import { settingsOrExit } from './arg-parsers.js';
import { gatewayOptions, gatewaySettings, type GatewayCliOptions } from './gateway-flags.js';

/** A number of seconds up to a day (`2`, `0.5`, or a duration such as `1m30s`), in milliseconds. */
const secondsMs = (value: string, flag: string): number => parseDuration(value, flag, { maxMs: 86_400_000 });

/** The parsed flags of `modelplane local`. */
export interface LocalCliOptions extends GatewayCliOptions {
  filename: string[];
  port: string;
  host: string;
  cacheDir?: string;
  logLevel: string;
  table: boolean;
  autoscaleInterval: string;
  autoscaleStableWindow?: string;
  autoscalePanicWindow?: string;
  drainTimeout: string;
  grpcPort?: string;
}

/** What local mode runs with, decided from the flags alone; an Error naming the flag for a bad value. */
export function localSettings(o: LocalCliOptions): LocalSettings {
  if (o.filename.includes('-')) throw new Error('-f, --filename: local mode watches the files it runs; - (stdin) is for render');
  if (!(LOG_LEVELS as readonly string[]).includes(o.logLevel)) throw new Error(`--log-level: ${JSON.stringify(o.logLevel)} is not one of ${LOG_LEVELS.join(', ')}`);
  return {
    paths: o.filename,
    port: parseInteger(String(o.port), '--port', { min: 0, max: 65535 }),
    ...(o.grpcPort !== undefined ? { grpcPort: parseInteger(String(o.grpcPort), '--grpc-port', { min: 0, max: 65535 }) } : {}),
    host: o.host,
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    logLevel: o.logLevel,
    table: o.table !== false,
    autoscaleIntervalMs: secondsMs(String(o.autoscaleInterval), '--autoscale-interval'),
    drainMs: secondsMs(String(o.drainTimeout), '--drain-timeout'),
    ...gatewaySettings(o),
    tuning: {
      ...(o.autoscaleStableWindow ? { stableWindowSeconds: secondsMs(o.autoscaleStableWindow, '--autoscale-stable-window') / 1000 } : {}),
      ...(o.autoscalePanicWindow ? { panicWindowSeconds: secondsMs(o.autoscalePanicWindow, '--autoscale-panic-window') / 1000 } : {}),
    },
  };
}

export function registerLocal(program: Command, version: string): void {
  const local = program
    .command('local')
    .description('Run ModelDeployments on this machine: replicas as processes behind one router, the operator\'s validation, status and autoscaler, a live dashboard')
    .requiredOption('-f, --filename <path...>', 'ModelDeployment manifests: files (multi-document YAML or JSON) and directories (every .yaml, .yml and .json file in them); other kinds are skipped; watched for changes')
    .addOption(new Option('--port <port>', 'router port; 0 picks a free one').default('8080').env('MODELPLANE_LOCAL_PORT'))
    .addOption(new Option('--grpc-port <port>', 'gRPC port of the router (inference.GRPCInferenceService); 0 picks a free one; unset: no gRPC').env('MODELPLANE_LOCAL_GRPC_PORT'))
    .addOption(new Option('--host <address>', 'router address').default('127.0.0.1').env('MODELPLANE_LOCAL_HOST'))
    .addOption(new Option('--cache-dir <dir>', 'where downloaded models are kept, keyed by URI and sha256').env('MODELPLANE_CACHE_DIR').default(undefined, '~/.cache/modelplane/models'))
    .addOption(new Option('--log-level <level>', 'level of the JSON log lines').choices(LOG_LEVELS).default('warn').env('MODELPLANE_LOG_LEVEL'))
    .addOption(new Option('--no-table', 'do not print the status table when it changes'));
  for (const option of gatewayOptions()) local.addOption(option);
  local
    // Tuning for tests and demos: the autoscaler's period and windows (the operator's defaults otherwise).
    .addOption(new Option('--autoscale-interval <seconds>').default('2').hideHelp())
    .addOption(new Option('--autoscale-stable-window <seconds>').hideHelp())
    .addOption(new Option('--autoscale-panic-window <seconds>').hideHelp())
    .addOption(new Option('--drain-timeout <seconds>').default('60').hideHelp())
    .action(async (o: LocalCliOptions) => {
      const settings = settingsOrExit('local', () => localSettings(o));
      const { runLocal } = await import('../local/run.js');
      await runLocal({
        ...settings,
        paths: settings.paths,
        version,
        cliPath: fileURLToPath(new URL('../../bin/modelplane.js', import.meta.url)),
      });
    });
}
