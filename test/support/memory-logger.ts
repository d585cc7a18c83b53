// A logger for tests that keeps every entry in memory, so a test can assert what was logged and at which level.
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../common/logger.js';

export interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A JSON logger at `level` whose entries land in the returned array. */
export function memoryLogger(component: string, level = 'debug'): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const sink = new Writable({
    objectMode: true,
    write(chunk: unknown, _encoding, done) {
      const info = chunk as Record<string | symbol, unknown>;
      entries.push(JSON.parse(String(info[Symbol.for('message')])) as LogEntry);
      done();
    },
  });
  const log = winston.createLogger({ level, defaultMeta: { component }, format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  return { log, entries };
}
