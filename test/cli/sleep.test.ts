// `modelplane sleep N`: the runtime pod's preStop hook, an exec of the runtime's own binary.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(process.cwd(), 'bin', 'modelplane.js');

function run(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

it('waits the given seconds and exits 0', async () => {
  const r = await run(['sleep', '0.6']);
  expect(r.code).toBe(0);
  expect(r.ms).toBeGreaterThanOrEqual(600);
});

it.each([['abc'], ['-1'], ['4000']])('refuses %s naming the argument', async (arg) => {
  const r = await run(['sleep', '--', arg]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('seconds must be a number from 0 to 3600');
});
