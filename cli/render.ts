// `modelplane render -f md.yaml`: print the objects the operator would apply, without a cluster. It takes the
// same runtime settings (flags and MODELPLANE_* variables) as `modelplane operator`.
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { addRuntimeConfigOptions, runtimeConfigFrom, type RuntimeConfigFlags } from './runtime-config.js';

async function readSource(name: string): Promise<{ name: string; text: string }> {
  if (name !== '-') return { name, text: await readFile(name, 'utf8') };
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return { name: '<stdin>', text: Buffer.concat(chunks).toString('utf8') };
}

export function registerRender(program: Command, version = '0.0.0'): void {
  const cmd = program
    .command('render')
    .description('Validate ModelDeployment manifests and print the Deployment, Service, PodDisruptionBudget and HPA or KEDA ScaledObject the operator would apply')
    .requiredOption('-f, --filename <file...>', 'YAML with ModelDeployments (any number of documents; other kinds are skipped); - reads stdin')
    .addOption(new Option('-n, --namespace <namespace>', 'namespace for manifests that name none').default('default'));
  addRuntimeConfigOptions(cmd, version).action(async (opts: RuntimeConfigFlags & { filename: string[]; namespace: string }) => {
    const config = runtimeConfigFrom(opts);
    const { renderModelDeployments } = await import('../operator/resources/render.js');
    const sources = await Promise.all(opts.filename.map(readSource));
    const yaml = renderModelDeployments(sources, config, opts.namespace, (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(yaml);
  });
}
