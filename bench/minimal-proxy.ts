// The floor that bench:local holds local mode's router against: the smallest useful node:http reverse proxy (one
// keep-alive agent, headers and bodies passed through, no routing, no retry, no metering) in a process of its own,
// so its CPU per request reads from /proc/<pid>/stat like the router's. Usage: node minimal-proxy.js <replica port>
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const port = Number(process.argv[2]);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const server = createServer((req, res) => {
  const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode ?? 502, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => console.log(`minimal proxy on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
