// `modelplane perf`: flag definitions; the load generator and its report live in perf/.
import { Command, Option } from 'commander';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerPerf(program: Command, version: string): void {
  program
    .command('perf')
    .description('Load and soak test an Open Inference Protocol endpoint (or, with --generate, a generative model\'s OpenAI API): latency, throughput, errors, the server\'s queue and compute time, and an HTML report')
    .addOption(new Option('--url <url>', 'server base URL, e.g. http://localhost:8080 (for gRPC host:port or grpc://host:port)'))
    .addOption(new Option('--model <name>', 'model name, as in /v2/models/{name}'))
    .addOption(new Option('--model-version <v>', 'model version (default: the server\'s default)'))
    .addOption(new Option('--protocol <protocol>', 'http | grpc').default('http'))
    .addOption(new Option('--binary', 'HTTP: send inputs and ask for outputs in Triton\'s binary tensor extension instead of JSON'))
    .addOption(new Option('--concurrency <list>', 'closed loop: callers per step, comma-separated (default 1)'))
    .addOption(new Option('--rate <list>', 'open loop: requests per second per step, comma-separated; latency counts from when a request was due'))
    .addOption(new Option('--duration <d>', 'length of each step: 500ms, 10s, 5m (default 10s)'))
    .addOption(new Option('--warmup <d>', 'load at the first level before measuring, discarded; 0 for none (default 2s)'))
    .addOption(new Option('--shape <input:dims>', 'concrete shape for an input with variable dimensions, e.g. INPUT0:1,16 (repeatable)').argParser(collect))
    .addOption(new Option('--batch-size <n>', 'value of a variable first dimension when no --shape gives it (default 1)'))
    .addOption(new Option('--input-data <kind>', 'random (seeded) | zero | FILE (perf_analyzer JSON: {"data":[{"INPUT0":[...]}]})'))
    .addOption(new Option('--out <dir>', 'write results.json, results.csv and report.html into this directory'))
    .addOption(new Option('--soak <d>', 'hold one load level for this long, reporting drift and server memory per interval (e.g. 2h)'))
    .addOption(new Option('--soak-interval <d>', 'soak reporting interval (default a twentieth of --soak, at least 1s)'))
    .addOption(new Option('--max-error-rate <f>', 'fraction (0.01) or percentage (1%) of failed requests tolerated before exit 5 (default 0)'))
    .addOption(new Option('--max-drift <pct>', 'soak: percent the median latency may drift, last interval against the first, before exit 6 (default 50)'))
    .addOption(new Option('--timeout <d>', 'deadline of each request (default 30s)'))
    .addOption(new Option('--max-inflight <n>', 'most requests in flight at once in open loop (default 1024)'))
    .addOption(new Option('--metrics-url <url>', 'Prometheus metrics for the server-side breakdown; for gRPC give the runtime\'s HTTP metrics, e.g. http://localhost:8080/metrics; none to skip (default URL/metrics for HTTP)'))
    .addOption(new Option('--grpc-proto <path>', 'gRPC: a .proto file, or a directory of them, defining inference.GRPCInferenceService').env('MODELPLANE_GRPC_PROTO'))
    .addOption(new Option('--seed <n>', 'seed of the random input data (default 1)'))
    .addOption(new Option('--generate', 'load a generative model through its OpenAI-compatible API (streamed): time to first token, inter-token latency, tokens/s'))
    .addOption(new Option('--endpoint <kind>', '--generate: completions (/v1/completions) | chat (/v1/chat/completions) (default completions)'))
    .addOption(new Option('--prompt-tokens <n>', '--generate: prompt tokens of every request, exact by --tokenizer (default 128)'))
    .addOption(new Option('--output-tokens <n>', '--generate: max_tokens of every request, with ignore_eos (default 128)'))
    .addOption(new Option('--tokenizer <path>', '--generate: the model directory holding tokenizer.json (or the file) the prompts are made with'))
    .addOption(new Option('--quiet', 'no progress lines'))
    .action(async (flags: Record<string, unknown>) => {
      const { runPerfCommand } = await import('../perf/command.js');
      process.exitCode = await runPerfCommand(flags, version);
    });
}
