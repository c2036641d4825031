/**
 * The floor: the least CPU any Node connector can spend per request. A bare `node:http`
 * pass-through on a Unix socket, one GCS JSON API request out per request in, with no
 * key checks, no preconditions, no MD5, no metrics, no logs, no memory budget. The
 * benchmark runs it with the connector's V8 flags, so the two differ only in what the
 * connector does on top (docs/benchmarks.md shows our CPU as a multiple of this).
 *
 *   node bench/floor-proxy.ts --socket PATH --origin http://127.0.0.1:PORT --bucket NAME
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { socket: { type: 'string' }, origin: { type: 'string' }, bucket: { type: 'string' } } });
const backend = new URL(values.origin ?? '');
const objects = `/storage/v1/b/${values.bucket ?? ''}/o`;
const agent = new Agent({ keepAlive: true, maxSockets: 128 });

/** One request to the backend; `answer` gets its response. */
function forward(method: string, path: string, req: IncomingMessage | undefined, answer: (upstream: IncomingMessage) => void, res: ServerResponse): void {
  const headers = req?.headers['content-length'] === undefined ? {} : { 'content-length': req.headers['content-length'] };
  const upstream = request({ host: backend.hostname, port: backend.port, method, path, agent, headers }, answer);
  upstream.on('error', () => { res.destroy(); });
  if (req === undefined) upstream.end();
  else req.pipe(upstream);
}

function passThrough(res: ServerResponse, ok: number): (upstream: IncomingMessage) => void {
  return (upstream) => {
    if (upstream.statusCode !== ok) {
      upstream.resume();
      res.writeHead(502).end();
      return;
    }
    res.writeHead(200, { 'content-length': upstream.headers['content-length'] ?? 0 });
    upstream.pipe(res);
  };
}

function drained(res: ServerResponse, status: number): (upstream: IncomingMessage) => void {
  return (upstream) => {
    upstream.resume();
    upstream.on('end', () => { res.writeHead((upstream.statusCode ?? 500) < 300 ? status : 502).end(); });
  };
}

const server = createServer((req, res) => {
  const key = (req.url ?? '').slice('/keys/'.length);
  const object = `${objects}/${encodeURIComponent(key)}`;
  switch (req.method) {
    case 'GET': forward('GET', `${object}?alt=media`, undefined, passThrough(res, 200), res); return;
    case 'PUT': forward('POST', `/upload${objects}?uploadType=media&name=${encodeURIComponent(key)}`, req, drained(res, 204), res); return;
    case 'HEAD': forward('GET', object, undefined, drained(res, 200), res); return;
    case 'DELETE': forward('DELETE', object, undefined, drained(res, 204), res); return;
    default: res.writeHead(405).end();
  }
});
const socket = values.socket ?? '';
rmSync(socket, { force: true });
server.listen(socket, () => { process.stdout.write(`${JSON.stringify({ socket })}\n`); });
process.on('SIGTERM', () => { server.close(); agent.destroy(); process.exit(0); });
