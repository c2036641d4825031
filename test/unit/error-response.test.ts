import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { InternalError } from '../../src/errors.ts';
import { sendError, STATUS_BY_CODE } from '../../src/server/error-response.ts';

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
