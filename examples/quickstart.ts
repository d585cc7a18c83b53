// `npm start`: builds the example models, then runs local mode on examples/local/ (three ModelDeployments: simple,
// mlp autoscaled, and chat, a generative model) and, once they are ready, prints the router URL, a curl that gets a
// prediction, one that streams a chat reply, and the dashboard URL. Flags: --port (default 8080; 0 picks a free one), --host, --cache-dir, --log-level.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { createLogger } from '../common/logger.js';
import { runLocal } from '../local/run.js';
import { buildChatModel, buildExampleModels } from './build-models.js';

/** Where examples/local/*.yaml point (file:///tmp/modelplane-examples/...). */
export const LOCAL_MODELS_DIR = '/tmp/modelplane-examples';

const repo = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.MODELPLANE_LOCAL_PORT ?? '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'cache-dir': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = Number(values.port);
if (!/^\d+$/.test(values.port!) || port > 65535) {
  process.stderr.write(`npm start: --port ${JSON.stringify(values.port)} is not a port number\n`);
  process.exit(2);
}

const log = createLogger('quickstart', values['log-level']);
try {
  for (const dir of [repo('examples/models'), LOCAL_MODELS_DIR]) {
    for (const m of buildExampleModels(dir)) log.info('wrote example model', { path: m.path, sha256: m.sha256 });
    const chat = buildChatModel(dir);
    log.info('wrote example model directory', { path: chat.path, sha256: chat.sha256 });
  }
} catch (err) {
  process.stderr.write(`npm start: could not write the example models: ${(err as Error).message}\n`);
  process.exit(1);
}

const body = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i + 1) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(1) },
  ],
});
/** The chat request the quickstart prints: streamed, as server-sent events. */
const CHAT_BODY = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 16 });
const version = (JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { version: string }).version;

await runLocal({
  paths: [repo('examples/local')],
  port,
  host: values.host!,
  ...(values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
  logLevel: values['log-level']!,
  table: true,
  autoscaleIntervalMs: 2000,
  tuning: {},
  drainMs: 60_000,
  version,
  cliPath: repo('bin/modelplane.js'),
  onReady: (mode) => {
    process.stdout.write(
      `\nModelplane local is up: the router is ${mode.url}\n\n` +
        `Get a prediction from "simple" (OUTPUT0 = INPUT0 + INPUT1):\n\n` +
        `  curl -s ${mode.url}/v2/models/simple/infer -H 'Content-Type: application/json' -d '${body}'\n\n` +
        `Stream a reply from "chat" (a tiny generative model, OpenAI's API):\n\n` +
        `  curl -N ${mode.url}/v1/chat/completions -H 'Content-Type: application/json' -d '${CHAT_BODY}'\n\n` +
        `Dashboard:       ${mode.url}/\n` +
        `Status (as the operator writes it): curl -s ${mode.url}/apis/serving.modelplane.io/v1alpha1/modeldeployments\n` +
        `Edit examples/local/*.yaml to roll or scale; Ctrl-C drains and stops.\n\n`,
    );
  },
});
