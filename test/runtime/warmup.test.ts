// The warm-up never refuses a model onnxruntime loads: models that reject zeros with symbolic dimensions 1 (a reflect
// Pad, a sample rate that must be 8000 or 16000) are served, with a warning, and answer exactly what onnxruntime
// answers; with --warmup they warm up for real on the user's samples, and a sample that fails stops the start.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { reflectPadModel, sampleRateModel } from '../../examples/onnx-models.js';
import { infer, metricValue, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

const dir = tempDir();
afterAll(() => dir.remove());

const padPath = () => modelFile(dir.path, 'reflect-pad', reflectPadModel());
const ratePath = () => modelFile(dir.path, 'sample-rate', sampleRateModel());

/** What raw onnxruntime-node answers for the same inputs. */
async function direct(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(path);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

const padRequest = (row: number[]) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, row.length], data: row }] });
const rateRequest = (audio: number[], rate: number) => ({
  inputs: [{ name: 'audio', datatype: 'FP32', shape: [audio.length], data: audio }, { name: 'sample_rate', datatype: 'INT64', shape: [], data: [rate] }],
});

function samplesFile(name: string, body: unknown): string {
  const path = join(dir.path, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

async function metadata(rt: RuntimeProcess, model: string): Promise<Record<string, any>> {
  return (await fetch(`${rt.url}/v2/models/${model}`)).json();
}

describe('without --warmup: a model that refuses generated inputs is served, with a warning', () => {
  test('a reflect Pad along a symbolic axis: served, the failure reported in the log, /metrics and the metadata, every answer exact', async () => {
    const path = padPath();
    // A wide limit, so that the event-loop lane's choice does not hang on how busy this machine is.
    const rt = await startRuntime(['--model', path, '--inline-run-max-us', '100000', '--log-level', 'info']);
    try {
      const warned = rt.logLines().find((l) => l.message === 'warm-up on generated inputs failed; the model is served');
      expect(warned).toMatchObject({ level: 'warn', error: expect.stringMatching(/Pad reflect/) });
      expect(rt.logLines().some((l) => l.level === 'error')).toBe(false);
      const meta = await metadata(rt, 'reflect-pad');
      expect(meta.warmup).toEqual({ status: 'failed', inputs: 'generated', message: expect.stringMatching(/Pad reflect/) });
      const before = await (await fetch(`${rt.url}/metrics`)).text();
      expect(metricValue(before, 'modelplane_warmup_failures_total')).toBe(1);
      // Without a warm-up timing the lane waits for a real run; once a session worker's run bounds it, it takes runs.
      expect(rt.logLines().find((l) => l.message === 'short runs on the event loop once a real run shows them short')).toBeDefined();
      const rows = [[1, 2, 3, 4], [0.5, -1, 7, 3, 9, 11], [10, 20, 30, 40, 50]];
      for (let i = 0; i < 12; i++) {
        const row = rows[i % rows.length];
        const r = await infer(rt.url, 'reflect-pad', padRequest(row));
        const expected = await direct(path, { x: new ort.Tensor('float32', Float32Array.from(row), [1, row.length]) });
        expect({ status: r.status, shape: r.json.outputs[0].shape, data: r.json.outputs[0].data }).toEqual({ status: 200, shape: [1, row.length + 6], data: expected.y });
      }
      // A request the model refuses fails as that request's inference error; the server goes on.
      const short = await infer(rt.url, 'reflect-pad', padRequest([1]));
      expect(short.status).toBe(500);
      expect(short.json).toMatchObject({ reason: 'InferenceFailed', error: expect.stringMatching(/Pad reflect/) });
      const after = await (await fetch(`${rt.url}/metrics`)).text();
      expect(metricValue(after, 'modelplane_inference_runs_total', 'place="session_worker"')).toBeGreaterThanOrEqual(1);
      expect(metricValue(after, 'modelplane_inference_runs_total', 'place="event_loop"')).toBeGreaterThanOrEqual(1);
      expect(rt.logLines().find((l) => l.message === 'short runs on the event loop' && l.from === 'requests')).toBeDefined();
    } finally {
      await rt.stop();
    }
  });

  test('an INT64 scalar that must be 8000 or 16000: served, and both rates answer exactly what onnxruntime answers', async () => {
    const path = ratePath();
    const rt = await startRuntime(['--model', path, '--log-level', 'warn']);
    try {
      expect((await metadata(rt, 'sample-rate')).warmup).toMatchObject({ status: 'failed', inputs: 'generated', message: expect.stringMatching(/Reshape/) });
      const audio = [0.25, -1.5, 3, 1e-3];
      for (const rate of [16000, 8000]) {
        const r = await infer(rt.url, 'sample-rate', rateRequest(audio, rate));
        const expected = await direct(path, {
          audio: new ort.Tensor('float32', Float32Array.from(audio), [audio.length]),
          sample_rate: new ort.Tensor('int64', BigInt64Array.from([BigInt(rate)]), []),
        });
        expect({ rate, status: r.status, data: r.json.outputs[0].data }).toEqual({ rate, status: 200, data: expected.scaled });
      }
    } finally {
      await rt.stop();
    }
  });
});

describe('--warmup FILE: the samples every instance runs before it is ready', () => {
  test('samples the model takes: it warms up on them (every instance), says so, and serves', async () => {
    const file = samplesFile('rates.json', [rateRequest([1, 2], 8000), rateRequest([3, 4, 5], 16000)]);
    const rt = await startRuntime(['--model', ratePath(), '--warmup', file, '--instances', '2', '--log-level', 'info']);
    try {
      expect((await metadata(rt, 'sample-rate')).warmup).toEqual({ status: 'ok', inputs: 'samples', samples: 2 });
      expect(rt.logLines().find((l) => l.message === 'warmed up')).toMatchObject({ inputs: 'samples', samples: 2 });
      expect(metricValue(await (await fetch(`${rt.url}/metrics`)).text(), 'modelplane_warmup_failures_total')).toBe(0);
      const r = await infer(rt.url, 'sample-rate', rateRequest([2, 4], 8000));
      expect(r.json.outputs[0].data).toEqual([1, 2]);
      // The lane timed itself on the first sample.
      expect(rt.logLines().find((l) => l.message === 'short runs on the event loop' || l.message === 'every run on a session worker')).toBeDefined();
    } finally {
      await rt.stop();
    }
  });

  test('a reflect-pad model warms up for real on one request body', async () => {
    const rt = await startRuntime(['--model', padPath(), '--warmup', samplesFile('pad.json', padRequest([1, 2, 3, 4, 5, 6, 7, 8])), '--log-level', 'warn']);
    try {
      expect((await metadata(rt, 'reflect-pad')).warmup).toEqual({ status: 'ok', inputs: 'samples', samples: 1 });
    } finally {
      await rt.stop();
    }
  });

  test.each([
    ['a sample the model refuses: onnxruntime\'s message', () => ['--model', ratePath(), '--warmup', samplesFile('bad-rate.json', [rateRequest([1], 16000), rateRequest([1], 12345)])],
      /failed its warm-up: warm-up sample .*bad-rate\.json\[1\] failed: .*Reshape.*cannot be reshaped/],
    ['a reflect Pad wider than the sample', () => ['--model', padPath(), '--warmup', samplesFile('bad-pad.json', padRequest([1, 2]))],
      /failed its warm-up: warm-up sample .*bad-pad\.json failed: .*Pad reflect/],
    ['a sample that does not fit the model\'s inputs', () => ['--model', padPath(), '--warmup', samplesFile('wrong-input.json', { inputs: [{ name: 'nope', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] })],
      /^--warmup: .*wrong-input\.json: inputs\[0\]\.name: unknown input "nope"; the model takes x$/],
    ['a file that is not JSON', () => ['--model', padPath(), '--warmup', (() => { const p = join(dir.path, 'text.json'); writeFileSync(p, 'x=1'); return p; })()],
      /^--warmup: .*text\.json is not JSON/],
    ['a file that is not there', () => ['--model', padPath(), '--warmup', join(dir.path, 'absent.json')],
      /^--warmup: cannot read .*absent\.json/],
  ])('%s: exits with ModelLoadFailed and the reason, in the log and the termination message', async (name, args, message) => {
    const termination = join(dir.path, `termination-${name.replace(/\W+/g, '-')}`);
    writeFileSync(termination, '');
    const rt = await startRuntime([...args(), '--log-level', 'info'], { waitReady: false, env: { MODELPLANE_TERMINATION_LOG: termination } });
    expect(await rt.exited).toBe(1);
    expect(rt.logLines().find((l) => l.level === 'error')).toMatchObject({ reason: 'ModelLoadFailed', message: expect.stringMatching(message) });
    const written = readFileSync(termination, 'utf8');
    expect(written.startsWith('ModelLoadFailed: ')).toBe(true);
    expect(written.slice('ModelLoadFailed: '.length)).toMatch(message);
    expect(rt.logLines().some((l) => l.message === 'model ready')).toBe(false);
  });
});
