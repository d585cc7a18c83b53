// Runs `modelplane perf` as users run it: the bin, as a child process, with its exit code and output.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../support/runtime-process.js';
import type { PerfResults } from '../../perf/results.js';

export interface PerfRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runPerfCli(args: string[], timeoutMs = 60_000): Promise<PerfRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, 'perf', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`perf ${args.join(' ')} ran past ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function readResults(dir: string): PerfResults {
  return JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
}

/** stderr without the client-CPU warnings, which a busy shared machine may add to any run. */
export function withoutClientCpuWarnings(stderr: string): string {
  return stderr.split(/(?<=\n)/).filter((l) => !/^modelplane perf: warning: the load generator used \d+% of a CPU core/.test(l)).join('');
}
