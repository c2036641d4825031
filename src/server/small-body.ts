/**
 * Small request bodies (a query, an attribute value) go through the same door as uploads:
 * their memory is reserved before a byte is read, and they must keep the body-rate floor.
 * A body past the budget waits unread, then gets 503; one too slow gets 400.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BudgetUse, Reservation } from '../memory-budget.ts';
import { jsonBodyCost } from '../memory-costs.ts';
import { rateGuarded } from './body-rate-guard.ts';
import { closedSignal } from './closed-signal.ts';
import { acceptBody, declaredLength, plainTransferEncoding, readSmallBody } from './request-parts.ts';
import type { RouteContext } from './route-context.ts';

export interface SmallBodyOptions {
  readonly maxBytes: number;
  /** What the body is, for messages: "the query body". */
  readonly what: string;
  readonly use: BudgetUse;
  /** Bytes the request needs next, reserved with the body's (a query's reading). */
  readonly moreBytes?: number;
}

export interface SmallBody {
  readonly bytes: Buffer;
  /** Holds the body's cost and `moreBytes`; the caller releases it when the request ends. */
  readonly reservation: Reservation;
}

/**
 * Reserves the cost of a body of up to `maxBytes` (its announced length when it has one)
 * plus `moreBytes` the request will need next, then reads the body; shrinks the
 * reservation to the body actually received.
 */
export async function receiveSmallBody(req: IncomingMessage, res: ServerResponse, ctx: RouteContext, body: SmallBodyOptions): Promise<SmallBody> {
  const { maxBytes, what, use, moreBytes = 0 } = body;
  plainTransferEncoding(req);
  const announced = declaredLength(req, maxBytes, what);
  const reservation = await ctx.budget.hold(jsonBodyCost(announced ?? maxBytes) + moreBytes, use, what, ctx.bodyRate.windowMs,
    () => closedSignal(res, `the client closed the connection while ${what} waited for memory`));
  try {
    acceptBody(req, res);
    const bytes = await readSmallBody(rateGuarded(req, ctx.bodyRate, announced), maxBytes, what);
    reservation.shrinkTo(jsonBodyCost(bytes.length) + moreBytes);
    return { bytes, reservation };
  } catch (error) {
    reservation.release();
    throw error;
  }
}
