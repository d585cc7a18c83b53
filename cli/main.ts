// The `modelplane` command: the command tree of program.ts, run on this process's arguments.
import { readFileSync } from 'node:fs';
import { exitWithParent } from './parent.js';
import { createProgram } from './program.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

exitWithParent();

export const program = createProgram(pkg.version);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`modelplane: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
