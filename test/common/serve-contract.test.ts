// The one contract between the operator and the runtime: a spec renders to `serve` argv, the CLI's own options
// parse that argv, and the runtime's config is what the spec asked for.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseServeOptions } from '../../cli/serve.js';
import { ALL_SERVE_FLAGS, flagName, GENERATION_DEFAULTS, GENERATION_FLAGS, GENERATION_LIMITS, SERVE_DEFAULTS, SERVE_FLAGS, serveArgv, type GenerationSettings, type ServeSettings } from '../../common/serve-contract.js';
import { resolveConfig } from '../../operator/resources/config.js';
import { serveArgs } from '../../operator/resources/deployment.js';
import { planModelSource } from '../../operator/resources/model-source.js';
import { parseServeConfig, type ServeConfig } from '../../runtime/config.js';
import { CFG, md } from '../operator/resources/fixtures.js';
import { CLI, REPO } from '../support/runtime-process.js';

const cfg = resolveConfig(CFG);

/** What `modelplane serve` ends up with when started with argv (after the program name). */
function parsedArgv(argv: string[]): ServeConfig {
  expect(argv[0]).toBe('serve');
  return parseServeConfig(parseServeOptions(argv.slice(1)));
}

/** The runtime's config for a ModelDeployment spec, through the Deployment's args. */
function configFor(spec: Record<string, unknown>): ServeConfig {
  const m = md(spec);
  return parsedArgv(serveArgs(m, planModelSource(m.spec.model.uri, cfg.pvcRoot, m.spec.model.sha256), cfg));
}

const defaults: ServeConfig = {
  model: '/models/resnet.onnx',
  name: 'resnet',
  host: '0.0.0.0',
  httpPort: 8080,
  grpcPort: 9000,
  maxBatchSize: 1,
  maxQueueDelayUs: 2000,
  maxQueueSize: 512,
  maxBodyBytes: 256 * 1024 * 1024,
  executionProviders: ['cpu'],
  requireGpu: false,
  instances: 1,
  devices: [0],
  graphOptimizationLevel: 'all',
  intraOpThreads: 0,
  inlineRunMaxUs: 200,
  drainTimeoutSeconds: 45,
  drainSeconds: 5,
  // A quarter of this machine's (or container's) memory.
  maxInflightBytes: expect.any(Number) as unknown as number,
  headersTimeoutSeconds: 30,
  bodyTimeoutSeconds: 30,
  requestTimeoutSeconds: 300,
  logLevel: 'info',
  cacheDir: '/tmp/modelplane-models',
  sha256: undefined,
  credentialsDir: undefined,
  optimizedModelDir: undefined,
  warmup: undefined,
  maxNumSeqs: 32,
  maxModelLen: 0,
  // A quarter of this machine's (or container's) memory.
  maxKvCacheBytes: expect.any(Number) as unknown as number,
};

const SPECS: [string, Record<string, unknown>, Partial<ServeConfig>][] = [
  ['the smallest spec: batching off, one CPU instance', { model: { uri: 's3://models/resnet.onnx' } }, {}],
  ['batching on', { model: { uri: 's3://models/resnet.onnx' }, runtime: { batching: { maxBatchSize: 16 } } }, { maxBatchSize: 16, maxQueueDelayUs: 1000 }],
  ['batching at 1 is off', { model: { uri: 's3://models/resnet.onnx' }, runtime: { batching: { maxBatchSize: 1, maxQueueDelayMicroseconds: 9 } } }, {}],
  ['a served name, a pvc model and CPU instances sharing the CPU limit', {
    model: { uri: 'pvc://store/resnet.onnx', servedName: 'rn' },
    resources: { limits: { cpu: '4', memory: '1Gi' } },
    runtime: { instances: 2, graphOptimizationLevel: 'basic', maxQueueSize: 64 },
  }, { model: '/mnt/pvc/store/resnet.onnx', name: 'rn', instances: 2, intraOpThreads: 2, graphOptimizationLevel: 'basic', maxQueueSize: 64 }],
  ['explicit intra-op threads win', { model: { uri: 's3://models/resnet.onnx' }, resources: { limits: { cpu: '8' } }, runtime: { instances: 2, intraOpThreads: 3 } }, { instances: 2, intraOpThreads: 3 }],
  ['one GPU: CUDA required', { model: { uri: 's3://models/resnet.onnx' }, gpu: {} }, { executionProviders: ['cuda', 'cpu'], requireGpu: true, devices: [0] }],
  ['four GPUs: an instance on each', { model: { uri: 's3://models/resnet.onnx' }, gpu: { count: 4 }, resources: { requests: { cpu: '8' } } }, {
    executionProviders: ['cuda', 'cpu'], requireGpu: true, instances: 4, devices: [0, 1, 2, 3], intraOpThreads: 2,
  }],
  ['inline warm-up inputs: read from the file a downward API volume makes of the pod annotation', {
    model: { uri: 's3://models/resnet.onnx' }, runtime: { warmup: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [0.5] }] } },
  }, { warmup: '/etc/modelplane/samples/warmup.json' }],
  ['a remote warm-up file: read where its fetch init container left it', { model: { uri: 's3://models/resnet.onnx' }, runtime: { warmup: { uri: 'https://h/samples/warmup.json' } } }, { warmup: '/samples/warmup/warmup.json' }],
  ['a generative model with the engine\'s bounds', {
    model: { uri: 'pvc://store/llm/model.onnx' }, resources: { limits: { memory: '8Gi' } }, runtime: { generation: { maxNumSeqs: 8, maxModelLen: 2048, maxKvCacheBytes: 2 ** 31 } },
  }, { model: '/mnt/pvc/store/llm/model.onnx', maxNumSeqs: 8, maxModelLen: 2048, maxKvCacheBytes: 2 ** 31 }],
  ['two GPUs, two instances on each', { model: { uri: 's3://models/resnet.onnx' }, gpu: { count: 2 }, runtime: { instances: 2, executionProviders: ['cuda'] } }, {
    executionProviders: ['cuda'], requireGpu: true, instances: 4, devices: [0, 1],
  }],
];

describe('spec -> serve args -> parsed config', () => {
  test.each(SPECS)('%s', (_name, spec, expected) => {
    expect(configFor(spec)).toEqual({ ...defaults, ...expected });
  });
});

test('every setting survives serveArgv and the CLI parser, and an omitted one takes the runtime default', () => {
  const all: Required<ServeSettings> = {
    model: 'https://example.com/m.onnx', name: 'm', host: '127.0.0.1', httpPort: 9000, grpcPort: 9001, maxBatchSize: 8, maxQueueDelayUs: 500,
    maxQueueSize: 99, maxBodyBytes: 4096, executionProviders: ['cuda', 'cpu'], requireGpu: true, instances: 3, devices: [1, 0],
    graphOptimizationLevel: 'extended', intraOpThreads: 5, inlineRunMaxUs: 150, drainTimeoutSeconds: 7, cacheDir: '/cache',
    maxInflightBytes: 1 << 20, headersTimeoutSeconds: 11, bodyTimeoutSeconds: 12, requestTimeoutSeconds: 13, drainSeconds: 2,
    sha256: 'a'.repeat(64), credentialsDir: '/creds', optimizedModelDir: '/optimized', warmup: '/samples/warmup.json', logLevel: 'debug',
    maxNumSeqs: 7, maxModelLen: 300, maxKvCacheBytes: 1 << 24,
  };
  expect(Object.keys(all).sort()).toEqual(Object.keys(ALL_SERVE_FLAGS).sort());
  const parsed = parsedArgv(serveArgv(all));
  for (const key of Object.keys(all) as (keyof ServeSettings)[]) expect({ key, value: parsed[key] }).toEqual({ key, value: all[key] });
  const bare = parsedArgv(serveArgv({ model: 'm.onnx' }));
  for (const [key, value] of Object.entries({ ...SERVE_DEFAULTS, ...GENERATION_DEFAULTS })) expect({ key, value: bare[key as keyof ServeConfig] }).toEqual({ key, value });
});

describe('the range a ModelDeployment may ask of each generation setting is one serve accepts', () => {
  const keys = Object.keys(GENERATION_LIMITS) as (keyof GenerationSettings)[];
  test.each(keys)('%s', (key) => {
    const { min, max } = GENERATION_LIMITS[key];
    const parse = (n: number) => parseServeConfig(parseServeOptions(['--model', 'm.onnx', flagName(key), String(n)]))[key];
    expect([parse(min), parse(max)]).toEqual([min, max]);
  });
  test('every generation flag has a range', () => {
    expect(keys.sort()).toEqual(Object.keys(GENERATION_FLAGS).sort());
  });
});

test('the runtime page of the manual (docs/runtime.md) documents every serve flag', () => {
  const readme = readFileSync(join(REPO, 'docs', 'runtime.md'), 'utf8');
  const synopsis = /```(?:text)?\nmodelplane serve ([\s\S]*?)```/.exec(readme)![1];
  const documented = (k: keyof ServeSettings) => synopsis.includes(flagName(k)) || readme.includes(`\`${flagName(k)}`);
  expect((Object.keys(SERVE_FLAGS) as (keyof ServeSettings)[]).filter((k) => !documented(k))).toEqual([]);
  expect(synopsis).toContain('[--max-batch-size 1]');
});

test('`modelplane serve --help` lists every flag with its environment variable, and batching off by default', () => {
  const help = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  for (const f of Object.values(SERVE_FLAGS)) {
    expect(help).toContain(f.flags);
    expect(help).toContain(`(env: ${f.env})`);
  }
  expect(help).toContain('(default: 1, off)');
});

describe('flag refusals name the flag', () => {
  test.each([
    [['--require-gpu'], /--require-gpu: --execution-providers cpu has no GPU provider \(cuda\)/],
    [['--require-gpu', 'maybe', '--execution-providers', 'cuda'], /--require-gpu: must be true or false, got "maybe"/],
    [['--instances', '0'], /--instances: must be an integer from 1 to 64, got "0"/],
    [['--devices', '0,gpu1'], /--devices: "gpu1" is not a device id/],
    [['--devices', '1,1'], /--devices: 1,1 names a device twice/],
    [['--max-batch-size', '0'], /--max-batch-size: must be an integer from 1 to 4096/],
  ])('%j', (args, message) => {
    expect(() => parseServeConfig(parseServeOptions(['--model', 'm.onnx', ...args]))).toThrow(message);
  });
  test('--require-gpu false is off', () => {
    expect(parseServeConfig(parseServeOptions(['--model', 'm.onnx', '--require-gpu', 'false'])).requireGpu).toBe(false);
  });
});
