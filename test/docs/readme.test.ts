// README promises that can be checked here: the quickstart and the test command.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../support/runtime-process.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

test('README, package.json and .ci/run agree on the commands', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const ci = readFileSync(join(REPO, '.ci/run'), 'utf8');
  expect(readme).toContain('npm test');
  expect(readme).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm ci');
  expect(ci).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
  expect(ci).toMatch(/npm ci/);
  expect(ci).toMatch(/npm test/);
  expect(pkg.scripts.start).toBe('exec node dist/examples/quickstart.js');
  for (const script of ['bench:runtime', 'bench:operator', 'bench:local', 'docs:reference', 'crd:generate']) expect(pkg.scripts[script]).toBeDefined();
});

test('npm start runs local mode on examples/local/, prints URLs on the chosen port, and its curl gets a prediction', async () => {
  const proc = spawn(process.execPath, [join(REPO, 'dist/examples/quickstart.js'), '--port', '0'], {
    env: { ...process.env, MODELPLANE_TERMINATION_LOG: '/nonexistent/termination-log' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 900 && !out.includes('Dashboard:') && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    const curl = /curl -s (\S+) -H 'Content-Type: application\/json' -d '([^']+)'/.exec(out);
    expect(curl).not.toBeNull();
    const router = /the router is (http:\/\/127\.0\.0\.1:(\d+))/.exec(out)!;
    expect(router).not.toBeNull();
    expect(Number(router[2])).toBeGreaterThan(0);
    expect(curl![1]).toBe(`${router[1]}/v2/models/simple/infer`);
    // README's curl sends the body npm start prints.
    expect(readme).toContain(`-d '${curl![2]}'`);
    expect(out).toContain(`Dashboard:       ${router[1]}/`);
    const r = await fetch(curl![1], { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: curl![2] });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.outputs[0]).toMatchObject({ name: 'OUTPUT0', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i + 2) });
    // Both example ModelDeployments run, one of them autoscaled.
    const list = await (await fetch(`${router[1]}/apis/serving.modelplane.io/v1alpha1/modeldeployments`)).json();
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name).sort()).toEqual(['mlp', 'simple']);
    expect(list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'mlp').spec.autoscaling).toBeDefined();
  } finally {
    proc.kill('SIGINT');
  }
  expect(await exited).toBe(0);
});
