// The `modelplane` command: one bin, a subcommand per job. Each subcommand loads its implementation
// lazily, so `modelplane crd` does not pay for onnxruntime and `serve` does not pay for the Kubernetes client.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerServe } from './serve.js';
import { registerFetch } from './fetch.js';
import { registerCrd } from './crd.js';
import { registerRender } from './render.js';
import { registerOperator } from './operator.js';
import { registerSleep } from './sleep.js';
import { registerLocal } from './local.js';
import { registerOptimize } from './optimize.js';
import { registerPerf } from './perf.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const program = new Command()
  .name('modelplane')
  .description('Deploy ONNX models on Kubernetes and serve them over the Open Inference Protocol')
  .version(pkg.version)
  .showHelpAfterError();

registerServe(program, pkg.version);
registerFetch(program);
registerCrd(program);
registerRender(program, pkg.version);
registerOperator(program, pkg.version);
registerSleep(program);
registerLocal(program, pkg.version);
registerOptimize(program);
registerPerf(program, pkg.version);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`modelplane: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
