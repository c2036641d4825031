import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATUS_BY_CODE } from '../../src/server/error-response.ts';

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
    });
  });
});
