// `modelplane render -f md.yaml`: print the objects the operator would apply, without a cluster. It takes the
// same runtime settings (flags and MODELPLANE_* variables) as `modelplane operator`, and the same -f as
// `modelplane local`: files, directories and `-` for stdin.
import { Command, Option } from 'commander';
import winston from 'winston';
import { LOG_LEVELS } from '../common/logger.js';
import { addRuntimeConfigOptions, runtimeConfigFrom, type RuntimeConfigFlags } from './runtime-config.js';

export interface RenderSourceText {
  name: string;
  text: string;
}

async function readStdin(): Promise<RenderSourceText> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return { name: '<stdin>', text: Buffer.concat(chunks).toString('utf8') };
}

/**
 * The texts -f names, in order, each file once: `-` is stdin, a directory its .yaml, .yml and .json files in name
 * order. Every path that cannot be read is named in the error, each on its own line.
 */
export async function readRenderSources(paths: readonly string[], stdin: () => Promise<RenderSourceText> = readStdin): Promise<RenderSourceText[]> {
  const { manifestFilesOf, readManifestFile, MANIFEST_EXTENSIONS } = await import('../local/manifests.js');
  const out: RenderSourceText[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    if (path === '-') {
      out.push(await stdin());
      continue;
    }
    let files: string[];
    try {
      files = manifestFilesOf(path);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    if (files.length === 0) problems.push(`${path}: no ${MANIFEST_EXTENSIONS.slice(0, -1).join(', ')} or ${MANIFEST_EXTENSIONS.at(-1)} file in this directory`);
    for (const file of files) {
      // A file named twice (itself and through its directory) is rendered once.
      if (seen.has(file)) continue;
      seen.add(file);
      try {
        out.push({ name: file, text: readManifestFile(file) });
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  if (problems.length) throw new Error(problems.join('\n'));
  return out;
}

/** JSON log lines on stderr: stdout is the YAML. */
function stderrLogger(level: string): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component: 'render' },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  });
}

export function registerRender(program: Command, version = '0.0.0'): void {
  const cmd = program
    .command('render')
    .description('Validate ModelDeployment manifests and print the Deployment, Service, PodDisruptionBudget and HPA or KEDA ScaledObject the operator would apply')
    .requiredOption('-f, --filename <path...>', 'ModelDeployment manifests: files (multi-document YAML or JSON), directories (every .yaml, .yml and .json file in them) or - for stdin; other kinds are skipped')
    .addOption(new Option('-n, --namespace <namespace>', 'namespace for manifests that name none').default('default'))
    .addOption(new Option('--log-level <level>', 'level of the JSON log lines on stderr (a skipped document is said at info)').choices(LOG_LEVELS).default('info').env('MODELPLANE_LOG_LEVEL'));
  addRuntimeConfigOptions(cmd, version).action(async (opts: RuntimeConfigFlags & { filename: string[]; namespace: string; logLevel: string }) => {
    const config = runtimeConfigFrom(opts);
    const logger = stderrLogger(opts.logLevel);
    const { renderModelDeployments } = await import('../operator/resources/render.js');
    const sources = await readRenderSources(opts.filename);
    const yaml = renderModelDeployments(sources, config, opts.namespace, (line) => logger.info(line));
    process.stdout.write(yaml);
  });
}
