import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { printable } from '../../src/cli/commands.ts';

describe('printable (CLI output)', () => {
  it('escapes control characters and the backslash, and leaves other text alone', () => {
    assert.equal(printable('a\u0001b\\c\u009fd\nz é'), 'a\\x01b\\\\c\\x9fd\\x0az é');
  });
});
