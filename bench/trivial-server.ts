// A trivial POST endpoint, answered either by an express 5 app or by plain node:http, for `npm run bench:runtime`
// to weigh what express costs per request. Usage: node trivial-server.js express|direct PORT
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import express from 'express';

const [mode, port] = process.argv.slice(2);
const answer = JSON.stringify({ ok: true });

function reply(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) });
    res.end(answer);
  });
}

let handler: (req: IncomingMessage, res: ServerResponse) => void = reply;
if (mode === 'express') {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/v2/models/:name/infer', (req, res) => reply(req, res));
  handler = app;
}
createServer({ keepAliveTimeout: 65_000 }, handler).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
