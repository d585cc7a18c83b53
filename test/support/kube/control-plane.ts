// A real Kubernetes control plane on loopback for tests: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, started from the binaries in KUBE_BIN_DIR (or the folder of a kube-apiserver on PATH) and etcd
// from PATH (Debian's etcd-server). No kubelet and no container runtime: pods are scheduled onto Node objects a
// test creates (see node-simulator.ts). Everything listens on 127.0.0.1 only, on free ports.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { freePort } from '../runtime-process.js';
import { terminate } from '../processes.js';

export interface ControlPlaneBinaries {
  dir: string;
  etcd: string;
}

/** Where the binaries are, or why the control plane cannot start here. */
export function findBinaries(): ControlPlaneBinaries | { missing: string } {
  const onPath = (name: string) => (process.env.PATH ?? '').split(delimiter).map((d) => join(d, name)).find((p) => existsSync(p));
  const dir = process.env.KUBE_BIN_DIR || (onPath('kube-apiserver') ? dirname(onPath('kube-apiserver')!) : undefined);
  if (!dir) return { missing: 'no kube-apiserver: set KUBE_BIN_DIR to a folder holding kube-apiserver, kube-controller-manager and kube-scheduler (v1.28 or newer), or put them on PATH' };
  for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
    if (!existsSync(join(dir, b))) return { missing: `${join(dir, b)} is missing` };
  }
  const etcd = process.env.ETCD_BIN || onPath('etcd') || (existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : undefined);
  if (!etcd) return { missing: 'no etcd: apt-get install -y etcd-server (or set ETCD_BIN)' };
  return { dir, etcd };
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  /** The admin kubeconfig (system:masters). */
  kubeconfig: string;
  adminToken: string;
  caFile: string;
  /** etcd's client URL, for what only etcd can do (compaction). */
  etcdUrl: string;
  runDir: string;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** Extra kube-controller-manager flags. */
  controllerManagerArgs?: string[];
  /** Seconds to wait for /readyz. */
  readyTimeoutSeconds?: number;
}

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** CA, serving certificate, service-account key pair and static tokens (admin is system:masters). */
function makePki(pki: string): Record<'admin' | 'kcm' | 'scheduler', string> {
  mkdirSync(pki, { recursive: true });
  const p = (f: string) => join(pki, f);
  openssl('genrsa', '-out', p('ca.key'), '2048');
  openssl('req', '-x509', '-new', '-nodes', '-key', p('ca.key'), '-sha256', '-days', '3650', '-subj', '/CN=modelplane-test-ca', '-out', p('ca.crt'));
  openssl('genrsa', '-out', p('apiserver.key'), '2048');
  writeFileSync(p('apiserver.ext'), [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
  ].join('\n'));
  openssl('req', '-new', '-key', p('apiserver.key'), '-subj', '/CN=kube-apiserver', '-out', p('apiserver.csr'));
  openssl('x509', '-req', '-in', p('apiserver.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '3650', '-sha256', '-extfile', p('apiserver.ext'), '-out', p('apiserver.crt'));
  openssl('genrsa', '-out', p('sa.key'), '2048');
  openssl('rsa', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub'));
  const token = () => execFileSync('openssl', ['rand', '-hex', '24']).toString().trim();
  const tokens = { admin: token(), kcm: token(), scheduler: token() };
  writeFileSync(p('tokens.csv'), [
    `${tokens.admin},admin,uid-admin,"system:masters"`,
    // The controller-manager runs without per-controller service accounts: its own identity needs every permission.
    `${tokens.kcm},system:kube-controller-manager,uid-kcm,"system:masters"`,
    `${tokens.scheduler},system:kube-scheduler,uid-sched`,
  ].join('\n'));
  chmodSync(p('tokens.csv'), 0o600);
  return tokens;
}

/** A kubeconfig for one user with a bearer token. */
export function kubeconfigYaml(server: string, caFile: string, user: string, token: string, namespace?: string): string {
  // A plain-HTTP server (a proxy on loopback) has no certificate; client-node sends HTTP only with TLS checks off.
  const ca = server.startsWith('https:') ? `, certificate-authority-data: ${readFileSync(caFile).toString('base64')}` : ', insecure-skip-tls-verify: true';
  return [
    'apiVersion: v1', 'kind: Config', 'current-context: test',
    'clusters:', '- name: test', `  cluster: { server: "${server}"${ca} }`,
    'users:', `- name: ${JSON.stringify(user)}`, `  user: { token: ${token} }`,
    'contexts:', '- name: test', `  context: { cluster: test, user: ${JSON.stringify(user)}${namespace ? `, namespace: ${namespace}` : ''} }`, '',
  ].join('\n');
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, proc?: ChildProcess, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: the process exited with ${proc.exitCode}; ${log ? readFileSync(log, 'utf8').slice(-2000) : ''}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${log ? `; ${readFileSync(log, 'utf8').slice(-2000)}` : ''}`);
}

/** GET over HTTPS with the test CA (undici's fetch cannot take a CA, so node:https). */
export function httpsGet(url: string, caFile: string, token: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return import('node:https').then(({ request }) => new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(caFile), headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  }));
}

/** Starts the control plane; resolves once the API server answers /readyz. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bins = findBinaries();
  if ('missing' in bins) throw new Error(bins.missing);
  const runDir = mkdtempSync(join(tmpdir(), 'modelplane-kube-'));
  const logs = join(runDir, 'logs');
  mkdirSync(logs);
  const tokens = makePki(join(runDir, 'pki'));
  const caFile = join(runDir, 'pki', 'ca.crt');
  const [apiPort, etcdPort, peerPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const procs: ChildProcess[] = [];
  const start = (name: string, bin: string, args: string[]) => {
    const log = join(logs, `${name}.log`);
    const out = openSync(log, 'a');
    const p = spawn(bin, args, { stdio: ['ignore', out, out] });
    procs.push(p);
    writeFileSync(join(runDir, `${name}.pid`), String(p.pid));
    return { p, log };
  };
  const stop = async () => {
    for (const p of [...procs].reverse()) await terminate(p, 10_000);
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = start('etcd', bins.etcd, [
      '--name', 'test', '--data-dir', join(runDir, 'etcd'), '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `test=${peerUrl}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-level', 'warn', '--quota-backend-bytes', String(2 * 2 ** 30),
    ]);
    await waitFor('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000, etcd.p, etcd.log);
    const pki = (f: string) => join(runDir, 'pki', f);
    const api = start('kube-apiserver', join(bins.dir, 'kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki('apiserver.crt')}`, `--tls-private-key-file=${pki('apiserver.key')}`, `--client-ca-file=${caFile}`,
      `--token-auth-file=${pki('tokens.csv')}`, '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${pki('sa.pub')}`, `--service-account-signing-key-file=${pki('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16', '--endpoint-reconciler-type=none', '--profiling=false', '--v=1',
      ...(opts.apiserverArgs ?? []),
    ]);
    await waitFor('kube-apiserver', async () => (await httpsGet(`${server}/readyz`, caFile, tokens.admin)).body === 'ok', (opts.readyTimeoutSeconds ?? 120) * 1000, api.p, api.log);
    const kubeconfig = join(runDir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(server, caFile, 'admin', tokens.admin), { mode: 0o600 });
    const kcmConfig = join(runDir, 'kcm.kubeconfig');
    writeFileSync(kcmConfig, kubeconfigYaml(server, caFile, 'system:kube-controller-manager', tokens.kcm), { mode: 0o600 });
    const schedConfig = join(runDir, 'scheduler.kubeconfig');
    writeFileSync(schedConfig, kubeconfigYaml(server, caFile, 'system:kube-scheduler', tokens.scheduler), { mode: 0o600 });
    start('kube-controller-manager', join(bins.dir, 'kube-controller-manager'), [
      `--kubeconfig=${kcmConfig}`, `--authentication-kubeconfig=${kcmConfig}`, `--authorization-kubeconfig=${kcmConfig}`,
      '--bind-address=127.0.0.1', '--secure-port=0', '--leader-elect=false', '--use-service-account-credentials=false',
      `--service-account-private-key-file=${pki('sa.key')}`, `--root-ca-file=${caFile}`,
      `--cluster-signing-cert-file=${caFile}`, `--cluster-signing-key-file=${pki('ca.key')}`,
      '--controllers=*,-service,-route,-cloud-node-lifecycle', '--v=1',
      ...(opts.controllerManagerArgs ?? []),
    ]);
    start('kube-scheduler', join(bins.dir, 'kube-scheduler'), [
      `--kubeconfig=${schedConfig}`, `--authentication-kubeconfig=${schedConfig}`, `--authorization-kubeconfig=${schedConfig}`,
      '--bind-address=127.0.0.1', '--secure-port=0', '--leader-elect=false', '--v=1',
    ]);
    return { server, kubeconfig, adminToken: tokens.admin, caFile, etcdUrl, runDir, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
