// `npm start`: builds the example models, serves examples/models/simple.onnx on http://localhost:8080 with
// `modelplane serve`, and prints a curl that gets a prediction once the model is ready.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../common/logger.js';
import { buildExampleModels } from './build-models.js';

const log = createLogger('quickstart');
const dir = fileURLToPath(new URL('../../examples/models', import.meta.url));
const cli = fileURLToPath(new URL('../../bin/modelplane.js', import.meta.url));
const port = process.env.MODELPLANE_HTTP_PORT ?? '8080';

for (const m of buildExampleModels(dir)) log.info('wrote example model', { path: m.path, sha256: m.sha256 });

const child = spawn(process.execPath, [cli, 'serve', '--model', `${dir}/simple.onnx`, '--http-port', port, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

const body = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i + 1) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(1) },
  ],
});

async function announceWhenReady(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status === 200) {
        process.stdout.write(`\nModel "simple" is ready. Try:\n\n  curl -s http://localhost:${port}/v2/models/simple/infer -H 'Content-Type: application/json' -d '${body}'\n\n  curl -s http://localhost:${port}/v2/models/simple\n  curl -s http://localhost:${port}/metrics\n\n`);
        return;
      }
    } catch {
      // still starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

void announceWhenReady();
