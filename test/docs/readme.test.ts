// README promises that can be checked here: the quickstart and the test command.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { blocks } from '../support/docs.js';
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
  for (const script of ['bench:runtime', 'bench:operator', 'bench:local', 'bench:gateway', 'docs:reference', 'crd:generate']) expect(pkg.scripts[script]).toBeDefined();
});

/** The `data:` payloads of a server-sent event stream. */
async function sseEvents(res: Response): Promise<string[]> {
  const events: string[] = [];
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      events.push(buffered.slice(0, end).replace(/^data: /, ''));
      buffered = buffered.slice(end + 2);
    }
  }
  return events;
}

test('the chat ModelDeployment shown in docs/local-mode.md is examples/local/chat.yaml', () => {
  const example = yaml.load(readFileSync(join(REPO, 'examples/local/chat.yaml'), 'utf8')) as { metadata: object; spec: object };
  const shown = blocks('docs/local-mode.md').filter((b) => b.lang === 'yaml').map((b) => yaml.load(b.text) as { metadata?: { name?: string } }).find((o) => o?.metadata?.name === 'chat');
  expect(shown).toMatchObject({ metadata: example.metadata, spec: { model: (example.spec as { model: object }).model, replicas: 1 } });
});

test('npm start runs local mode on examples/local/, prints URLs on the chosen port, and its curls get a prediction and stream a chat reply', async () => {
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
    // The chat curl: the same body through the router streams server-sent events, the reply in pieces, then [DONE].
    const chat = /curl -N (\S+) -H 'Content-Type: application\/json' -d '([^']+)'/.exec(out);
    expect(chat).not.toBeNull();
    expect(chat![1]).toBe(`${router[1]}/v1/chat/completions`);
    expect(JSON.parse(chat![2])).toEqual({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 16 });
    // The manual's chat curls send the body npm start prints.
    for (const page of ['docs/getting-started.md', 'docs/local-mode.md']) expect({ page, has: readFileSync(join(REPO, page), 'utf8').includes(`/v1/chat/completions -H 'Content-Type: application/json' -d '${chat![2]}'`) }).toEqual({ page, has: true });
    const streamed = await fetch(chat![1], { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: chat![2] });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await sseEvents(streamed);
    expect(events[events.length - 1]).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; model: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[] });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'chat')).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.filter((c) => c.choices[0].delta.content).length).toBeGreaterThan(0);
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toMatch(/^(length|stop)$/);
    // The example ModelDeployments run, one of them autoscaled, one generative.
    const list = await (await fetch(`${router[1]}/apis/serving.modelplane.io/v1alpha1/modeldeployments`)).json();
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name).sort()).toEqual(['chat', 'mlp', 'simple']);
    const models = await (await fetch(`${router[1]}/v1/models`)).json();
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(['chat']);
    expect(list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'mlp').spec.autoscaling).toBeDefined();
  } finally {
    proc.kill('SIGINT');
  }
  expect(await exited).toBe(0);
});
