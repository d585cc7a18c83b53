// The troubleshooting page's table of runtime errors is the runtime's catalogue: every reason with its HTTP status
// and its gRPC status code, and nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ERRORS } from '../../runtime/errors.js';
import { GRPC_CODES } from '../../runtime/grpc/status.js';
import { REPO } from '../support/runtime-process.js';

const page = readFileSync(join(REPO, 'docs', 'troubleshooting.md'), 'utf8');
const section = page.slice(page.indexOf('## Runtime errors'), page.indexOf('\n## ', page.indexOf('## Runtime errors')));

test('the runtime error table lists every reason of the catalogue with its HTTP and gRPC status', () => {
  const rows = [...section.matchAll(/^\| `(\w+)` \| (\d+) \| `(\w+)` \|/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  const catalogue = Object.entries(ERRORS).map(([reason, http]) => [reason, http, status[GRPC_CODES[reason as keyof typeof ERRORS]]]);
  expect(rows.sort()).toEqual(catalogue.sort());
});
