import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Bind, buildBind, buildBindComplete, formatOf, parseBind, parseBindComplete } from './bind';
import { bodyOf, fuzzParse, rawMessage, truncated, violation } from './testing';

const sample: Omit<Bind, 'type'> = {
  portal: 'p1',
  statement: 'get_user',
  paramFormats: [0, 1],
  params: [Buffer.from('alice@example.com'), Buffer.from([0, 0, 0, 42])],
  resultFormats: [1],
};

describe('Bind (F)', () => {
  it('round-trips formats, values and NULL', () => {
    assert.deepEqual(parseBind(buildBind(sample)), { type: 'Bind', ...sample });
    const withNull = {
      portal: '',
      statement: '',
      paramFormats: [],
      params: [null, Buffer.alloc(0), null],
      resultFormats: [],
    };
    const parsed = parseBind(buildBind(withNull));
    assert.deepEqual(parsed.params, [null, Buffer.alloc(0), null]);
  });

  it('gives parameter values as views into the message', () => {
    const msg = buildBind(sample);
    const p = parseBind(msg).params[0] as Buffer;
    assert.equal(p.buffer, msg.buffer);
  });

  it('refuses a value length past the end', () => {
    const msg = buildBind({ ...sample, params: [Buffer.from('abc')], paramFormats: [0] });
    const body = Buffer.from(bodyOf(msg));
    // the value length sits after the two names, the format list (2 + 2) and the count (2)
    body.writeInt32BE(1000, 3 + 9 + 4 + 2);
    assert.throws(() => parseBind(rawMessage('B', body)), violation(/parameter 1 needs 1000 byte/));
  });

  it('refuses a negative value length other than -1, and formats other than 0/1', () => {
    const msg = buildBind({
      portal: '',
      statement: '',
      paramFormats: [],
      params: [Buffer.from('x')],
      resultFormats: [],
    });
    const body = Buffer.from(bodyOf(msg));
    body.writeInt32BE(-2, 2 + 2 + 2);
    assert.throws(() => parseBind(rawMessage('B', body)), violation(/negative length \(-2\)/));
    const fmt = buildBind({ ...sample, paramFormats: [2] });
    assert.throws(() => parseBind(fmt), violation(/parameter format code 2 is neither 0/));
  });

  it('refuses a format count that matches neither none, one nor the parameters', () => {
    const m = buildBind({ ...sample, paramFormats: [0, 0, 0] });
    assert.throws(() => parseBind(m), violation(/3 parameter format codes for 2 parameters/));
  });

  it('refuses a parameter count larger than the message can hold', () => {
    const m = buildBind({ portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] });
    const body = Buffer.from(bodyOf(m));
    body.writeUInt16BE(60000, 4);
    assert.throws(
      () => parseBind(rawMessage('B', body)),
      violation(/parameter count 60000 runs past the end/),
    );
  });

  it('never reads past the end of a damaged message', () => {
    const { parsed, refused } = fuzzParse(buildBind(sample), parseBind);
    assert.ok(parsed > 0 && refused > 0);
    assert.throws(() => parseBind(truncated(buildBind(sample), 0)), violation(/portal name/));
  });
});

describe('formatOf', () => {
  it('applies the none / one / one each convention', () => {
    assert.equal(formatOf([], 3), 0);
    assert.equal(formatOf([1], 3), 1);
    assert.equal(formatOf([0, 1], 1), 1);
  });
});

describe('BindComplete (B)', () => {
  it('round-trips', () => {
    assert.deepEqual(parseBindComplete(buildBindComplete()), { type: 'BindComplete' });
    assert.throws(() => parseBindComplete(rawMessage('2', Buffer.from([1]))), violation(/trailing/));
  });
});
