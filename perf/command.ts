// The process edge of `modelplane perf`: flags in, exit code out, one clear line on stderr for every failure.
import { parsePerfConfig, type PerfFlags } from './config.js';
import { PerfError, UNEXPECTED_EXIT_CODE } from './errors.js';
import { runPerf } from './run.js';

export async function runPerfCommand(flags: PerfFlags, version: string): Promise<number> {
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    process.stderr.write('modelplane perf: stopping (Ctrl-C again to quit at once); writing what was measured\n');
  };
  process.on('SIGINT', onSigint);
  try {
    const cfg = parsePerfConfig(flags);
    const results = await runPerf(cfg, {
      stdout: (t) => process.stdout.write(t),
      stderr: (t) => process.stderr.write(t),
      progress: process.stderr.isTTY === true && !cfg.quiet,
      version,
      stopRequested: () => stopRequested,
    });
    for (const reason of results.verdict.reasons) process.stderr.write(`modelplane perf: ${reason}\n`);
    return results.verdict.exitCode;
  } catch (err) {
    if (err instanceof PerfError) {
      process.stderr.write(`modelplane perf: ${err.reason}: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`modelplane perf: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return UNEXPECTED_EXIT_CODE;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
