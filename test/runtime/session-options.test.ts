// --require-gpu down to onnxruntime: the session config entry that forbids CPU fallback per node, that it reaches
// onnxruntime through onnxruntime-node's `extra` options, and what the worker does when onnxruntime refuses.
import ort from 'onnxruntime-node';
import { simpleModel } from '../../examples/onnx-models.js';
import { createSession, DISABLE_CPU_EP_FALLBACK, sessionOptions, type CreateSession } from '../../runtime/session-options.js';
import { parseServeConfig } from '../../runtime/config.js';
import { instancePlan } from '../../runtime/serve.js';
import { modelFile, tempDir } from '../support/runtime-process.js';

const dir = tempDir();
afterAll(() => dir.remove());
const settings = { deviceId: 1, graphOptimizationLevel: 'all' as const, intraOpThreads: 2 };
const REFUSED = 'This session contains graph nodes that are assigned to the default CPU EP, but fallback to CPU EP has been explicitly disabled by the user.';

test('with no CPU fallback allowed, the options carry session.disable_cpu_ep_fallback = 1 in `extra`; otherwise no `extra` at all', () => {
  expect(DISABLE_CPU_EP_FALLBACK).toBe('session.disable_cpu_ep_fallback');
  expect(sessionOptions('cuda', settings, true)).toEqual({
    executionProviders: [{ name: 'cuda', deviceId: 1 }], graphOptimizationLevel: 'all', intraOpNumThreads: 2, logSeverityLevel: 3,
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  });
  expect('extra' in sessionOptions('cuda', settings)).toBe(false);
  expect(sessionOptions('cpu', settings).executionProviders).toEqual(['cpu']);
});

test('onnxruntime-node passes the entry to onnxruntime: a CPU-only session with it is refused for its CPU nodes', async () => {
  const path = modelFile(dir.path, 'simple', simpleModel());
  await expect(ort.InferenceSession.create(path, sessionOptions('cpu', settings, true))).rejects.toThrow(/fallback to CPU EP has been explicitly disabled|disabled fallback to the CPU EP/);
  const session = await ort.InferenceSession.create(path, sessionOptions('cpu', settings));
  await session.release();
});

describe('createSession', () => {
  /** A stand-in for onnxruntime: records the options of each call; `fails` decides what a call throws. */
  function fake(fails: (options: ort.InferenceSession.SessionOptions) => string | undefined) {
    const calls: ort.InferenceSession.SessionOptions[] = [];
    const create: CreateSession = async (_path, options) => {
      calls.push(options);
      const error = fails(options);
      if (error) throw new Error(error);
      return { release: async () => {} } as unknown as ort.InferenceSession;
    };
    return { calls, create };
  }
  const strict = (o: ort.InferenceSession.SessionOptions) => (o.extra as { session?: Record<string, string> } | undefined)?.session?.disable_cpu_ep_fallback === '1';

  test('--require-gpu on cuda: the session is asked for with no CPU fallback first; every node on the GPU says so', async () => {
    const f = fake(() => undefined);
    const r = await createSession(f.create, 'm.onnx', 'cuda', { ...settings, requireGpu: true });
    expect(r.nodesOnCpu).toBe(false);
    expect(f.calls.map(strict)).toEqual([true]);
  });

  test("onnxruntime's refusal for nodes on CPU: created again without the entry, and nodesOnCpu says so", async () => {
    const f = fake((o) => (strict(o) ? REFUSED : undefined));
    const r = await createSession(f.create, 'm.onnx', 'cuda', { ...settings, requireGpu: true });
    expect(r.nodesOnCpu).toBe(true);
    expect(f.calls.map(strict)).toEqual([true, false]);
  });

  test('any other failure of the GPU provider is its own, and is not retried', async () => {
    const f = fake(() => 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
    await expect(createSession(f.create, 'm.onnx', 'cuda', { ...settings, requireGpu: true })).rejects.toThrow(/Failed to load shared library/);
    expect(f.calls).toHaveLength(1);
  });

  test('without --require-gpu, or on the CPU provider, onnxruntime is asked once with no entry', async () => {
    for (const [provider, requireGpu] of [['cuda', false], ['cpu', true], ['cpu', false]] as const) {
      const f = fake(() => undefined);
      const r = await createSession(f.create, 'm.onnx', provider, { ...settings, requireGpu });
      expect({ provider, requireGpu, nodesOnCpu: r.nodesOnCpu, strict: f.calls.map(strict) }).toEqual({ provider, requireGpu, nodesOnCpu: undefined, strict: [false] });
    }
  });
});

test('--require-gpu reaches every instance', () => {
  const plan = instancePlan(parseServeConfig({ model: 'm.onnx', executionProviders: 'cuda,cpu', requireGpu: true, instances: '2', devices: '0,1' }), 4);
  expect(plan.map((p) => [p.executionProviders, p.requireGpu])).toEqual([[['cuda'], true], [['cuda'], true]]);
  expect(instancePlan(parseServeConfig({ model: 'm.onnx' }), 4)[0].requireGpu).toBe(false);
});
