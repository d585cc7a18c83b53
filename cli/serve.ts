// `modelplane serve`: flag definitions; the server itself lives in runtime/.
import { Command, Option } from 'commander';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve one ONNX model over the Open Inference Protocol (HTTP)')
    .addOption(new Option('--model <path|uri>', 'ONNX file, directory holding model.onnx, or a remote URI').env('MODELPLANE_MODEL').makeOptionMandatory())
    .action(async () => {
      throw new Error('serve: runtime not built yet');
    });
}
