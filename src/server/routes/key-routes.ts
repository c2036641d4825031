/**
 * `/keys/...`: GET (download), PUT (upload), HEAD (stat), DELETE, and the listing at
 * `GET /keys/`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequestError } from '../../errors.ts';
import { rateGuarded } from '../body-rate-guard.ts';
import { closedSignal } from '../closed-signal.ts';
import { receiveBody } from '../request-body.ts';
import { sendListing } from '../send-listing.ts';
import { LISTING_PAGE_NAMES, listingCost } from '../../memory-costs.ts';
import { sendStream } from '../send-stream.ts';
import { checkContentType, servableContentType } from '../../state/content-type.ts';
import { acceptBody, allowOnly, declaredLength, ifMatchGeneration, parseQuery, plainTransferEncoding, writePrecondition } from '../request-parts.ts';
import type { RequestTarget, RouteContext } from '../route-context.ts';
import { etagOf, sendJson, sendNoContent } from './json-response.ts';
import { hasControlCharacter } from '../../control-characters.ts';

export async function getKey(_req: IncomingMessage, res: ServerResponse, rawKey: string, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const key = ctx.keys.parseFilePath(rawKey);
  allowOnly(parseQuery(target.rawQuery), [], 'GET /keys/{key}');
  const download = await ctx.service.read(key);
  res.statusCode = 200;
  res.setHeader('content-type', servableContentType(download.contentType));
  res.setHeader('etag', etagOf(download.generation));
  if (download.size !== undefined) res.setHeader('content-length', download.size);
  if (download.lastModified !== undefined) res.setHeader('last-modified', download.lastModified);
  download.body.on('data', (chunk: Buffer) => { ctx.metrics.bytesOut.inc({}, chunk.length); });
  try {
    await sendStream(download.body, res);
  } catch (error) {
    // The client went away, or GCS failed mid-body: the response is already started, so
    // the connection is cut (a short body the client can detect), never padded. Only the
    // second is news to the operator.
    const clientLeft = res.destroyed;
    if (!clientLeft) res.destroy(error as Error);
    if (clientLeft) ctx.logger.debug('download ended early: the client left', { key });
    else ctx.logger.warn('download cut: GCS failed after the answer started', { key, error });
  }
}

export async function putKey(req: IncomingMessage, res: ServerResponse, rawKey: string, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const key = ctx.keys.parseFilePath(rawKey);
  allowOnly(parseQuery(target.rawQuery), [], 'PUT /keys/{key}');
  const precondition = writePrecondition(req);
  const length = declaredLength(req, ctx.maxBodyBytes);
  const contentType = checkContentType(req.headers['content-type']?.trim() || 'application/octet-stream', 'Content-Type');
  plainTransferEncoding(req);
  const received = await receiveBody(rateGuarded(req, ctx.bodyRate, length), {
    chunkBytes: ctx.uploadChunkBytes,
    maxBytes: ctx.maxBodyBytes,
    declaredLength: length,
    budget: ctx.budget,
    // A body waits for room in the memory budget at most as long as it may take to move.
    admissionTimeoutMs: ctx.bodyRate.windowMs,
    abortSignal: () => closedSignal(res, 'the client closed the connection while its body waited for memory; nothing was stored'),
    onAdmitted: () => { acceptBody(req, res); },
  });
  try {
    if (received.streamed) ctx.metrics.uploadsStreamed.inc();
    const attributes = await ctx.service.write(key, received.upload, precondition, contentType);
    sendNoContent(res, { etag: etagOf(attributes.generation) });
  } finally {
    ctx.metrics.bytesIn.inc({}, received.receivedBytes());
    received.release();
  }
}

export async function headKey(_req: IncomingMessage, res: ServerResponse, rawKey: string, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const parsed = ctx.keys.parsePath(rawKey);
  allowOnly(parseQuery(target.rawQuery), [], 'HEAD /keys/{key}');
  const result = await ctx.service.head(parsed);
  if (result.kind === 'directory') {
    sendNoContent(res, { 'content-length': 0, 'x-is-file': 'false' });
    return;
  }
  const { attributes } = result;
  const headers: Record<string, string | number> = {
    'content-length': attributes.size,
    'x-is-file': 'true',
    etag: etagOf(attributes.generation),
    'content-type': servableContentType(attributes.contentType),
  };
  if (attributes.updated !== undefined) headers['last-modified'] = new Date(attributes.updated).toUTCString();
  sendNoContent(res, headers);
}

export async function deleteKey(req: IncomingMessage, res: ServerResponse, rawKey: string, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const key = ctx.keys.parseFilePath(rawKey);
  allowOnly(parseQuery(target.rawQuery), [], 'DELETE /keys/{key}');
  if (req.headers['if-none-match'] !== undefined) throw new BadRequestError('If-None-Match has no meaning on DELETE; use If-Match: "<generation>"');
  await ctx.service.remove(key, ifMatchGeneration(req));
  sendNoContent(res);
}

export async function listKeys(_req: IncomingMessage, res: ServerResponse, target: RequestTarget, ctx: RouteContext): Promise<void> {
  const query = parseQuery(target.rawQuery);
  allowOnly(query, ['prefix', 'delimiter', 'limit', 'page_token'], 'GET /keys/');
  const prefix = ctx.keys.checkListPrefix(query.get('prefix') ?? '');
  const delimiter = query.has('delimiter') ? query.get('delimiter') || undefined : '/';
  if (delimiter !== undefined && (hasControlCharacter(delimiter) || delimiter.length > 16)) {
    throw new BadRequestError('delimiter must be at most 16 characters without control characters');
  }
  const limitText = query.get('limit');
  let limit: number | undefined;
  if (limitText !== undefined) {
    limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!(limit >= 1 && limit <= LISTING_PAGE_NAMES)) throw new BadRequestError(`limit must be a whole number from 1 to ${LISTING_PAGE_NAMES}, got ${JSON.stringify(limitText)}`);
  }
  const pageToken = query.get('page_token');
  if (pageToken !== undefined && limit === undefined) throw new BadRequestError('page_token goes with limit (the page size)');
  if (pageToken === '') throw new BadRequestError('page_token must not be empty; omit it for the first page');
  // A listing holds one page at a time: its cost is reserved before the first page is asked for.
  const reservation = await ctx.budget.hold(listingCost(limit ?? LISTING_PAGE_NAMES), 'listing', 'a listing', ctx.bodyRate.windowMs,
    () => closedSignal(res, 'the client closed the connection while its listing waited for memory'));
  try {
    if (limit === undefined) {
      await sendListing(res, ctx.service.listAll(prefix, delimiter));
      return;
    }
    const result = await ctx.service.list({ prefix, delimiter, limit, pageToken });
    sendJson(res, 200, {
      keys: result.keys,
      prefixes: result.prefixes,
      ...(result.nextPageToken === undefined ? {} : { next_page_token: result.nextPageToken }),
    });
  } finally {
    reservation.release();
  }
}
