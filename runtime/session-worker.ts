// The onnxruntime session lives on this worker thread: `session.run` computes on the calling thread, so
// keeping it off the main thread lets health checks, metrics and request parsing go on during a batch.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { tensorSpec, type ModelSignature, type OrtValueMetadata } from './signature.js';
import type { WorkerChannel, WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';
import { fromOrtTensor, toOrtTensor } from './ort-tensors.js';
import { createSession } from './session-options.js';

const init = workerData as WorkerInit & { channel: WorkerChannel };
const port = parentPort!;

async function load(): Promise<ort.InferenceSession> {
  const started = performance.now();
  const failures: { provider: string; error: string }[] = [];
  for (const provider of init.executionProviders) {
    try {
      const { session, nodesOnCpu } = await createSession((path, options) => ort.InferenceSession.create(path, options), init.modelPath, provider, init);
      const meta = session as unknown as { inputMetadata: OrtValueMetadata[]; outputMetadata: OrtValueMetadata[] };
      const signature: ModelSignature = {
        inputs: meta.inputMetadata.map(tensorSpec),
        outputs: meta.outputMetadata.map(tensorSpec),
      };
      reply({ type: 'loaded', provider, failures, signature, loadSeconds: (performance.now() - started) / 1000, ...(nodesOnCpu !== undefined ? { nodesOnCpu } : {}) });
      return session;
    } catch (err) {
      failures.push({ provider, error: (err as Error).message });
    }
  }
  reply({ type: 'load-failed', failures });
  throw new Error('model did not load');
}

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function runOne(session: ort.InferenceSession, msg: WorkerRequest): Promise<void> {
  const started = performance.now();
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of msg.inputs) feeds[t.name] = toOrtTensor(t);
    const results = await session.run(feeds);
    const computeSeconds = (performance.now() - started) / 1000;
    const transfer: ArrayBuffer[] = [];
    const outputs = Object.entries(results).map(([name, t]) => fromOrtTensor(name, t, transfer));
    reply({ type: 'result', seq: msg.seq, outputs, computeSeconds }, transfer);
  } catch (err) {
    reply({ type: 'run-failed', seq: msg.seq, error: (err as Error).message });
  }
}

/**
 * Work arrives on a dedicated port; between runs this thread sleeps on a shared counter (Atomics.wait) that
 * the main thread bumps after each post. A futex wake-up is much quicker than a trip through the event loop,
 * which matters for small models where it is a large part of the latency. This thread has nothing else to do,
 * so blocking it while idle costs nothing.
 */
async function main(): Promise<void> {
  const session = await load();
  const { requests, signal } = init.channel;
  for (;;) {
    const seen = Atomics.load(signal, 0);
    const received = receiveMessageOnPort(requests);
    if (!received) {
      Atomics.wait(signal, 0, seen);
      continue;
    }
    const msg = received.message as WorkerRequest | { type: 'close' };
    if (msg.type === 'close') break;
    await runOne(session, msg);
  }
  await session.release();
  process.exit(0);
}

main().catch(() => {
  // load() already reported the failure; the parent decides how to exit.
});
