// `modelplane render -f md.yaml`: print the objects the operator would create, without a cluster.
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';

async function readSource(name: string): Promise<{ name: string; text: string }> {
  if (name !== '-') return { name, text: await readFile(name, 'utf8') };
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return { name: '<stdin>', text: Buffer.concat(chunks).toString('utf8') };
}

export function registerRender(program: Command, version = '0.0.0'): void {
  program
    .command('render')
    .description('Validate ModelDeployment manifests and print the Deployment, Service, PodDisruptionBudget and HPA or KEDA ScaledObject the operator would apply')
    .requiredOption('-f, --filename <file...>', 'ModelDeployment YAML (one or more documents); - reads stdin')
    .addOption(new Option('--runtime-image <image>', 'runtime image when spec.runtime.image is not set').env('MODELPLANE_RUNTIME_IMAGE').default(`ghcr.io/modelplane/runtime:${version}`))
    .addOption(new Option('--runtime-gpu-image <image>', 'runtime image for ModelDeployments with spec.gpu (default: --runtime-image)').env('MODELPLANE_RUNTIME_GPU_IMAGE'))
    .addOption(new Option('--prometheus-address <url>', 'Prometheus that KEDA ScaledObjects query (mode keda)').env('MODELPLANE_PROMETHEUS_ADDRESS'))
    .option('-n, --namespace <namespace>', 'namespace for manifests that name none', 'default')
    .action(async (opts: { filename: string[]; runtimeImage: string; runtimeGpuImage?: string; prometheusAddress?: string; namespace: string }) => {
      const { renderModelDeployments } = await import('../operator/resources/render.js');
      const sources = await Promise.all(opts.filename.map(readSource));
      const yaml = renderModelDeployments(sources, { runtimeImage: opts.runtimeImage, runtimeGpuImage: opts.runtimeGpuImage, prometheusAddress: opts.prometheusAddress }, opts.namespace);
      process.stdout.write(yaml);
    });
}
