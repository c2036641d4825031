/**
 * Which handler serves a request, and under which operation name it is counted. The
 * paths and methods here are the whole protocol (docs/protocol.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouteNotFoundError } from '../errors.ts';
import type { RequestTarget, RouteContext } from './route-context.ts';
import { deleteKey, getKey, headKey, listKeys, putKey } from './routes/key-routes.ts';
import { getMeta, putMeta } from './routes/meta-routes.ts';
import { healthz, metrics, readyz } from './routes/ops-routes.ts';
import { postQuery } from './routes/query-routes.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => Promise<void> | void;

export interface Route {
  /** Operation name for metrics and logs. */
  readonly op: string;
  readonly handle: Handler;
}

/** Splits the request line's target at its first `?`. */
function requestTarget(url: string): RequestTarget {
  const mark = url.indexOf('?');
  return mark < 0 ? { path: url, rawQuery: '' } : { path: url.slice(0, mark), rawQuery: url.slice(mark + 1) };
}

function notFound(message: string): Route {
  return { op: 'unknown', handle: () => { throw new RouteNotFoundError(message); } };
}

/** The routes of the ops port: liveness, readiness and metrics, nothing that touches state. */
export function opsRoute(req: IncomingMessage): Route {
  const path = requestTarget(req.url ?? '/').path;
  if (path === '/healthz' || path === '/readyz' || path === '/metrics') return route(req);
  return notFound('the ops port serves GET /healthz, /readyz and /metrics only; state is on the Unix socket');
}

export function route(req: IncomingMessage): Route {
  const method = req.method ?? 'GET';
  const target = requestTarget(req.url ?? '/');
  const { path } = target;

  if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
    if (method !== 'GET') return notFound(`${path} answers GET only`);
    if (path === '/healthz') return { op: 'healthz', handle: (_req, res) => { healthz(res); } };
    if (path === '/readyz') return { op: 'readyz', handle: (_req, res, ctx) => readyz(res, ctx) };
    return { op: 'metrics', handle: (_req, res, ctx) => { metrics(res, ctx); } };
  }

  if (path === '/keys' || path.startsWith('/keys/')) {
    const rawKey = path.slice('/keys/'.length);
    if (rawKey === '' && method === 'GET') return { op: 'list', handle: (rq, res, ctx) => listKeys(rq, res, target, ctx) };
    switch (method) {
      case 'GET': return { op: 'get', handle: (rq, res, ctx) => getKey(rq, res, rawKey, target, ctx) };
      case 'PUT': return { op: 'put', handle: (rq, res, ctx) => putKey(rq, res, rawKey, target, ctx) };
      case 'HEAD': return { op: 'head', handle: (rq, res, ctx) => headKey(rq, res, rawKey, target, ctx) };
      case 'DELETE': return { op: 'delete', handle: (rq, res, ctx) => deleteKey(rq, res, rawKey, target, ctx) };
      default: return notFound(`${method} is not served on /keys/; use GET, PUT, HEAD or DELETE`);
    }
  }

  if (path.startsWith('/meta/')) {
    const rawKey = path.slice('/meta/'.length);
    switch (method) {
      case 'GET': return { op: 'meta_get', handle: (rq, res, ctx) => getMeta(rq, res, rawKey, target, ctx) };
      case 'PUT': return { op: 'meta_put', handle: (rq, res, ctx) => putMeta(rq, res, rawKey, target, ctx) };
      default: return notFound(`${method} is not served on /meta/; use GET or PUT`);
    }
  }

  if (path === '/query') {
    if (method !== 'POST') return notFound(`/query answers POST only, with a JSON body`);
    return { op: 'query', handle: (rq, res, ctx) => postQuery(rq, res, target, ctx) };
  }

  return notFound(`no route for ${method} ${path.slice(0, 100)}; the protocol serves /keys/, /meta/, /query, /healthz, /readyz and /metrics`);
}
