// A replica that serves gRPC becomes one of the gateway's upstreams only once its gRPC port is known: a real
// process that answers HTTP readiness at once but logs its gRPC port a second later is not ready before then.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Replica } from '../../local/replica.js';
import { memoryLogger } from '../support/memory-logger.js';
import { waitFor } from '../support/wait-for.js';

const dir = mkdtempSync(join(tmpdir(), 'modelplane-replica-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Serves 200 on every path at once; logs its HTTP `listening` line, and its gRPC one after GRPC_DELAY_MS. */
const standIn = join(dir, 'stand-in.cjs');
writeFileSync(standIn, `
const http = require('node:http');
const server = http.createServer((req, res) => res.end());
server.listen(0, '127.0.0.1', () => {
  const log = (o) => process.stdout.write(JSON.stringify({ level: 'info', ...o }) + '\\n');
  log({ message: 'listening', port: server.address().port });
  setTimeout(() => log({ message: 'listening', protocol: 'grpc', port: 65001 }), Number(process.env.GRPC_DELAY_MS));
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
`);

test.each([true, false])('grpc %s: ready only with what it serves known', async (grpc) => {
  process.env.GRPC_DELAY_MS = '1000';
  const changes: { phase: string; grpcPort?: number; at: number }[] = [];
  const t0 = performance.now();
  const replica: Replica = new Replica({
    id: `r-${grpc}`, template: 't', command: process.execPath, cliPath: standIn, argv: [], model: 'm', runDir: dir,
    logger: memoryLogger('local').log, grpc,
    onChange: () => changes.push({ phase: replica.phase, grpcPort: replica.grpcPort, at: performance.now() - t0 }),
  });
  try {
    replica.start();
    await waitFor('the replica ready', () => replica.phase === 'ready', 10_000);
    const ready = changes.find((c) => c.phase === 'ready')!;
    if (grpc) {
      expect(ready.grpcPort).toBe(65001);
      expect(ready.at).toBeGreaterThanOrEqual(900);
    } else {
      expect(ready.at).toBeLessThan(900);
    }
  } finally {
    await replica.stop(0, 2000);
    delete process.env.GRPC_DELAY_MS;
  }
});
