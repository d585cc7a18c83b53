// The codec worker: parses request bodies and encodes JSON outputs off the main thread. Buffers come and go by
// transfer, so the main thread never copies or walks the data.
import { parentPort, workerData } from 'node:worker_threads';
import { RuntimeError } from '../errors.js';
import { parseInferRequest } from '../request.js';
import type { ModelSignature } from '../signature.js';
import { encodeJsonData } from '../tensors.js';
import type { CodecReply, CodecTask } from './codec-protocol.js';

const signature = (workerData as { signature: ModelSignature }).signature;
const port = parentPort!;

port.on('message', (task: CodecTask) => {
  try {
    if (task.type === 'parse') {
      const body = Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength);
      // The body came by transfer: this thread alone holds it, and its tensors go back by transfer too.
      const request = parseInferRequest(body, task.headerLength, signature, true);
      const buffers = new Set<ArrayBuffer>();
      for (const input of request.inputs) {
        if ('bytes' in input.payload) buffers.add(input.payload.bytes.buffer as ArrayBuffer);
      }
      port.postMessage({ seq: task.seq, type: 'parsed', request } satisfies CodecReply, [...buffers]);
    } else {
      const text = Buffer.from(encodeJsonData(task.datatype, task.data));
      const out = new Uint8Array(text.buffer, text.byteOffset, text.byteLength);
      const transferable = text.byteOffset === 0 && text.byteLength === text.buffer.byteLength;
      port.postMessage({ seq: task.seq, type: 'encoded', text: out } satisfies CodecReply, transferable ? [text.buffer as ArrayBuffer] : []);
    }
  } catch (err) {
    const reply: CodecReply = err instanceof RuntimeError
      ? { seq: task.seq, type: 'refused', reason: err.reason, message: err.message }
      : { seq: task.seq, type: 'failed', message: (err as Error).message };
    port.postMessage(reply);
  }
});
