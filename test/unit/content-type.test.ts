import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadRequestError } from '../../src/errors.ts';
import { checkContentType } from '../../src/state/content-type.ts';

describe('checkContentType', () => {
  it('accepts media types with parameters, quoted values with spaces and tabs included', () => {
    for (const value of ['application/json', 'text/plain; charset=utf-8', 'multipart/mixed; boundary="a b\tc"', "application/vnd.x+json;v='1'"]) {
      assert.equal(checkContentType(value, 'Content-Type'), value);
    }
  });

  it('refuses control characters, non-ASCII and shapes GCS would echo back broken', () => {
    for (const value of ['text/plain; x="a\u0001b"', 'text/plain; x="\u007f"', 'text/pl\u00e4in', 'text', 'text/plain; charset', 'a/b\r\nx: y', 'x/'.padEnd(300, 'y')]) {
      assert.throws(() => checkContentType(value, 'Content-Type'), BadRequestError, JSON.stringify(value));
    }
  });
});
