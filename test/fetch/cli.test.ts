// The real `modelplane fetch` process, as the init container runs it (needs `tsc` output in dist/).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { serveBody, startHttpServer, type TestServer } from './support/servers.js';
import { memoryLogger, sha256, tempDir } from './support/helpers.js';
import { rawTar, systemTar } from './support/archives.js';
import { fetchModelWith } from '../../fetch/index.js';

const BIN = resolve('bin/modelplane.js');
// sha256 of 2^30 zero bytes, the content of the sparse file below.
const ZERO_GIB_SHA256 = '49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14';
const GIB = 1024 ** 3;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  peakRssBytes: number;
}

/** Runs the CLI, sampling its peak resident memory (VmHWM) from /proc while it runs. */
function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRssBytes = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakRssBytes = Math.max(peakRssBytes, Number(m[1]) * 1024);
      } catch {
        // the process has just exited
      }
    };
    const sampler = setInterval(sample, 25);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    // 'close' comes after the process exited and its output ended.
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(killer);
      resolvePromise({ code, stdout, stderr, peakRssBytes });
    });
  });
}

const jsonLines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

let dir: { path: string; cleanup: () => Promise<void> };
let server: TestServer | undefined;
beforeAll(() => {
  if (!existsSync('dist/cli/main.js')) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.json` (npm test does) first');
});
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await dir.cleanup();
});

test('a 404 exits non-zero with one line naming the URI (no secrets) and the cause, also in the termination log', async () => {
  server = await startHttpServer((_req, res) => res.writeHead(404, 'Not Found').end());
  // The kubelet creates the termination log; fetch only writes into an existing one.
  const termination = join(dir.path, 'termination-log');
  await writeFile(termination, '');
  const uri = `${server.url.replace('http://', 'http://admin:hunter2@')}/models/missing.onnx?X-Amz-Signature=deadbeef`;
  const run = await runCli(['fetch', '--uri', uri, '--dest', join(dir.path, 'dest')], { MODELPLANE_TERMINATION_LOG: termination }, 30_000);
  expect(run.code).toBe(3);
  const expected = `fetch ${server.url}/models/missing.onnx?X-Amz-Signature=REDACTED failed: NotFound: HTTP 404 Not Found`;
  expect(run.stderr).toBe(`${expected}\n`);
  expect(await readFile(termination, 'utf8')).toBe(expected);
  for (const out of [run.stdout, run.stderr]) {
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('deadbeef');
  }
  expect(jsonLines(run.stdout).at(-1)).toMatchObject({ level: 'error', reason: 'NotFound', component: 'fetch' });
});

test('a bad flag value fails before any request, with its own exit code', async () => {
  const run = await runCli(['fetch', '--uri', 'ftp://example/a.onnx', '--dest', dir.path], { MODELPLANE_TERMINATION_LOG: join(dir.path, 't') }, 30_000);
  expect(run.code).toBe(2);
  expect(run.stderr).toBe("fetch ftp://example/a.onnx failed: InvalidUri: invalid model URI: unsupported scheme 'ftp://'; expected one of https://, http://, s3://, pvc://, file://\n");
});

test('1 GiB streams through with flat memory; flags come from the environment', async () => {
  const sparse = join(dir.path, 'big.onnx');
  const fh = await open(sparse, 'w');
  await fh.truncate(GIB);
  await fh.close();
  server = await startHttpServer((req, res) => serveBody(req, res, { file: sparse }, { ranges: true }));
  const dest = join(dir.path, 'dest');
  const run = await runCli(
    ['fetch'],
    {
      MODELPLANE_MODEL_URI: `${server.url}/big.onnx`,
      MODELPLANE_MODEL_DIR: dest,
      MODELPLANE_MODEL_SHA256: ZERO_GIB_SHA256,
      MODELPLANE_TERMINATION_LOG: join(dir.path, 't'),
    },
    120_000,
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect((await stat(join(dest, 'big.onnx'))).size).toBe(GIB);
  const done = jsonLines(run.stdout).find((l) => l.message === 'download complete');
  expect(done).toMatchObject({ bytes: GIB, total: GIB, percent: 100, sha256: ZERO_GIB_SHA256 });
  expect(run.peakRssBytes).toBeGreaterThan(0);
  // Resident memory must not grow with the file: a buffered download would need over 1 GiB.
  expect(run.peakRssBytes).toBeLessThan(200 * 1024 * 1024);
  process.stdout.write(`fetch of 1 GiB: peak RSS ${(run.peakRssBytes / 1024 / 1024).toFixed(1)} MiB\n`);
}, 150_000);

test('an archive unpacks into its folder with exit 0; a hostile one exits 12 with one line giving the reason', async () => {
  const good = rawTar([{ name: 'gpt2/model.onnx', data: 'onnx' }, { name: 'gpt2/tokenizer.json', data: '{}' }]);
  const evil = rawTar([{ name: 'model.onnx', data: 'onnx' }, { name: 'dev', type: '3' }]);
  server = await startHttpServer((req, res) => serveBody(req, res, req.url === '/gpt2.tar.gz' ? good : evil));
  const dest = join(dir.path, 'dest');
  const env = { MODELPLANE_TERMINATION_LOG: join(dir.path, 't') };
  const ok = await runCli(['fetch', '--uri', `${server.url}/gpt2.tar.gz`, '--dest', dest, '--sha256', sha256(good)], env, 30_000);
  expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
  expect(await readdir(join(dest, 'gpt2'))).toEqual(['model.onnx', 'tokenizer.json']);
  expect(jsonLines(ok.stdout).find((l) => l.message === 'model ready')).toMatchObject({ modelPath: join(dest, 'gpt2'), files: 2 });
  const bad = await runCli(['fetch', '--uri', `${server.url}/evil.tar.gz`, '--dest', join(dir.path, 'other')], env, 30_000);
  expect(bad.code).toBe(12);
  expect(bad.stderr).toBe(`fetch ${server.url}/evil.tar.gz failed: ArchiveSpecialFile: archive entry 'dev' is a character device; only files, folders and links within the model are unpacked\n`);
});

test('a fetch killed while it unpacks leaves no model folder and no manifest; the next one cleans up and unpacks afresh', async () => {
  // A 512 MiB archive (a sparse file of zeros, plain tar so that it is not refused as a bomb) takes a while to write.
  const src = join(dir.path, 'src', 'big');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'model.onnx'), 'onnx');
  const weights = await open(join(src, 'model.onnx_data'), 'w');
  await weights.truncate(512 * 1024 * 1024);
  await weights.close();
  const archive = join(dir.path, 'big.tar');
  systemTar(join(dir.path, 'src'), ['-cf', archive, 'big']);
  const dest = join(dir.path, 'dest');
  const child = spawn(process.execPath, [BIN, 'fetch', '--uri', `file://${archive}`, '--dest', dest], { env: { PATH: process.env.PATH, MODELPLANE_TERMINATION_LOG: join(dir.path, 't') }, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  // Killed once the weights are part-written inside the staging folder.
  const partWritten = () => {
    const staging = existsSync(dest) ? readdirSync(dest).find((n) => n.startsWith('.unpack-')) : undefined;
    const file = staging && join(dest, staging, 'big', 'model.onnx_data');
    return Boolean(file && existsSync(file) && statSync(file).size > 0);
  };
  const deadline = Date.now() + 60_000;
  while (!partWritten() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const left = await readdir(dest);
  expect(left.filter((n) => !n.startsWith('.unpack-') && !n.endsWith('.partial'))).toEqual([]);
  expect(left.some((n) => n.startsWith('.unpack-'))).toBe(true);

  const { logger } = memoryLogger();
  const again = await fetchModelWith({ uri: `file://${archive}`, dest, logger }, {});
  expect(again).toEqual({ modelPath: join(dest, 'big'), downloaded: true });
  expect((await readdir(dest)).sort()).toEqual(['.modelplane-fetch.json', 'big']);
  expect((await stat(join(dest, 'big', 'model.onnx_data'))).size).toBe(512 * 1024 * 1024);
}, 120_000);
