/** `POST /query`: the JSON documents under a prefix, filtered, sorted and paged. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectAfterLargeParse } from '../../large-parse-collection.ts';
import { parseQueryPlan } from '../../state/query/query-plan.ts';
import { queryReadingCost, runQuery, type QueryOutcome } from '../../state/query/query-runner.ts';
import { closedSignal } from '../closed-signal.ts';
import { allowOnly, parseQuery } from '../request-parts.ts';
import { receiveSmallBody } from '../small-body.ts';
import type { RequestTarget, RouteContext } from '../route-context.ts';

/** A query body is a filter and a few fields; `$in` lists are what can make it long. */
const MAX_QUERY_BODY = 1024 * 1024;

export async function postQuery(req: IncomingMessage, res: ServerResponse, target: RequestTarget, ctx: RouteContext): Promise<void> {
  allowOnly(parseQuery(target.rawQuery), [], 'POST /query');
  // One reservation for the whole query, taken before its body is read: the body and the
  // plan parsed from it, then the listing and the documents (query-runner.ts).
  const reading = queryReadingCost(ctx.query);
  const body = await receiveSmallBody(req, res, ctx, { maxBytes: MAX_QUERY_BODY, what: 'the query body', use: 'query', moreBytes: reading });
  const { reservation } = body;
  try {
    const plan = parseQueryPlan(body.bytes.toString('utf8'));
    collectAfterLargeParse(body.bytes.length);
    const prefix = ctx.keys.checkListPrefix(plan.prefix);
    const planBytes = reservation.bytes - reading;
    const clientLeft = closedSignal(res, 'the client closed the connection during its query');
    const outcome = await runQuery(ctx.service, { ...plan, prefix }, ctx.query, { shrinkTo: (bytes) => { reservation.shrinkTo(planBytes + bytes); } }, clientLeft);
    ctx.metrics.queryDocumentsRead.inc({}, outcome.documentsRead);
    ctx.metrics.queryBytesRead.inc({}, outcome.bytesRead);
    if (outcome.skipped > 0) ctx.metrics.queryFilesSkipped.inc({}, outcome.skipped);
    if (outcome.unread > 0) ctx.metrics.queryFilesUnread.inc({}, outcome.unread);
    ctx.logger.debug('query', { prefix, listed: outcome.listed, read: outcome.documentsRead, bytes: outcome.bytesRead, skipped: outcome.skipped, unread: outcome.unread, total: outcome.total });
    await sendRows(res, outcome);
  } finally {
    reservation.release();
  }
}

/**
 * Writes `{"rows":[...],"total":N}` with the documents' own bytes as rows, and what was
 * left out in headers; resolves once the answer is written or the client has gone.
 */
function sendRows(res: ServerResponse, outcome: QueryOutcome): Promise<void> {
  const head = Buffer.from('{"rows":[');
  const tail = Buffer.from(`],"total":${outcome.total}}`);
  let length = head.length + tail.length + Math.max(0, outcome.rows.length - 1);
  for (const row of outcome.rows) length += row.length;
  res.statusCode = 200;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', length);
  res.setHeader('x-query-read', outcome.documentsRead);
  res.setHeader('x-query-skipped', outcome.skipped);
  res.setHeader('x-query-unread', outcome.unread);
  res.write(head);
  for (const [i, row] of outcome.rows.entries()) {
    if (i > 0) res.write(',');
    res.write(row);
  }
  return new Promise((resolve) => {
    res.once('close', resolve);
    res.end(tail, resolve);
  });
}
