import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../../common/logger.js';
import { DEFAULT_RETRY } from '../../../fetch/retry.js';
import type { FetchTuning } from '../../../fetch/index.js';

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
export const randomModel = (size: number): Buffer => randomBytes(size);

export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'modelplane-fetch-'));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A logger that keeps every entry in memory, so tests can assert on what was logged. */
export function memoryLogger(): { logger: Logger; entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const logger = winston.createLogger({
    level: 'debug',
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          objectMode: true,
          write(info: Record<string, unknown>, _enc: BufferEncoding, done: () => void) {
            entries.push(info);
            done();
          },
        }),
      }),
    ],
  });
  return { logger, entries };
}

/** Fast retries so the failure paths run in milliseconds. */
export const FAST: Partial<FetchTuning> = {
  retry: { ...DEFAULT_RETRY, attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
  connectTimeoutMs: 2_000,
  responseTimeoutMs: 2_000,
  idleTimeoutMs: 2_000,
  progressIntervalMs: 0,
};
