// Messages between the server's main thread and the codec worker, which parses large JSON request bodies and
// encodes large JSON outputs so the event loop stays free for probes and other requests.
import type { Datatype, TensorData } from '../datatypes.js';
import type { ErrorReason } from '../errors.js';
import type { InferRequest } from '../request.js';

export type CodecTask =
  | { seq: number; type: 'parse'; body: Uint8Array; headerLength: number | undefined }
  | { seq: number; type: 'encode'; datatype: Datatype; data: TensorData };

export type CodecReply =
  | { seq: number; type: 'parsed'; request: InferRequest }
  | { seq: number; type: 'encoded'; text: Uint8Array }
  | { seq: number; type: 'refused'; reason: ErrorReason; message: string }
  | { seq: number; type: 'failed'; message: string };
