// What the benchmark scripts share: their PASS/FAIL lines and summary, a free loopback port for a server they start,
// and CPU time read from /proc.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The targets a benchmark checks: a PASS or FAIL line each, then how many were met (and the exit code). */
export class Targets {
  private readonly results: { name: string; pass: boolean }[] = [];

  report(name: string, figure: string, target: string, pass: boolean): void {
    this.results.push({ name, pass });
    console.log(`${pass ? 'PASS' : 'FAIL'}  ${name}: ${figure}  (target ${target})`);
  }

  /** Prints "N of M targets met" and sets the exit code: 1 when one was missed. */
  summarize(): void {
    const failed = this.results.filter((r) => !r.pass);
    console.log(`\n${this.results.length - failed.length} of ${this.results.length} targets met`);
    process.exitCode = failed.length ? 1 : 0;
  }
}

/** A loopback port free now (the kernel's pick), for a server started as a separate process. */
export function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

const CLOCK_TICKS = 100;

/** CPU seconds used so far (utime + stime) from a /proc stat file: a process's (all threads) or one thread's. */
export function cpuSeconds(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** A process's CPU seconds so far, all its threads. */
export const processCpuSeconds = (pid: number): number => cpuSeconds(`/proc/${pid}/stat`);
