import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConflictError, ConnectorError, InternalError } from '../../src/errors.ts';
import { asConnectorError, backendFailureOf, sendError, STATUS_BY_CODE } from '../../src/server/error-response.ts';
import { StoreError, type StoreErrorKind } from '../../src/store/store-error.ts';

describe('the status table', () => {
  it('is the protocol\'s error table', () => {
    // Transcribed from spec/protocol.md, "Errors".
    assert.deepEqual(STATUS_BY_CODE, {
      bad_request: 400,
      unsupported_attribute: 400,
      permission_denied: 403,
      key_not_found: 404,
      not_found: 404,
      conflict: 409,
      too_large: 413,
      internal_error: 500,
      unavailable: 503,
      timeout: 504,
      client_aborted: 499,
    });
  });
});

describe('store errors at the edge', () => {
  it('each kind becomes its protocol error, keeping the message, with the store error as cause', () => {
    // What each store kind means to the client, from docs/semantics.md ("Errors").
    const expected: Record<StoreErrorKind, [string, number]> = {
      not_found: ['key_not_found', 404],
      exists: ['conflict', 409],
      changed: ['conflict', 409],
      denied: ['permission_denied', 403],
      refused: ['bad_request', 400],
      too_large: ['too_large', 413],
      unavailable: ['unavailable', 503],
      timeout: ['timeout', 504],
      broken: ['internal_error', 500],
    };
    for (const [kind, [code, status]] of Object.entries(expected) as [StoreErrorKind, [string, number]][]) {
      const cause = new StoreError(kind, `the ${kind} message`);
      const mapped = asConnectorError(cause);
      assert.equal(mapped.code, code, kind);
      assert.equal(STATUS_BY_CODE[mapped.code], status, kind);
      assert.equal(mapped.message, `the ${kind} message`);
      assert.equal(mapped.cause, cause);
    }
    for (const [kind, reason] of [['exists', 'exists'], ['changed', 'generation_mismatch']] as const) {
      const mapped = asConnectorError(new StoreError(kind, 'x'));
      assert.ok(mapped instanceof ConflictError && mapped.reason === reason, kind);
    }
  });

  it('what the backend answered travels on the cause, for the failure log; a connector error passes as it is; anything else is a bug', () => {
    const backend = { target: 'gs://b/o', status: 503, reason: 'backendError', attempts: 5 };
    assert.deepEqual(backendFailureOf(asConnectorError(new StoreError('unavailable', 'down', { backend }))), backend);
    const own = new InternalError('ours');
    assert.equal(asConnectorError(own), own);
    assert.equal(backendFailureOf(own), undefined);
    const bug = asConnectorError(new TypeError('x is undefined'));
    assert.ok(bug instanceof ConnectorError);
    assert.equal(bug.code, 'internal_error');
    assert.doesNotMatch(bug.message, /x is undefined/, 'a bug\'s own text is logged, not sent');
  });
});

describe('sendError', () => {
  it('drops headers a route set before it failed: a HEAD answered 500 carries no X-Is-File, ETag or length', () => {
    const req = new IncomingMessage(new Socket());
    req.method = 'HEAD';
    const res = new ServerResponse(req);
    res.setHeader('content-length', 42);
    res.setHeader('x-is-file', 'true');
    res.setHeader('etag', '"7"');
    sendError(req, res, new InternalError('boom'), false);
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.getHeaderNames().sort(), ['content-type']);
  });
});
