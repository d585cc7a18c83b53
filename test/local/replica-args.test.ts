// A replica runs exactly the `modelplane serve` arguments the operator puts into the runtime container, except
// the model path (the local copy) and where it listens.
import { buildDeployment } from '../../operator/resources/deployment.js';
import { replicaArgs, LOCAL_CONFIG } from '../../local/replica-args.js';
import { md } from '../operator/resources/fixtures.js';

const flags = (argv: string[]) => {
  const out = new Map<string, string>();
  for (let i = 1; i < argv.length; i++) {
    // A switch (--require-gpu) has no value of its own.
    const value = argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : '';
    out.set(argv[i - (value === '' ? 0 : 1)], value);
  }
  return out;
};

test.each([
  ['defaults', { model: { uri: 'https://models.example.com/resnet.onnx' } }],
  ['batching, threads from the CPU limit, queue size', { model: { uri: 'file:///m/r.onnx', servedName: 'resnet-v2' }, resources: { limits: { cpu: '3' } }, runtime: { batching: { maxBatchSize: 8, maxQueueDelayMicroseconds: 500 }, maxQueueSize: 64, graphOptimizationLevel: 'basic' } }],
  ['a GPU', { model: { uri: 's3://bucket/r.onnx' }, gpu: { count: 1 } }],
  ['a generative model with the engine\'s bounds', { model: { uri: 'file:///m/llm/model.onnx' }, runtime: { generation: { maxNumSeqs: 4, maxModelLen: 512, maxKvCacheBytes: 1 << 28 } } }],
])('%s: the container args with a local model, port 0 and the loopback host', (_what, spec) => {
  const m = md(spec);
  const container = flags(buildDeployment(m, LOCAL_CONFIG).spec!.template.spec!.containers[0].args!);
  const local = flags(replicaArgs(m, '/cache/abc/model.onnx'));
  expect(replicaArgs(m, '/x')[0]).toBe('serve');
  expect(local.get('--model')).toBe('/cache/abc/model.onnx');
  expect(local.get('--http-port')).toBe('0');
  expect(local.get('--host')).toBe('127.0.0.1');
  // Replicas share one machine: no gRPC listener (the pods' is on 9000).
  expect(local.has('--grpc-port')).toBe(false);
  expect(container.get('--grpc-port')).toBe('9000');
  expect(local.get('--drain-seconds')).toBe('0');
  for (const f of ['--model', '--http-port', '--host', '--grpc-port', '--drain-seconds']) {
    local.delete(f);
    container.delete(f);
  }
  expect(local).toEqual(container);
  const g = m.spec.runtime.generation;
  if (g) expect([local.get('--max-num-seqs'), local.get('--max-model-len'), local.get('--max-kv-cache-bytes')]).toEqual([g.maxNumSeqs, g.maxModelLen, g.maxKvCacheBytes].map(String));
});
