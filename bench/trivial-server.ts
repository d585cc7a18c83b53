// Minimal node:http endpoints for `npm run bench:runtime`, to weigh what the runtime's own code costs per request:
// - express | direct: a trivial POST answered by an express 5 app or by plain node:http (what express costs);
// - body: plain node:http doing only the HTTP work of a binary inference request (read the whole body, parse
//   its JSON header, answer a JSON header and the binary output of the same sizes as the runtime's answer), the
//   floor under the runtime's CPU per request.
// Usage: node trivial-server.js express|direct|body PORT [ANSWER_BYTES]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import express from 'express';

const [mode, port, answerBytes] = process.argv.slice(2);
const answer = JSON.stringify({ ok: true });

function reply(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) });
    res.end(answer);
  });
}

const output = Buffer.alloc(Number(answerBytes ?? 0));
const outputHeader = Buffer.from(JSON.stringify({ model_name: 'm', model_version: '1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, output.byteLength / 4], parameters: { binary_data_size: output.byteLength } }] }));

function replyBinary(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    JSON.parse(body.subarray(0, Number(req.headers['inference-header-content-length'])).toString());
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': outputHeader.byteLength, 'Content-Length': outputHeader.byteLength + output.byteLength });
    res.cork();
    res.write(outputHeader);
    res.end(output);
  });
}

let handler: (req: IncomingMessage, res: ServerResponse) => void = mode === 'body' ? replyBinary : reply;
if (mode === 'express') {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/v2/models/:name/infer', (req, res) => reply(req, res));
  handler = app;
}
createServer({ keepAliveTimeout: 65_000 }, handler).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
