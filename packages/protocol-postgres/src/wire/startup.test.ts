import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgFrameReader, TollgateError } from '@tollgate/core';
import {
  buildCancelRequest,
  buildGSSENCRequest,
  buildNegotiateProtocolVersion,
  buildSSLRequest,
  buildStartupMessage,
  negotiateProtocolVersion,
  parseNegotiateProtocolVersion,
  parseStartupPhase,
  type StartupMessage,
} from './startup';
import { violation } from './testing';

/** A start-up message with an arbitrary version code, built like the real one. */
function withVersion(major: number, minor: number): Buffer {
  const m = buildStartupMessage({ user: 'alice' });
  m.writeInt32BE((major << 16) | minor, 4);
  return m;
}

describe('StartupMessage (F)', () => {
  it('round-trips protocol 3.0 with its parameters in order', () => {
    const msg = buildStartupMessage({
      user: 'alice',
      database: 'shop',
      application_name: 'psql',
      DateStyle: 'ISO',
    });
    const m = parseStartupPhase(msg) as StartupMessage;
    assert.equal(m.type, 'StartupMessage');
    assert.equal(m.major, 3);
    assert.equal(m.minor, 0);
    assert.deepEqual(
      [...m.params],
      [
        ['user', 'alice'],
        ['database', 'shop'],
        ['application_name', 'psql'],
        ['DateStyle', 'ISO'],
      ],
    );
    assert.equal(m.protocolOptions.size, 0);
    assert.equal(negotiateProtocolVersion(m), undefined);
  });

  it('keeps UTF-8 values and a parameter named __proto__ as plain data', () => {
    const m = parseStartupPhase(buildStartupMessage({ user: 'zoë', ['__proto__']: 'x' })) as StartupMessage;
    assert.equal(m.params.get('user'), 'zoë');
    assert.equal(m.params.get('__proto__'), 'x');
  });

  it('separates _pq_ protocol options from run-time parameters', () => {
    const m = parseStartupPhase(
      buildStartupMessage(
        new Map([
          ['user', 'a'],
          ['_pq_.compression', 'on'],
        ]),
      ),
    ) as StartupMessage;
    assert.deepEqual([...m.params.keys()], ['user']);
    assert.deepEqual([...m.protocolOptions], [['_pq_.compression', 'on']]);
  });

  it('answers 3.2 with NegotiateProtocolVersion down to 3.0, naming unknown _pq_ options', () => {
    const m = parseStartupPhase(
      buildStartupMessage(
        new Map([
          ['user', 'a'],
          ['_pq_.x', '1'],
        ]),
        2,
      ),
    ) as StartupMessage;
    assert.equal(m.minor, 2);
    const answer = negotiateProtocolVersion(m);
    assert.ok(answer);
    assert.equal(String.fromCharCode(answer[0] as number), 'v');
    // the version is sent whole: 3 << 16 | 0
    assert.equal(answer.readInt32BE(5), 196608);
    assert.deepEqual(parseNegotiateProtocolVersion(answer), {
      type: 'NegotiateProtocolVersion',
      major: 3,
      minor: 0,
      unrecognizedOptions: ['_pq_.x'],
    });
  });

  it('answers 3.0 with only a _pq_ option too', () => {
    const m = parseStartupPhase(buildStartupMessage(new Map([['_pq_.y', '1']]))) as StartupMessage;
    assert.ok(negotiateProtocolVersion(m));
  });

  it('refuses other protocol versions with a clear error', () => {
    assert.throws(
      () => parseStartupPhase(withVersion(2, 0)),
      violation(/unsupported frontend protocol 2\.0.*3\.0/),
    );
    assert.throws(
      () => parseStartupPhase(withVersion(4, 1)),
      violation(/unsupported frontend protocol 4\.1/),
    );
    assert.throws(
      () => parseStartupPhase(withVersion(1234, 5681)),
      violation(/unsupported frontend protocol 1234\.5681/),
    );
  });

  it('refuses a parameter without a value or a missing terminator', () => {
    const good = buildStartupMessage({ user: 'alice' });
    // drop the final NUL and the value's NUL: "user\0alice"
    const cut = Buffer.from(good.subarray(0, good.length - 2));
    cut.writeInt32BE(cut.length, 0);
    assert.throws(() => parseStartupPhase(cut), violation(/value of parameter "user".*no NUL terminator/));
    const noEnd = Buffer.from(good.subarray(0, good.length - 1));
    noEnd.writeInt32BE(noEnd.length, 0);
    assert.throws(() => parseStartupPhase(noEnd), violation(/parameter name.*no NUL terminator/));
  });

  it('refuses a length that does not match or is too short', () => {
    const m = buildStartupMessage({ user: 'a' });
    m.writeInt32BE(m.length + 1, 0);
    assert.throws(() => parseStartupPhase(m), violation(/declares length/));
    assert.throws(() => parseStartupPhase(Buffer.from([0, 0, 0, 4])), violation(/shorter than 8/));
  });

  it('refuses an empty parameter name and a NUL inside a value when building', () => {
    assert.throws(() => buildStartupMessage({ '': 'x' }), violation(/name is empty/));
    assert.throws(() => buildStartupMessage({ user: 'a\0b' }), violation(/contains a NUL/));
  });
});

describe('damaged start-up messages', () => {
  it('parse or throw PROTOCOL_VIOLATION, never anything else', () => {
    const msgs = [
      buildStartupMessage({ user: 'a', database: 'b' }),
      buildCancelRequest({ pid: 1, secret: 2 }),
    ];
    const attempt = (m: Buffer): void => {
      try {
        parseStartupPhase(m);
      } catch (e) {
        if (!(e instanceof TollgateError) || e.code !== 'TG_PROTOCOL_VIOLATION') throw e;
      }
    };
    for (const msg of msgs) {
      for (let n = 8; n < msg.length; n++) {
        const cut = Buffer.from(msg.subarray(0, n));
        cut.writeInt32BE(n, 0);
        attempt(cut);
      }
      for (let i = 4; i < msg.length; i++) {
        for (const v of [0x00, 0x03, 0xff]) {
          const b = Buffer.from(msg);
          b[i] = v;
          attempt(b);
        }
      }
    }
  });
});

describe('SSLRequest, GSSENCRequest, CancelRequest (F)', () => {
  it('round-trip', () => {
    assert.deepEqual(parseStartupPhase(buildSSLRequest()), { type: 'SSLRequest' });
    assert.deepEqual(parseStartupPhase(buildGSSENCRequest()), { type: 'GSSENCRequest' });
    assert.deepEqual(parseStartupPhase(buildCancelRequest({ pid: 4242, secret: -123456789 })), {
      type: 'CancelRequest',
      pid: 4242,
      secret: -123456789,
    });
    assert.equal(buildSSLRequest().readInt32BE(4), 80877103);
    assert.equal(buildGSSENCRequest().readInt32BE(4), 80877104);
    assert.equal(buildCancelRequest({ pid: 1, secret: 2 }).readInt32BE(4), 80877102);
  });

  it('refuse bodies of the wrong size', () => {
    const ssl = Buffer.concat([buildSSLRequest(), Buffer.from([0])]);
    ssl.writeInt32BE(ssl.length, 0);
    assert.throws(
      () => parseStartupPhase(ssl),
      violation(/SSLRequest message has 1 unexpected trailing byte/),
    );
    const cancel = buildCancelRequest({ pid: 1, secret: 2 }).subarray(0, 12);
    const short = Buffer.from(cancel);
    short.writeInt32BE(12, 0);
    assert.throws(
      () => parseStartupPhase(short),
      violation(/CancelRequest message is truncated: secret key/),
    );
  });
});

describe('NegotiateProtocolVersion (B)', () => {
  it('round-trips', () => {
    const m = { major: 3, minor: 0, unrecognizedOptions: ['_pq_.a', '_pq_.b'] };
    assert.deepEqual(parseNegotiateProtocolVersion(buildNegotiateProtocolVersion(m)), {
      type: 'NegotiateProtocolVersion',
      ...m,
    });
  });

  it('refuses an option count past the end', () => {
    const msg = buildNegotiateProtocolVersion({ major: 3, minor: 0, unrecognizedOptions: ['_pq_.a'] });
    msg.writeInt32BE(1000, 9);
    assert.throws(() => parseNegotiateProtocolVersion(msg), violation(/option count 1000/));
  });
});

describe('start-up messages through PgFrameReader', () => {
  const messages = [
    buildStartupMessage({ user: 'alice', database: 'shop', application_name: 'split' }),
    buildSSLRequest(),
    buildGSSENCRequest(),
    buildCancelRequest({ pid: 7, secret: 9 }),
  ];

  function frame(chunks: Buffer[]): Buffer[] {
    const r = new PgFrameReader({ maxMessageLength: 10_000, startup: true });
    const out: Buffer[] = [];
    for (const c of chunks) for (const m of r.push(c)) out.push(m.bytes);
    return out;
  }

  for (const msg of messages) {
    const name = parseStartupPhase(msg).type;
    it(`${name} split at the beginning, middle, end and byte at a time`, () => {
      const cuts = [1, 4, 5, Math.floor(msg.length / 2), msg.length - 1];
      for (const cut of cuts) {
        const got = frame([msg.subarray(0, cut), msg.subarray(cut)]);
        assert.equal(got.length, 1, `cut ${cut}`);
        assert.deepEqual(parseStartupPhase(got[0] as Buffer), parseStartupPhase(msg));
      }
      const bytes = frame([...msg].map((b) => Buffer.from([b])));
      assert.deepEqual(bytes.map(parseStartupPhase), [parseStartupPhase(msg)]);
    });
  }
});
