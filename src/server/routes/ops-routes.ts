/** Operational endpoints: liveness, readiness, metrics. */
import type { ServerResponse } from 'node:http';
import { UnavailableError } from '../../errors.ts';
import type { RouteContext } from '../route-context.ts';
import { sendJson } from './json-response.ts';

export function healthz(res: ServerResponse): void {
  sendJson(res, 200, { status: 'ready' });
}

export async function readyz(res: ServerResponse, ctx: RouteContext): Promise<void> {
  if (await ctx.health.ready()) {
    sendJson(res, 200, { status: 'ready' });
    return;
  }
  const cause = ctx.health.lastError;
  throw new UnavailableError(`the bucket has not answered: ${cause instanceof Error ? cause.message : 'no recent answer'}`);
}

export function metrics(res: ServerResponse, ctx: RouteContext): void {
  const body = ctx.metrics.registry.render();
  res.statusCode = 200;
  res.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
