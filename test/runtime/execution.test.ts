// How requests reach the model, on real processes: batching only when asked for and only where dimension 0 is a
// batch, every caller getting its own answer; model instances; an honest execution provider.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixedBatchModel, rowCenteringModel, sequenceCenteringModel, simpleModel } from '../../examples/onnx-models.js';
import { infer, metricValue, modelFile, startRuntime, tempDir } from '../support/runtime-process.js';

const dir = tempDir();
afterAll(() => dir.remove());

const WIDTH = 4;

/** Caller c's rows: distinct for every caller, row and column. */
function rowsOf(c: number, n: number): number[] {
  return Array.from({ length: n * WIDTH }, (_, k) => c * 7 + Math.floor(k / WIDTH) * 1.5 + (k % WIDTH) * 0.25 + ((c * k) % 5));
}

/** IN - mean(IN, axis), computed here for [n, 4] data. */
function centered(data: number[], n: number, axis: 0 | 1): number[] {
  return data.map((v, k) => {
    const row = Math.floor(k / WIDTH);
    const col = k % WIDTH;
    const peers = axis === 0 ? Array.from({ length: n }, (_, i) => data[i * WIDTH + col]) : data.slice(row * WIDTH, row * WIDTH + WIDTH);
    return v - peers.reduce((a, b) => a + b, 0) / peers.length;
  });
}

function expectClose(actual: number[], expected: number[], who: string): void {
  expect({ who, length: actual.length }).toEqual({ who, length: expected.length });
  const worst = Math.max(0, ...actual.map((v, i) => Math.abs(v - expected[i])));
  expect({ who, worst: worst < 1e-4 ? 'close' : worst }).toEqual({ who, worst: 'close' });
}

/** 24 concurrent callers with 1..6 rows each, for several rounds; every answer checked against its own rows. */
async function callersGetTheirOwnAnswers(url: string, model: string, axis: 0 | 1): Promise<void> {
  for (let round = 0; round < 4; round++) {
    const callers = Array.from({ length: 24 }, (_, c) => {
      const n = 1 + ((c + round) % 6);
      const data = rowsOf(c + round * 24, n);
      return { n, data, body: { id: `r${round}c${c}`, inputs: [{ name: 'IN', shape: [n, WIDTH], datatype: 'FP32', data }] } };
    });
    const answers = await Promise.all(callers.map((c) => infer(url, model, c.body)));
    answers.forEach((a, c) => {
      expect({ caller: c, status: a.status, id: a.json.id, shape: a.json.outputs?.[0]?.shape }).toEqual({ caller: c, status: 200, id: `r${round}c${c}`, shape: [callers[c].n, WIDTH] });
      expectClose(a.json.outputs[0].data, centered(callers[c].data, callers[c].n, axis), `round ${round} caller ${c}`);
    });
  }
}

test('a sequence-axis model served with default flags: 24 concurrent callers each get their own answer', async () => {
  const rt = await startRuntime(['--model', modelFile(dir.path, 'sequence', sequenceCenteringModel()), '--log-level', 'warn']);
  try {
    await callersGetTheirOwnAnswers(rt.url, 'sequence', 0);
    const config = await (await fetch(`${rt.url}/v2/models/sequence/config`)).json();
    expect(config.max_batch_size).toBe(0);
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    // Batching is off: one run per request (the warm-up run is not counted).
    expect(metricValue(metrics, 'modelplane_inference_batch_size_count')).toBe(96);
  } finally {
    await rt.stop();
  }
});

test('short runs of a small model compute on the event loop, larger ones on a session worker: every caller gets its own answer', async () => {
  // A limit no warm-up on a busy machine misses (the default, 200 us, is the serve contract's to check).
  const rt = await startRuntime(['--model', modelFile(dir.path, 'sequence', sequenceCenteringModel()), '--inline-run-max-us', '100000', '--log-level', 'info']);
  try {
    // 1 to 6 rows against a warm-up of one: up to 4 rows may run on the event loop, 5 and 6 go to the worker.
    await callersGetTheirOwnAnswers(rt.url, 'sequence', 0);
    expect(rt.logLines().find((l) => l.message === 'short runs on the event loop')).toMatchObject({ maxUs: 100000, warmupElements: WIDTH });
    const meta = await (await fetch(`${rt.url}/v2/models/sequence`)).json();
    expect(meta.parameters).toEqual({ execution_provider: 'cpu', instances: 1, inline_run_max_us: 100000 });
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    const onLoop = metricValue(metrics, 'modelplane_inference_runs_total', 'place="event_loop"');
    const onWorker = metricValue(metrics, 'modelplane_inference_runs_total', 'place="session_worker"');
    expect(onLoop).toBeGreaterThan(0);
    expect(onWorker).toBeGreaterThanOrEqual(4 * 8);
    expect(onLoop + onWorker).toBe(96);
  } finally {
    await rt.stop();
  }
  // --inline-run-max-us 0: every run on a session worker.
  const off = await startRuntime(['--model', modelFile(dir.path, 'sequence', sequenceCenteringModel()), '--inline-run-max-us', '0', '--log-level', 'info']);
  try {
    await callersGetTheirOwnAnswers(off.url, 'sequence', 0);
    expect(off.logLines().find((l) => l.message === 'every run on a session worker')).toMatchObject({ reason: '--inline-run-max-us is 0' });
    expect((await (await fetch(`${off.url}/v2/models/sequence`)).json()).parameters.inline_run_max_us).toBe(0);
    const metrics = await (await fetch(`${off.url}/metrics`)).text();
    expect([metricValue(metrics, 'modelplane_inference_runs_total', 'place="event_loop"'), metricValue(metrics, 'modelplane_inference_runs_total', 'place="session_worker"')]).toEqual([0, 96]);
  } finally {
    await off.stop();
  }
});

test('a per-row model with batching asked for, on two instances: batches form and every caller gets its own rows', async () => {
  const rt = await startRuntime(['--model', modelFile(dir.path, 'rows', rowCenteringModel()), '--max-batch-size', '32', '--max-queue-delay-us', '20000', '--instances', '2', '--log-level', 'warn']);
  try {
    await callersGetTheirOwnAnswers(rt.url, 'rows', 1);
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    const runs = metricValue(metrics, 'modelplane_inference_batch_size_count');
    expect(metricValue(metrics, 'modelplane_inference_batch_size_sum')).toBe(4 * Array.from({ length: 24 }, (_, c) => 1 + (c % 6)).reduce((a, b) => a + b, 0));
    expect(runs).toBeLessThan(96);
    const config = await (await fetch(`${rt.url}/v2/models/rows/config`)).json();
    expect(config).toMatchObject({ max_batch_size: 32, input: [{ name: 'IN', dims: [WIDTH] }], dynamic_batching: {} });
    const meta = await (await fetch(`${rt.url}/v2/models/rows`)).json();
    // Batching is on: every run goes to a session worker.
    expect(meta.parameters).toEqual({ execution_provider: 'cpu', instances: 2, inline_run_max_us: 0 });
    expect(metricValue(metrics, 'modelplane_inference_runs_total', 'place="event_loop"')).toBe(0);
    expect(metricValue(metrics, 'modelplane_execution_provider_info', 'provider="cpu"')).toBe(1);
  } finally {
    await rt.stop();
  }
});

test('batching asked for on a model with a fixed first dimension: refuses to start, saying why', async () => {
  const termination = join(dir.path, 'termination-fixed');
  writeFileSync(termination, ''); // as the kubelet provides it
  const rt = await startRuntime(['--model', modelFile(dir.path, 'fixed', fixedBatchModel()), '--max-batch-size', '8'], { waitReady: false, env: { MODELPLANE_TERMINATION_LOG: termination } });
  expect(await rt.exited).not.toBe(0);
  const error = rt.logLines().find((l) => l.level === 'error');
  expect(error).toMatchObject({ reason: 'BatchingUnsupported', message: expect.stringMatching(/--max-batch-size 8 asks for dynamic batching, but x has a fixed first dimension \(1\)/) });
  expect(readFileSync(termination, 'utf8')).toMatch(/^BatchingUnsupported: --max-batch-size 8 .*--max-batch-size 1/);
  // Without batching the same model serves.
  const served = await startRuntime(['--model', modelFile(dir.path, 'fixed', fixedBatchModel()), '--log-level', 'warn']);
  try {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => infer(served.url, 'fixed', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [i, -i, i, -i] }] })));
    answers.forEach((a, i) => expect(a.json.outputs[0].data).toEqual([i, 0, i, 0]));
  } finally {
    await served.stop();
  }
});

test('--require-gpu where CUDA cannot be used: exits non-zero with the reason, never serving on CPU', async () => {
  const termination = join(dir.path, 'termination-gpu');
  writeFileSync(termination, '');
  const rt = await startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--execution-providers', 'cuda,cpu', '--require-gpu'], { waitReady: false, env: { MODELPLANE_TERMINATION_LOG: termination } });
  expect(await rt.exited).toBe(1);
  const message = readFileSync(termination, 'utf8');
  expect(message).toMatch(/^ModelLoadFailed: GPU requested but the CUDA execution provider is unavailable: cuda: \S/);
  expect(rt.logLines().find((l) => l.level === 'error')).toMatchObject({ reason: 'ModelLoadFailed', message: message.replace(/^ModelLoadFailed: /, '') });
  expect(rt.logLines().some((l) => l.message === 'model ready')).toBe(false);
});

test('without --require-gpu the same list falls back to CPU and says which provider serves', async () => {
  const rt = await startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--execution-providers', 'cuda,cpu', '--log-level', 'info']);
  try {
    expect(rt.logLines().find((l) => l.message === 'execution provider unavailable, falling back')).toMatchObject({ provider: 'cuda' });
    const meta = await (await fetch(`${rt.url}/v2/models/simple`)).json();
    expect(meta.parameters).toEqual({ execution_provider: 'cpu', instances: 1, inline_run_max_us: expect.any(Number) });
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    expect(metrics).toMatch(/^modelplane_execution_provider_info\{model="simple",provider="cpu"\} 1$/m);
    expect(metrics).not.toMatch(/provider="cuda"/);
  } finally {
    await rt.stop();
  }
});
