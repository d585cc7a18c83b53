// `modelplane optimize`: flag definitions; the work lives in optimize/.
import { Command, Option } from 'commander';
import { LOG_LEVELS } from '../common/logger.js';
import { numberArg } from './arg-parsers.js';
import { DEFAULT_MIN_COSINE, DEFAULT_MIN_SPEEDUP } from '../common/optimization-report.js';

/** A number flag (commander's argument parser). */
const number = (flag: string) => numberArg(flag);

export function registerOptimize(program: Command): void {
  program
    .command('optimize')
    .description('Quantise (int8, fp16) and graph-optimise an ONNX model, check it against the original, write it only when it passes')
    .addOption(new Option('--model <path>', 'model file, or a directory holding model.onnx and its external-data files').env('MODELPLANE_MODEL').makeOptionMandatory())
    .addOption(new Option('--out <dir>', 'output directory: model.onnx (+ model.onnx.data) and optimization-report.json').env('MODELPLANE_OPTIMIZED_DIR').makeOptionMandatory())
    .addOption(new Option('--quantize <mode>', 'int8: MatMul/Gemm weights per-channel int8 (CPU); fp16: FLOAT16 with FLOAT inputs and outputs (GPU)').choices(['int8', 'fp16']))
    .addOption(new Option('--graph-optimization <level>', "onnxruntime's offline graph optimisation, saved for the execution provider it ran on").choices(['disabled', 'basic', 'extended', 'all']))
    .addOption(new Option('--execution-providers <list>', 'comma-separated onnxruntime providers in order of preference').default('cpu'))
    .option('--samples <file>', 'inference request bodies to compare on (the format of the serve warm-up file): a JSON request, a JSON array of them, or JSON followed by binary tensor data (default: generated inputs)')
    .option('--max-abs-error <e>', 'largest absolute output difference allowed, on any sample (default: no limit)', number('--max-abs-error'))
    .option('--min-cosine <c>', 'smallest cosine similarity between original and optimised outputs allowed, on every sample', number('--min-cosine'), DEFAULT_MIN_COSINE)
    .option('--min-speedup <x>', 'smallest batch-1 speed-up over the original allowed, measured on the first provider that loads the model; 0 accepts a slower model', number('--min-speedup'), DEFAULT_MIN_SPEEDUP)
    .option('--latency-budget-ms <ms>', 'time spent measuring batch-1 and batch-32 latency of both models (alternating rounds)', number('--latency-budget-ms'), 3000)
    .option('--report <file>', 'also write the report (JSON) here')
    .option('--fallback-to-original', 'on a refusal or a failed gate, write the report and exit 0 so that the original model is served')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).env('MODELPLANE_LOG_LEVEL').default('info'))
    .action(async (opts: {
      model: string; out: string; quantize?: 'int8' | 'fp16'; graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all'; executionProviders: string;
      samples?: string; maxAbsError?: number; minCosine: number; minSpeedup: number; latencyBudgetMs: number; report?: string; fallbackToOriginal?: boolean; logLevel: string;
    }) => {
      const { runOptimizeCommand } = await import('../optimize/command.js');
      process.exitCode = await runOptimizeCommand({
        ...opts,
        executionProviders: opts.executionProviders.split(',').map((s) => s.trim()).filter(Boolean),
      });
    });
}
