// The termination message goes only where the kubelet provides the file; nothing is created elsewhere.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTerminationMessage } from '../../common/termination.js';

const dir = mkdtempSync(join(tmpdir(), 'modelplane-termination-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('an existing termination log gets the message, replacing what was there, cut at 4096 bytes', () => {
  const path = join(dir, 'termination-log');
  writeFileSync(path, 'an older, longer message that must not linger');
  expect(writeTerminationMessage('ModelLoadFailed: boom', path)).toBe(true);
  expect(readFileSync(path, 'utf8')).toBe('ModelLoadFailed: boom');
  expect(writeTerminationMessage('x'.repeat(10_000), path)).toBe(true);
  expect(readFileSync(path, 'utf8')).toHaveLength(4096);
});

test('a missing termination log is not created, and nothing throws', () => {
  const path = join(dir, 'no-such-log');
  expect(writeTerminationMessage('ModelLoadFailed: boom', path)).toBe(false);
  expect(existsSync(path)).toBe(false);
  expect(writeTerminationMessage('ModelLoadFailed: boom', join(dir, 'missing-dir', 'log'))).toBe(false);
});
