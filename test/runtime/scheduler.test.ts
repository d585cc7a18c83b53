// The pure parts of batching and the scheduler's decisions, with a model runner that records its calls.
import { batchKey, concatInputs, planBatch, splitOutputs, type OutputTensor } from '../../runtime/batching.js';
import { fromHalf, toHalf } from '../../runtime/datatypes.js';
import { RuntimeError } from '../../runtime/errors.js';
import type { InferRequest } from '../../runtime/request.js';
import { Scheduler, type InlineRunner, type RunPlace } from '../../runtime/scheduler.js';
import type { ModelSignature } from '../../runtime/signature.js';
import type { WireTensor } from '../../runtime/worker-protocol.js';

const sig: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', ortType: 'float32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', ortType: 'float32', shape: [-1, 2] }],
};

function req(rows: number, start: number, width = 2): InferRequest {
  const data = Float32Array.from({ length: rows * width }, (_, i) => start + i);
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, width], payload: { bytes: new Uint8Array(data.buffer) } }],
    outputs: [{ name: 'y', binary: false }],
    batchSize: rows,
  };
}

/** Doubles its input; each run waits until released, so tests decide when the model is busy. */
function fakeRunner() {
  const calls: number[][] = [];
  const waiting: (() => void)[] = [];
  return {
    calls,
    releaseAll: () => waiting.splice(0).forEach((f) => f()),
    run: (inputs: WireTensor[]) => {
      const x = new Float32Array(inputs[0].buffer!, inputs[0].byteOffset, inputs[0].byteLength! / 4);
      calls.push([...inputs[0].dims]);
      return new Promise<{ outputs: WireTensor[]; computeSeconds: number }>((resolve) => {
        waiting.push(() => resolve({ outputs: [{ name: 'y', ortType: 'float32', dims: inputs[0].dims, buffer: x.map((v) => v * 2).buffer }], computeSeconds: 0.001 }));
      });
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('planBatch', () => {
  test.each([
    ['empty queue', [], 8, []],
    ['compatible requests fill up to the limit', [{ key: 'a', rows: 3 }, { key: 'a', rows: 3 }, { key: 'a', rows: 3 }], 8, [0, 1]],
    ['other shapes are skipped, later matches taken', [{ key: 'a', rows: 1 }, { key: 'b', rows: 1 }, { key: 'a', rows: 1 }], 8, [0, 2]],
    ['an unbatchable head runs alone', [{ key: undefined, rows: 1 }, { key: 'a', rows: 1 }], 8, [0]],
    ['batching off', [{ key: 'a', rows: 1 }, { key: 'a', rows: 1 }], 1, [0]],
    ['a head over the limit runs alone', [{ key: 'a', rows: 20 }, { key: 'a', rows: 1 }], 8, [0]],
  ])('%s', (_n, queue, max, expected) => {
    expect(planBatch(queue as { key: string | undefined; rows: number }[], max as number)).toEqual(expected);
  });
});

test('batchKey: same non-batch dimensions share a key; no shared batch size means none', () => {
  expect(batchKey(req(1, 0))).toBe(batchKey(req(5, 0)));
  expect(batchKey(req(1, 0, 3))).not.toBe(batchKey(req(1, 0)));
  expect(batchKey({ ...req(1, 0), batchSize: undefined })).toBeUndefined();
});

test('concatInputs and splitOutputs round-trip rows to their requests', () => {
  const [t] = concatInputs([req(1, 0), req(2, 10)], sig);
  expect(t.dims).toEqual([3, 2]);
  expect([...new Float32Array(t.buffer!)]).toEqual([0, 1, 10, 11, 12, 13]);
  const parts = splitOutputs([{ name: 'y', ortType: 'float32', dims: [3, 2], buffer: t.buffer }], [1, 2]);
  expect(parts.map((p) => ({ shape: p[0].shape, data: [...(p[0].data as Float32Array)] }))).toEqual([
    { shape: [1, 2], data: [0, 1] },
    { shape: [2, 2], data: [10, 11, 12, 13] },
  ]);
  expect(() => splitOutputs([{ name: 'y', ortType: 'float32', dims: [1, 6], buffer: t.buffer }], [1, 2])).toThrow(/first dimension 1, not the batch's 3/);
});

test('concatInputs packs every numeric input into one buffer at 8-byte aligned offsets, from the allocator given', () => {
  const two: ModelSignature = {
    inputs: [
      { name: 'a', datatype: 'UINT8', ortType: 'uint8', shape: [-1, 3] },
      { name: 's', datatype: 'BYTES', ortType: 'string', shape: [-1] },
      { name: 'b', datatype: 'FP64', ortType: 'float64', shape: [-1, 1] },
    ],
    outputs: [],
  };
  const r = (k: number): InferRequest => ({
    inputs: [
      { name: 'a', datatype: 'UINT8', shape: [1, 3], payload: { bytes: Uint8Array.of(k, k + 1, k + 2) } },
      { name: 's', datatype: 'BYTES', shape: [1], payload: { strings: [`s${k}`] } },
      { name: 'b', datatype: 'FP64', shape: [1, 1], payload: { bytes: new Uint8Array(Float64Array.of(k / 2).buffer) } },
    ],
    outputs: [],
    batchSize: 1,
  });
  const reused = new ArrayBuffer(64);
  new Uint8Array(reused).fill(0xee);
  const asked: number[] = [];
  const [a, s, b] = concatInputs([r(1), r(10)], two, (n) => (asked.push(n), reused));
  expect(asked).toEqual([24]);
  expect([a.buffer, b.buffer]).toEqual([reused, reused]);
  expect([a.byteOffset, a.byteLength, b.byteOffset, b.byteLength]).toEqual([0, 6, 8, 16]);
  expect([...new Uint8Array(reused, 0, 6)]).toEqual([1, 2, 3, 10, 11, 12]);
  expect([...new Float64Array(reused, 8, 2)]).toEqual([0.5, 5]);
  expect(s).toEqual({ name: 's', ortType: 'string', dims: [2], strings: ['s1', 's10'] });
  const [out] = splitOutputs([{ name: 'b', ortType: 'float64', dims: [2, 1], buffer: reused, byteOffset: 8, byteLength: 16 }], [1, 1]).map((o) => o[0]);
  expect([...(out.data as Float64Array)]).toEqual([0.5]);
});

test('concatInputs hands a lone request\'s exclusively held inputs over as they are, aligned or not, and copies the rest', () => {
  const three: ModelSignature = {
    inputs: [
      { name: 'a', datatype: 'FP32', ortType: 'float32', shape: [-1, 2] },
      { name: 'b', datatype: 'FP32', ortType: 'float32', shape: [-1, 2] },
      { name: 'c', datatype: 'FP32', ortType: 'float32', shape: [-1, 2] },
    ],
    outputs: [],
  };
  // One body holding three inputs: a at an aligned offset, b at an unaligned one; c is a view the request does not own.
  const body = new Uint8Array(64);
  new Float32Array(body.buffer, 8, 2).set([1, 2]);
  new Uint8Array(body.buffer, 17, 8).set(new Uint8Array(Float32Array.of(3, 4).buffer));
  const shared = new Float32Array([5, 6]);
  const lone = (): InferRequest => ({
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [1, 2], payload: { bytes: body.subarray(8, 16), exclusive: true } },
      { name: 'b', datatype: 'FP32', shape: [1, 2], payload: { bytes: body.subarray(17, 25), exclusive: true } },
      { name: 'c', datatype: 'FP32', shape: [1, 2], payload: { bytes: new Uint8Array(shared.buffer) } },
    ],
    outputs: [],
    batchSize: 1,
  });
  const asked: number[] = [];
  const [a, b, c] = concatInputs([lone()], three, (n) => (asked.push(n), new ArrayBuffer(n)));
  expect(asked).toEqual([8]);
  expect(a.buffer).toBe(body.buffer);
  expect([a.byteOffset, a.byteLength]).toEqual([8, 8]);
  // Unaligned bytes go over where they lie too; the worker copies them to an aligned buffer of its own.
  expect(b.buffer).toBe(body.buffer);
  expect([b.byteOffset, b.byteLength]).toEqual([17, 8]);
  expect(c.buffer).not.toBe(shared.buffer);
  const view = (t: WireTensor) => [...new Float32Array(t.buffer!.slice(t.byteOffset!, t.byteOffset! + t.byteLength!))];
  expect([view(a), view(b), view(c)]).toEqual([[1, 2], [3, 4], [5, 6]]);
  // In a batch every input is copied: a request's own buffers stay whole for a one-by-one retry.
  const [ab] = concatInputs([lone(), lone()], three);
  expect(ab.buffer).not.toBe(body.buffer);
  expect(view(ab)).toEqual([1, 2, 1, 2]);
});

test('FP16 conversion', () => {
  for (const [f, h] of [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [0, 0], [Infinity, 0x7c00], [1e-8, 0]] as const) {
    expect(toHalf(f)).toBe(h);
  }
  expect(fromHalf(0x3555)).toBeCloseTo(1 / 3, 3);
  expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
});

describe('Scheduler', () => {
  const observer = { queueSeconds: () => {}, batch: () => {} };

  test('requests that arrive while the model is busy share the next run, and each gets its rows', async () => {
    const runner = fakeRunner();
    const s = new Scheduler(runner, sig, { maxBatchSize: 8, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer);
    const first = s.submit(req(1, 0));
    const rest = [s.submit(req(1, 100)), s.submit(req(2, 200)), s.submit(req(1, 300))];
    await tick();
    expect(runner.calls).toEqual([[1, 2]]);
    runner.releaseAll();
    await first;
    await tick();
    expect(runner.calls).toEqual([[1, 2], [4, 2]]);
    runner.releaseAll();
    const answers = await Promise.all(rest);
    expect(answers.map((a) => [...(a[0].data as Float32Array)])).toEqual([[200, 202], [400, 402, 404, 406], [600, 602]]);
  });

  test('a full queue refuses at once with QueueFull and Retry-After', async () => {
    const runner = fakeRunner();
    const s = new Scheduler(runner, sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 1 }, observer);
    const running = s.submit(req(1, 0));
    const queued = s.submit(req(1, 1));
    const refused = await s.submit(req(1, 2)).catch((e: RuntimeError) => e);
    expect(refused).toBeInstanceOf(RuntimeError);
    expect((refused as RuntimeError).status).toBe(503);
    expect((refused as RuntimeError).headers['Retry-After']).toBe('1');
    runner.releaseAll();
    await running;
    await tick();
    runner.releaseAll();
    await queued;
  });

  test('with bodies still arriving it waits up to the queue delay for a fuller batch, never longer', async () => {
    const runner = fakeRunner();
    const s = new Scheduler(runner, sig, { maxBatchSize: 8, maxQueueDelayUs: 30_000, maxQueueSize: 10 }, observer);
    s.arriving = 1;
    const a = s.submit(req(1, 0));
    await tick();
    expect(runner.calls).toEqual([]);
    s.arriving = 0;
    const b = s.submit(req(1, 1));
    await tick();
    expect(runner.calls).toEqual([[2, 2]]);
    runner.releaseAll();
    await Promise.all([a, b]);
    s.arriving = 5;
    const c = s.submit(req(1, 2));
    await new Promise((r) => setTimeout(r, 60));
    expect(runner.calls).toEqual([[2, 2], [1, 2]]);
    runner.releaseAll();
    await c;
  });

  /**
   * Runs after a macrotask, recording each run's first input value and dims, and how many runs were in flight
   * at once; `fail` decides which runs throw and `mangle` which come back with outputs that do not split.
   */
  function autoRunner(opts: { fail?: (dims: number[], first: number) => boolean; mangle?: (dims: number[]) => boolean } = {}) {
    const log: { dims: number[]; first: number }[] = [];
    let inflight = 0;
    let maxInflight = 0;
    return {
      log,
      maxInflight: () => maxInflight,
      run: async (inputs: WireTensor[]) => {
        const x = new Float32Array(inputs[0].buffer!, inputs[0].byteOffset, inputs[0].byteLength! / 4);
        const dims = [...inputs[0].dims];
        log.push({ dims, first: x[0] });
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        await new Promise((r) => setTimeout(r, 2));
        inflight--;
        if (opts.fail?.(dims, x[0])) throw new Error(`cannot run ${x[0]}`);
        const outDims = opts.mangle?.(dims) ? [1, dims[0] * dims[1]] : dims;
        return { outputs: [{ name: 'y', ortType: 'float32', dims: outDims, buffer: x.map((v) => v * 2).buffer }], computeSeconds: 0.001 };
      },
    };
  }

  const data = (a: OutputTensor[]) => [...(a[0].data as Float32Array)];

  test('batching off: every request runs alone, one at a time, in the order it came', async () => {
    const runner = autoRunner();
    const s = new Scheduler(runner, sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer);
    const answers = await Promise.all([req(1, 0), req(3, 10), req(2, 20)].map((r) => s.submit(r)));
    expect(runner.log).toEqual([{ dims: [1, 2], first: 0 }, { dims: [3, 2], first: 10 }, { dims: [2, 2], first: 20 }]);
    expect(runner.maxInflight()).toBe(1);
    expect(answers.map(data)).toEqual([[0, 2], [20, 22, 24, 26, 28, 30], [40, 42, 44, 46]]);
  });

  test('a batch that fails is re-run request by request, in order, before the instance takes new work', async () => {
    const runner = autoRunner({ fail: (dims, first) => dims[0] > 1 || first === 100 });
    const fallbacks: unknown[] = [];
    const s = new Scheduler(runner, sig, { maxBatchSize: 8, maxQueueDelayUs: 0, maxQueueSize: 10 }, { ...observer, fallback: (...a) => fallbacks.push(a) });
    const head = s.submit(req(1, 0));
    const batch = [req(1, 100), req(1, 200), req(1, 300)].map((r) => s.submit(r).then(data, (e: RuntimeError) => e));
    await head;
    const late = s.submit(req(1, 400));
    const results = await Promise.all(batch);
    expect(results[0]).toBeInstanceOf(RuntimeError);
    expect((results[0] as RuntimeError).message).toMatch(/inference failed: cannot run 100/);
    expect(results.slice(1)).toEqual([[400, 402], [600, 602]]);
    expect(data(await late)).toEqual([800, 802]);
    expect(runner.log.map((l) => [l.dims[0], l.first])).toEqual([[1, 0], [3, 100], [1, 100], [1, 200], [1, 300], [1, 400]]);
    expect(runner.maxInflight()).toBe(1);
    // Counted and told with the model's own error; a request alone that fails is no fallback.
    expect(fallbacks).toEqual([[3, 'run_failed', 'cannot run 100']]);
  });

  test('outputs that do not split along dimension 0 are recomputed request by request, in order', async () => {
    const runner = autoRunner({ mangle: (dims) => dims[0] > 1 });
    const fallbacks: unknown[] = [];
    const s = new Scheduler(runner, sig, { maxBatchSize: 8, maxQueueDelayUs: 0, maxQueueSize: 10 }, { ...observer, fallback: (...a) => fallbacks.push(a) });
    const head = s.submit(req(1, 0));
    const batch = [req(2, 100), req(1, 200)].map((r) => s.submit(r));
    await head;
    const late = s.submit(req(1, 300));
    expect((await Promise.all(batch)).map(data)).toEqual([[200, 202, 204, 206], [400, 402]]);
    expect(data(await late)).toEqual([600, 602]);
    expect(runner.log.map((l) => [l.dims[0], l.first])).toEqual([[1, 0], [3, 100], [2, 100], [1, 200], [1, 300]]);
    expect(runner.maxInflight()).toBe(1);
    expect(fallbacks).toEqual([[2, 'outputs_not_split', expect.stringMatching(/first dimension 1, not the batch's 3/)]]);
  });

  test('with several instances, each run goes to an idle one', async () => {
    const a = fakeRunner();
    const b = fakeRunner();
    const s = new Scheduler([a, b], sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer);
    const first = [s.submit(req(1, 0)), s.submit(req(1, 10))];
    const third = s.submit(req(1, 20));
    await tick();
    expect([a.calls.length, b.calls.length, s.queued]).toEqual([1, 1, 1]);
    b.releaseAll();
    expect(data(await first[1])).toEqual([20, 22]);
    await tick();
    expect([a.calls.length, b.calls.length, s.queued]).toEqual([1, 2, 0]);
    a.releaseAll();
    b.releaseAll();
    expect((await Promise.all([first[0], third])).map(data)).toEqual([[0, 2], [40, 42]]);
  });
});

describe('Scheduler with a lane on the event loop', () => {
  /** A lane that triples its input at once (so its answers differ from the worker's doubling), for requests of up to `maxRows` rows. */
  function fakeLane(maxRows: number, opts: { fail?: boolean } = {}) {
    const lane = {
      busy: false,
      runs: [] as number[],
      accepts: (r: InferRequest) => !lane.busy && r.inputs[0].shape[0] <= maxRows,
      run: async (inputs: WireTensor[]) => {
        const x = new Float32Array(inputs[0].buffer!, inputs[0].byteOffset, inputs[0].byteLength! / 4);
        lane.runs.push(x[0]);
        if (opts.fail) throw new Error(`cannot run ${x[0]}`);
        return { outputs: [{ name: 'y', ortType: 'float32', dims: inputs[0].dims, buffer: x.map((v) => v * 3).buffer }], computeSeconds: 0.0001 };
      },
    };
    return lane satisfies InlineRunner;
  }
  const places: RunPlace[] = [];
  const observer = { queueSeconds: () => {}, batch: (_rows: number, _s: number, place: RunPlace) => places.push(place) };
  const data = (a: OutputTensor[]) => [...(a[0].data as Float32Array)];
  beforeEach(() => places.splice(0));

  test('a short request runs on the lane, one at a time; one that comes while it runs goes to an idle session worker', async () => {
    const worker = fakeRunner();
    const lane = fakeLane(2);
    const s = new Scheduler(worker, sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer, lane);
    const first = s.submit(req(1, 0));
    const second = s.submit(req(1, 10));
    expect(data(await first)).toEqual([0, 3]);
    // The second came while the lane was busy: it went to the idle session worker, and got that worker's answer.
    expect(worker.calls).toEqual([[1, 2]]);
    worker.releaseAll();
    expect(data(await second)).toEqual([20, 22]);
    // The lane is free as soon as its run is done.
    expect(data(await s.submit(req(2, 30)))).toEqual([90, 93, 96, 99]);
    expect(lane.runs).toEqual([0, 30]);
    expect(places).toEqual(['event_loop', 'session_worker', 'event_loop']);
  });

  test('queued requests never run back to back on the lane within one turn of the event loop', async () => {
    const worker = fakeRunner();
    const lane = fakeLane(8);
    const s = new Scheduler(worker, sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer, lane);
    const answers = [0, 10, 20, 30].map((start) => s.submit(req(1, start)));
    await Promise.resolve();
    await Promise.resolve();
    // One on the lane (done already), one on the worker; two wait, even though the lane is free, until the loop turns.
    expect([lane.runs.length, worker.calls.length, s.queued, lane.busy]).toEqual([1, 1, 2, false]);
    await tick();
    expect([lane.runs.length, s.queued]).toEqual([2, 1]);
    worker.releaseAll();
    await new Promise((r) => setImmediate(r));
    worker.releaseAll();
    const all = (await Promise.all(answers)).map(data);
    // Each caller got its own rows, whichever thread computed them.
    all.forEach((d, i) => expect(d[0] === i * 20 || d[0] === i * 30).toBe(true));
  });

  test('a request the lane does not accept goes to a session worker', async () => {
    const worker = fakeRunner();
    const lane = fakeLane(1);
    const s = new Scheduler(worker, sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer, lane);
    const big = s.submit(req(3, 0));
    await tick();
    expect([lane.runs, worker.calls]).toEqual([[], [[3, 2]]]);
    worker.releaseAll();
    expect(data(await big)).toEqual([0, 2, 4, 6, 8, 10]);
  });

  test('a failed run on the lane fails that request alone, with InferenceFailed', async () => {
    const worker = fakeRunner();
    const s = new Scheduler(worker, sig, { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueSize: 10 }, observer, fakeLane(1, { fail: true }));
    await expect(s.submit(req(1, 5))).rejects.toMatchObject({ reason: 'InferenceFailed', message: expect.stringMatching(/inference failed: cannot run 5/) });
    await new Promise((r) => setImmediate(r));
    const other = s.submit(req(2, 0));
    await tick();
    worker.releaseAll();
    expect(data(await other)).toEqual([0, 2, 4, 6]);
  });
});
