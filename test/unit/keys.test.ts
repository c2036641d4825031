import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadRequestError } from '../../src/errors.ts';
import { KeySpace, decodeComponent } from '../../src/keys.ts';

describe('KeySpace', () => {
  const space = new KeySpace('models/v2');

  it('maps keys under the prefix and back', () => {
    assert.equal(space.objectName('a/b'), 'models/v2/a/b');
    assert.equal(space.keyOf('models/v2/a/b'), 'a/b');
    assert.equal(space.keyOf('models/v2-old/a'), undefined);
    assert.equal(new KeySpace('').objectName('a'), 'a');
  });

  it('refuses C0 and C1 control characters and DEL in keys and list prefixes', () => {
    for (const raw of ['a%01b', 'a%1Fb', 'a%7Fb', 'a%C2%80b', 'a%C2%9Fb', 'a%09b']) {
      assert.throws(() => space.parseFilePath(raw), BadRequestError, raw);
    }
    assert.throws(() => space.checkListPrefix('a\u0085'), BadRequestError);
    assert.equal(space.parseFilePath('caf%C3%A9%C2%A0x'), 'café\u00a0x');
  });

  it('listedKey keeps only names that are valid keys under the prefix', () => {
    assert.equal(space.listedKey('models/v2/a/b', false), 'a/b');
    assert.equal(space.listedKey('models/v2/a/', true), 'a/');
    for (const name of ['models/v2/dir/../../../../tmp/secret.txt', 'models/v2/./a', 'models/v2/a//b', 'models/v2/a\u0001', 'models/v2/', 'models/v2-old/a', 'models/v2/../x/']) {
      assert.equal(space.listedKey(name, name.endsWith('/')), undefined, name);
    }
  });

  it('tells files from directories', () => {
    assert.deepEqual(space.parsePath('a/b'), { kind: 'file', key: 'a/b' });
    assert.deepEqual(space.parsePath('a/'), { kind: 'directory', key: 'a/' });
    assert.deepEqual(space.parsePath(''), { kind: 'directory', key: '' });
    assert.throws(() => space.parseFilePath('a/'), BadRequestError);
  });

  it('percent-decodes without turning "+" into a space', () => {
    assert.equal(space.parseFilePath('a%20b+c'), 'a b+c');
    assert.equal(decodeComponent('x%2Fy', 'k'), 'x/y');
  });

  it('reads raw UTF-8 bytes that arrive as latin1', () => {
    assert.equal(space.parseFilePath(Buffer.from('日本', 'utf8').toString('latin1')), '日本');
  });

  it('refuses what the protocol refuses', () => {
    for (const raw of ['/a', 'a//b', './a', 'a/..', 'a%0Ab', 'a%00', '%E0%A4%A', '%C3%28', '.well-known%2Facme-challenge%2Fx']) {
      const bare = new KeySpace('');
      assert.throws(() => bare.parsePath(raw), BadRequestError, raw);
    }
    assert.throws(() => space.parsePath('x'.repeat(1015)), BadRequestError);
    assert.doesNotThrow(() => space.parsePath('x'.repeat(1014)));
  });

  it('allows list prefixes that end inside a name, but checks their whole segments', () => {
    assert.equal(space.checkListPrefix('logs/2024-'), 'logs/2024-');
    assert.equal(space.checkListPrefix(''), '');
    assert.throws(() => space.checkListPrefix('../'), BadRequestError);
    assert.throws(() => space.checkListPrefix('a//'), BadRequestError);
    assert.throws(() => space.checkListPrefix('/a'), BadRequestError);
  });
});
