// `modelplane serve`: flags (each also read from an environment variable); the server lives in runtime/.
import { Command, Option } from 'commander';

const opt = (flags: string, description: string, env: string) => new Option(flags, description).env(env);

export function registerServe(program: Command, version: string): void {
  program
    .command('serve')
    .description('Serve one ONNX model over the Open Inference Protocol (HTTP)')
    .addOption(opt('--model <path|uri>', 'ONNX file, directory holding model.onnx (+ external data), or a model URI (https://, s3://, pvc://, file://)', 'MODELPLANE_MODEL'))
    .addOption(opt('--name <name>', 'model name in /v2/models/{name} (default: file name without .onnx)', 'MODELPLANE_MODEL_NAME'))
    .addOption(opt('--http-port <port>', 'HTTP port (default 8080)', 'MODELPLANE_HTTP_PORT'))
    .addOption(opt('--host <address>', 'address to listen on (default 0.0.0.0)', 'MODELPLANE_HOST'))
    .addOption(opt('--max-batch-size <n>', 'dynamic batching: most rows per model run; 1 turns batching off (default 32)', 'MODELPLANE_MAX_BATCH_SIZE'))
    .addOption(opt('--max-queue-delay-us <us>', 'dynamic batching: longest wait for a fuller batch while more requests are arriving (default 2000)', 'MODELPLANE_MAX_QUEUE_DELAY_US'))
    .addOption(opt('--max-queue-size <n>', 'queued requests before 503 with Retry-After (default 512)', 'MODELPLANE_MAX_QUEUE_SIZE'))
    .addOption(opt('--max-body-bytes <n>', 'largest request body; larger answers 413 (default 268435456)', 'MODELPLANE_MAX_BODY_BYTES'))
    .addOption(opt('--execution-providers <list>', 'ordered onnxruntime execution providers, falling back along the list: cpu, cuda, tensorrt, webgpu (default cpu)', 'MODELPLANE_EXECUTION_PROVIDERS'))
    .addOption(opt('--graph-optimization-level <level>', 'disabled | basic | extended | all (default all)', 'MODELPLANE_GRAPH_OPTIMIZATION_LEVEL'))
    .addOption(opt('--intra-op-threads <n>', 'onnxruntime intra-op threads; 0 = the container CPU limit (default 0)', 'MODELPLANE_INTRA_OP_THREADS'))
    .addOption(opt('--gpu-mem-limit-bytes <n>', 'CUDA arena cap; 0 = none (logged as not applied where the binding cannot pass it)', 'MODELPLANE_GPU_MEM_LIMIT_BYTES'))
    .addOption(opt('--max-inflight-bytes <n>', 'budget on request body bytes held by requests in flight; past it 503 with Retry-After (default: a quarter of the container memory limit, else of the machine memory)', 'MODELPLANE_MAX_INFLIGHT_BYTES'))
    .addOption(opt('--headers-timeout-seconds <s>', 'longest time to receive a request\'s headers; then 408 and the connection closes (default 30)', 'MODELPLANE_HEADERS_TIMEOUT_SECONDS'))
    .addOption(opt('--body-timeout-seconds <s>', 'longest pause while a request body arrives; then 408 and the connection closes; 0 = none (default 30)', 'MODELPLANE_BODY_TIMEOUT_SECONDS'))
    .addOption(opt('--request-timeout-seconds <s>', 'longest time to receive a whole request, headers and body (inference time not included); 0 = none (default 300)', 'MODELPLANE_REQUEST_TIMEOUT_SECONDS'))
    .addOption(opt('--drain-seconds <s>', 'on SIGTERM, readiness turns 503 at once but new requests are still served this long, then the listener closes (default 5)', 'MODELPLANE_DRAIN_SECONDS'))
    .addOption(opt('--drain-timeout-seconds <s>', 'after the listener closes, longest wait for accepted requests to finish (default 30)', 'MODELPLANE_DRAIN_TIMEOUT_SECONDS'))
    .addOption(opt('--cache-dir <dir>', 'where a remote --model is downloaded (default /tmp/modelplane-models)', 'MODELPLANE_CACHE_DIR'))
    .addOption(opt('--sha256 <hex>', 'expected SHA-256 of a remote model', 'MODELPLANE_MODEL_SHA256'))
    .addOption(opt('--credentials-dir <dir>', 'credentials for a remote model (see README, Model sources)', 'MODELPLANE_CREDENTIALS_DIR'))
    .addOption(opt('--log-level <level>', 'error | warn | info | debug (default info)', 'MODELPLANE_LOG_LEVEL'))
    .action(async (options: Record<string, string | undefined>) => {
      const { parseServeConfig, ConfigError } = await import('../runtime/config.js');
      let cfg;
      try {
        cfg = parseServeConfig(options);
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`modelplane serve: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      // A pod's memory limit wants a flat footprint. Under a high request rate V8 grows its heap by about a
      // quarter before it settles, with no leak behind it (heap in use after a full GC stays flat). A smaller
      // old-generation growth step, with the bin's 2 MB semi-spaces, keeps resident memory within a few percent.
      (await import('node:v8')).setFlagsFromString('--heap-growing-percent=20');
      const { serveMain } = await import('../runtime/serve.js');
      await serveMain(cfg, version);
    });
}
