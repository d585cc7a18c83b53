// The `modelplane fetch` process: run one fetch, turn any failure into one line (stderr, the JSON log,
// and the termination message the operator reads back as ModelFetchFailed) and an exit code.
import { createLogger, type Logger } from '../common/logger.js';
import { writeTerminationMessage } from '../common/termination.js';
import { exitCodeFor, isFetchError } from './errors.js';
import { fetchModel } from './index.js';
import { redactUri } from './uri.js';

export interface FetchCommandOptions {
  uri: string;
  dest: string;
  sha256?: string;
  credentialsDir?: string;
  logLevel?: string;
}

/** The one line a failure is reported as: it names the URI (never its credentials) and the cause. */
export function failureLine(uri: string, err: unknown): string {
  const label = redactUri(uri);
  const reason = isFetchError(err) ? err.reason : 'Unexpected';
  let message = err instanceof Error ? err.message : String(err);
  if (uri !== label) message = message.split(uri).join(label);
  return `fetch ${label} failed: ${reason}: ${message}`.replace(/\s*[\r\n]+\s*/g, ' ');
}

export async function runFetchCommand(
  opts: FetchCommandOptions,
  io: { logger?: Logger; stderr?: (line: string) => void; terminationLog?: string } = {},
): Promise<number> {
  const logger = io.logger ?? createLogger('fetch', opts.logLevel);
  try {
    await fetchModel({
      uri: opts.uri,
      dest: opts.dest,
      logger,
      ...(opts.sha256 !== undefined ? { sha256: opts.sha256 } : {}),
      ...(opts.credentialsDir !== undefined ? { credentialsDir: opts.credentialsDir } : {}),
    });
    return 0;
  } catch (err) {
    const line = failureLine(opts.uri, err);
    logger.error('model fetch failed', { source: redactUri(opts.uri), reason: isFetchError(err) ? err.reason : 'Unexpected', error: line });
    (io.stderr ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
    if (io.terminationLog !== undefined) writeTerminationMessage(line, io.terminationLog);
    else writeTerminationMessage(line);
    return exitCodeFor(err);
  }
}
