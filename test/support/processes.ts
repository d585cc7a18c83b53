// Ending a child process as an orchestrator does: a signal (SIGTERM), then SIGKILL if it has not exited in time.
import type { ChildProcess } from 'node:child_process';

/** Signals the process unless it has exited, waits for its exit up to `graceMs`, then kills it; its exit code. */
export async function terminate(proc: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
