// The `modelplane` command tree: one subcommand per job, each with its flags, help and examples. Each subcommand
// loads its implementation lazily, so `modelplane crd` does not pay for onnxruntime and `serve` does not pay for the
// Kubernetes client. Building it runs nothing: main.ts parses the process's arguments with it, tests parse theirs.
import { Command } from 'commander';
import { registerServe } from './serve.js';
import { registerFetch } from './fetch.js';
import { registerCrd } from './crd.js';
import { registerRender } from './render.js';
import { registerOperator } from './operator.js';
import { registerGateway } from './gateway.js';
import { registerSleep } from './sleep.js';
import { registerLocal } from './local.js';
import { registerOptimize } from './optimize.js';
import { registerPerf } from './perf.js';
import { applyHelpStyle, examples } from './help.js';

/** Examples under each subcommand's --help: every one of them parses (test/cli/help.test.ts). */
export const EXAMPLES: Record<string, readonly (readonly [string, string])[]> = {
  serve: [
    ['one model from a file, HTTP on port 8080', 'modelplane serve --model resnet50.onnx'],
    ['from S3 under another name, with batching and gRPC', 'modelplane serve --model s3://models/resnet50/model.onnx --name resnet \\\n      --max-batch-size 32 --grpc-port 9000'],
  ],
  fetch: [
    ['download and check a model, as a runtime pod\'s init container does', 'modelplane fetch --uri https://example.com/resnet50.onnx --dest /models'],
    ['an S3 prefix, with the credentials of a mounted Secret', 'modelplane fetch --uri s3://models/resnet50/ --dest /models \\\n      --credentials-dir /var/run/secrets/model-store'],
    ['an archive of a model directory, checked, then unpacked into /models/gpt2', 'modelplane fetch --uri https://example.com/llm/gpt2.tar.gz --dest /models \\\n      --sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
  ],
  crd: [
    ['install the CustomResourceDefinition', 'modelplane crd | kubectl apply --server-side -f -'],
  ],
  render: [
    ['what the operator would apply for one manifest', 'modelplane render -f md.yaml'],
    ['a directory of manifests, in namespace ml, with another runtime image', 'modelplane render -f manifests/ -n ml \\\n      --runtime-image registry.local/runtime:0.1.0'],
    ['compare with what runs in the cluster', 'modelplane render -f md.yaml | kubectl diff -f -'],
  ],
  operator: [
    ['watch two namespaces with the current kubeconfig, without leader election', 'modelplane operator --namespace ml,serving --leader-elect false'],
    ['as the chart runs it, with debug logs', 'modelplane operator --metrics-port 8081 --log-level debug'],
  ],
  gateway: [
    ['in front of every ModelDeployment of the cluster, as the chart runs it', 'modelplane gateway --api-keys /etc/modelplane/api-keys'],
    ['one namespace, with the current kubeconfig, without gRPC', 'modelplane gateway --namespace ml --grpc-port 0 --log-level debug'],
  ],
  sleep: [
    ['a preStop hook that keeps a terminating pod serving for 5 seconds', 'modelplane sleep 5'],
  ],
  local: [
    ['the examples: two ModelDeployments behind one router on port 8080', 'modelplane local -f examples/local/'],
    ['a manifest and a directory, on any free port, with JSON logs', 'modelplane local -f md.yaml more-manifests/ --port 0 --log-level info'],
  ],
  optimize: [
    ['int8 weights, checked against the original', 'modelplane optimize --model model.onnx --out optimized/ --quantize int8'],
    ['graph optimisation only, kept when 20% faster', 'modelplane optimize --model model.onnx --out optimized/ \\\n      --graph-optimization all --min-speedup 1.2 --fallback-to-original'],
  ],
  perf: [
    ['a latency-throughput sweep with an HTML report', 'modelplane perf --url http://localhost:8080 --model simple \\\n      --concurrency 1,2,4,8 --duration 5s --out perf-results'],
    ['open loop over gRPC, the breakdown from the HTTP metrics', 'modelplane perf --url grpc://localhost:9000 --protocol grpc --model simple \\\n      --rate 100,200 --metrics-url http://localhost:8080/metrics'],
    ['a two-hour soak at 8 callers', 'modelplane perf --url http://localhost:8080 --model simple \\\n      --concurrency 8 --soak 2h'],
    ['a generative model: time to first token, inter-token latency, tokens/s', 'modelplane perf --generate --url http://localhost:8080 --model tiny \\\n      --tokenizer models/tiny --prompt-tokens 128 --output-tokens 64 \\\n      --concurrency 1,4,8'],
  ],
};

export function createProgram(version: string): Command {
  const program = new Command()
    .name('modelplane')
    .description('Deploy ONNX models on Kubernetes and serve them over the Open Inference Protocol')
    .version(version)
    .showHelpAfterError();
  registerServe(program, version);
  registerFetch(program);
  registerCrd(program);
  registerRender(program, version);
  registerOperator(program, version);
  registerGateway(program, version);
  registerSleep(program);
  registerLocal(program, version);
  registerOptimize(program);
  registerPerf(program, version);
  for (const cmd of program.commands) {
    const lines = EXAMPLES[cmd.name()];
    if (lines) cmd.addHelpText('after', examples(lines));
    // Subcommands added with addCommand do not inherit the program's settings.
    cmd.showHelpAfterError();
  }
  program.addHelpText('after', `\nEach command has its own help and examples: modelplane <command> --help\n`);
  applyHelpStyle(program);
  return program;
}
