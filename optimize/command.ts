// The `modelplane optimize` process: run one optimisation, print the report's summary, and turn the outcome into
// an exit code and a termination message. With fallbackToOriginal (the pod's model step) every refusal and a
// failed gate still exit 0 after writing a report that says why, so that the runtime serves the original model.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLogger, type Logger } from '../common/logger.js';
import { writeTerminationMessage } from '../common/termination.js';
import { isOptimizeError, OPTIMIZE_REASONS, optimizeExitCode } from './errors.js';
import { optimizeModel, thresholdsOf, writeReport, type OptimizeOptions } from './index.js';
import { summaryLine, type OptimizationReport } from '../common/optimization-report.js';

export interface OptimizeCommandOptions extends Omit<OptimizeOptions, 'logger'> {
  fallbackToOriginal?: boolean;
  logLevel?: string;
}

export async function runOptimizeCommand(
  opts: OptimizeCommandOptions,
  io: { logger?: Logger; stdout?: (line: string) => void; stderr?: (line: string) => void; terminationLog?: string } = {},
): Promise<number> {
  const logger = io.logger ?? createLogger('optimize', opts.logLevel);
  const stdout = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`));
  const stderr = io.stderr ?? ((l: string) => process.stderr.write(`${l}\n`));
  const terminate = (line: string) => (io.terminationLog !== undefined ? writeTerminationMessage(line, io.terminationLog) : writeTerminationMessage(line));
  let report: OptimizationReport;
  try {
    report = await optimizeModel({ ...opts, logger });
  } catch (err) {
    const reason = isOptimizeError(err) ? err.reason : 'Unexpected';
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*[\r\n]+\s*/g, ' ');
    logger.error('model optimisation failed', { reason, error: message });
    const failed: OptimizationReport = {
      applied: false, reason, message, ...(opts.quantize ? { quantize: opts.quantize } : {}),
      graphOptimization: opts.graphOptimization ?? 'disabled', originalModel: opts.model, files: [], thresholds: thresholdsOf(opts),
    };
    if (opts.fallbackToOriginal) {
      // The report says why, so that the runtime serves the original and the operator can tell.
      try {
        const out = resolve(opts.out);
        mkdirSync(out, { recursive: true });
        writeReport(out, failed, opts.report);
      } catch {
        // Without a report the runtime serves the original all the same.
      }
      terminate(summaryLine(failed));
      stderr(`optimize: ${reason}: ${message}; serving the original model`);
      return 0;
    }
    stderr(`optimize: ${reason}: ${message}`);
    terminate(`optimize failed: ${reason}: ${message}`);
    return optimizeExitCode(err);
  }
  const line = summaryLine(report);
  terminate(line);
  if (report.applied) {
    logger.info('model optimised', { summary: JSON.parse(line.slice(line.indexOf('{'))) });
    stdout(report.message);
    return 0;
  }
  // Not `message`: winston joins a `message` field onto the log line's own message.
  logger.warn('optimised model not written', { reason: report.reason, detail: report.message });
  if (report.reason === 'AccuracyGateFailed' || report.reason === 'SpeedGateFailed') {
    stderr(`optimize: ${report.message}`);
    return opts.fallbackToOriginal ? 0 : OPTIMIZE_REASONS[report.reason].exitCode;
  }
  stdout(`optimize: ${report.message}`);
  return 0;
}
