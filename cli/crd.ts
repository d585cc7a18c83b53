// `modelplane crd`: print the ModelDeployment CustomResourceDefinition (what crds/ and the chart ship).
import type { Command } from 'commander';

export function registerCrd(program: Command): void {
  program
    .command('crd')
    .description('Print the ModelDeployment CustomResourceDefinition as YAML')
    .action(async () => {
      const { crdYaml } = await import('../operator/api/crd.js');
      process.stdout.write(crdYaml());
    });
}
