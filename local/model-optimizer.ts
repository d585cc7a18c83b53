// spec.optimization in local mode: the pod's optimise step (`modelplane optimize` with the arguments the operator
// renders into the init container) run as a child process on the cached model, its output kept in the cache
// beside the model so later replicas and later runs reuse it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelDeployment } from '../operator/api/schema.js';
import { optimizeArgs } from '../operator/resources/deployment.js';
import { parseSummaryLine, type OptimizationSummary } from '../common/optimization-report.js';
import { LOCAL_CONFIG } from './replica-args.js';

export interface LocalOptimization {
  /** Where the step wrote (the runtime's --optimized-model-dir). */
  dir: string;
  /** The step's termination message: its one-line summary, as the operator reads it from the init container. */
  message: string;
  summary?: OptimizationSummary;
}

/** The output directory for one model and one optimisation spec: the same inputs always map to the same place. */
export function optimizedDirFor(md: ModelDeployment, modelPath: string, cacheDir: string, samplesPath?: string): string {
  const key = createHash('sha256').update(`${modelPath}\n${JSON.stringify(optimizeArgs(md, { kind: 'image', fetch: false, modelPath }, LOCAL_CONFIG, '', samplesPath))}`).digest('hex').slice(0, 32);
  return join(cacheDir, 'optimized', key);
}

/**
 * Runs the optimise step unless its summary for the same model and spec is already in the cache. Like the pod's
 * step it never fails the deployment: a refused model or a failed gate leaves the runtime on the original. `samplesPath`:
 * the local copy of the samples the gate compares on (spec.optimization.samples, else spec.runtime.warmup).
 */
export async function optimizeForLocal(md: ModelDeployment, modelPath: string, cacheDir: string, cli: { command: string; cliPath: string }, samplesPath?: string): Promise<LocalOptimization> {
  const dir = optimizedDirFor(md, modelPath, cacheDir, samplesPath);
  const messageFile = join(dir, 'termination-message');
  if (existsSync(messageFile)) {
    const message = readFileSync(messageFile, 'utf8').trim();
    return { dir, message, summary: parseSummaryLine(message) };
  }
  mkdirSync(dir, { recursive: true });
  const termination = `${messageFile}.partial`;
  writeFileSync(termination, ''); // the step writes its summary only where the file exists, as in a pod
  const args = optimizeArgs(md, { kind: 'image', fetch: false, modelPath }, LOCAL_CONFIG, dir, samplesPath);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(cli.command, [cli.cliPath, ...args], { env: { ...process.env, MODELPLANE_TERMINATION_LOG: termination }, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  const message = readFileSync(termination, 'utf8').trim() || `ModelOptimizationFailed: modelplane optimize exited with ${code}`;
  // Only a finished step is reused; one that crashed runs again next time.
  if (code === 0) writeFileSync(messageFile, message);
  return { dir, message, summary: parseSummaryLine(message) };
}
