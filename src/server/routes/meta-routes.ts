/** `/meta/{key}`: list, read and write extended attributes. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequestError } from '../../errors.ts';
import { checkWritableAttribute } from '../../state/state-service.ts';
import { allowOnly, MAX_ATTRIBUTE_BODY, parseQuery, parseValueBody } from '../request-parts.ts';
import { receiveSmallBody } from '../small-body.ts';
import type { RequestTarget, RouteContext } from '../route-context.ts';
import { sendJson, sendNoContent } from './json-response.ts';

export async function getMeta(_req: IncomingMessage, res: ServerResponse, rawKey: string, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const key = ctx.keys.parseFilePath(rawKey);
  const query = parseQuery(target.rawQuery);
  allowOnly(query, ['attr'], 'GET /meta/{key}');
  const attribute = query.get('attr');
  if (attribute === undefined) {
    sendJson(res, 200, { attrs: await ctx.service.attributeNames(key) });
    return;
  }
  sendJson(res, 200, { attr: attribute, value: await ctx.service.attribute(key, attribute) });
}

export async function putMeta(req: IncomingMessage, res: ServerResponse, rawKey: string, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const key = ctx.keys.parseFilePath(rawKey);
  const query = parseQuery(target.rawQuery);
  allowOnly(query, ['attr'], 'PUT /meta/{key}');
  const attribute = query.get('attr');
  if (attribute === undefined || attribute === '') throw new BadRequestError('PUT /meta/{key} needs ?attr=<name>');
  checkWritableAttribute(attribute);
  const body = await receiveSmallBody(req, res, ctx, { maxBytes: MAX_ATTRIBUTE_BODY, what: 'the attribute body', use: 'body' });
  try {
    await ctx.service.setAttribute(key, attribute, parseValueBody(body.bytes));
  } finally {
    body.reservation.release();
  }
  sendNoContent(res);
}
