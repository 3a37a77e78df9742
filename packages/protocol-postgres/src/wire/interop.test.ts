// Cross-checks against pg-protocol (node-postgres's codec): its serializer's frontend messages
// parse with ours, and our backend builders parse with its parser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser';
import {
  buildAuthenticationMD5Password,
  buildAuthenticationSASL,
  parsePasswordMessage,
  parseSASLInitialResponse,
  parseSASLResponse,
} from './auth';
import { buildBindComplete } from './bind';
import { buildCommandComplete } from './command-complete';
import { buildCopyResponse } from './copy';
import { buildErrorResponse } from './error';
import { parseFrontend } from './frontend';
import { buildDataRow, buildParameterDescription, buildRowDescription } from './row';
import { parseStartupPhase } from './startup';
import { buildBackendKeyData, buildParameterStatus, buildReadyForQuery } from './status';

function theirs(msg: Buffer): Record<string, unknown> {
  const out: Array<Record<string, unknown>> = [];
  new Parser().parse(msg, (m) => out.push(m as unknown as Record<string, unknown>));
  assert.equal(out.length, 1);
  return out[0] as Record<string, unknown>;
}

describe('pg-protocol interop: its frontend messages parse with ours', () => {
  it('start-up phase', () => {
    const s = parseStartupPhase(serialize.startup({ user: 'u', database: 'd', client_encoding: 'UTF8' }));
    assert.equal(s.type, 'StartupMessage');
    assert.deepEqual(s.type === 'StartupMessage' ? [...s.params] : [], [
      ['user', 'u'],
      ['database', 'd'],
      ['client_encoding', 'UTF8'],
    ]);
    assert.deepEqual(parseStartupPhase(serialize.requestSsl()), { type: 'SSLRequest' });
    assert.deepEqual(parseStartupPhase(serialize.cancel(12, 34)), {
      type: 'CancelRequest',
      pid: 12,
      secret: 34,
    });
  });

  it('query and extended protocol', () => {
    assert.deepEqual(parseFrontend(serialize.query('SELECT 1; SELECT 2')), {
      type: 'Query',
      sql: 'SELECT 1; SELECT 2',
    });
    assert.deepEqual(parseFrontend(serialize.parse({ name: 's1', text: 'SELECT $1', types: [23] })), {
      type: 'Parse',
      name: 's1',
      sql: 'SELECT $1',
      paramTypes: [23],
    });
    assert.deepEqual(
      parseFrontend(
        serialize.bind({ portal: 'p', statement: 's1', values: ['x', null, Buffer.from([1])], binary: true }),
      ),
      {
        type: 'Bind',
        portal: 'p',
        statement: 's1',
        paramFormats: [0, 0, 1],
        params: [Buffer.from('x'), null, Buffer.from([1])],
        resultFormats: [1],
      },
    );
    assert.deepEqual(parseFrontend(serialize.describe({ type: 'P', name: 'p' })), {
      type: 'Describe',
      target: 'P',
      name: 'p',
    });
    assert.deepEqual(parseFrontend(serialize.execute({ portal: 'p', rows: 10 })), {
      type: 'Execute',
      portal: 'p',
      maxRows: 10,
    });
    assert.deepEqual(parseFrontend(serialize.close({ type: 'S', name: 's1' })), {
      type: 'Close',
      target: 'S',
      name: 's1',
    });
    assert.deepEqual(parseFrontend(serialize.sync()), { type: 'Sync' });
    assert.deepEqual(parseFrontend(serialize.flush()), { type: 'Flush' });
    assert.deepEqual(parseFrontend(serialize.end()), { type: 'Terminate' });
  });

  it('COPY and authentication answers', () => {
    assert.deepEqual(parseFrontend(serialize.copyData(Buffer.from('a\tb\n'))), {
      type: 'CopyData',
      data: Buffer.from('a\tb\n'),
    });
    assert.deepEqual(parseFrontend(serialize.copyDone()), { type: 'CopyDone' });
    assert.deepEqual(parseFrontend(serialize.copyFail('stop')), { type: 'CopyFail', reason: 'stop' });
    assert.deepEqual(parsePasswordMessage(serialize.password('pw')), {
      type: 'PasswordMessage',
      password: 'pw',
    });
    assert.deepEqual(
      parseSASLInitialResponse(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=x')),
      {
        type: 'SASLInitialResponse',
        mechanism: 'SCRAM-SHA-256',
        data: Buffer.from('n,,n=*,r=x'),
      },
    );
    assert.deepEqual(parseSASLResponse(serialize.sendSCRAMClientFinalMessage('c=biws')), {
      type: 'SASLResponse',
      data: Buffer.from('c=biws'),
    });
  });
});

describe('pg-protocol interop: our backend messages parse with its parser', () => {
  it('session and result messages', () => {
    assert.equal(theirs(buildReadyForQuery('T')).status, 'T');
    assert.deepEqual(
      [theirs(buildBackendKeyData({ pid: 5, secret: 6 }))].map((m) => [m.processID, m.secretKey]),
      [[5, 6]],
    );
    const ps = theirs(buildParameterStatus('TimeZone', 'UTC'));
    assert.deepEqual([ps.parameterName, ps.parameterValue], ['TimeZone', 'UTC']);
    assert.equal(theirs(buildCommandComplete('INSERT 0 5')).text, 'INSERT 0 5');
    assert.equal(theirs(buildBindComplete()).name, 'bindComplete');
    const rd = theirs(
      buildRowDescription([
        { name: 'email', tableOid: 99, column: 2, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
      ]),
    );
    const f = (rd.fields as Array<Record<string, unknown>>)[0];
    assert.deepEqual(
      [f?.name, f?.tableID, f?.columnID, f?.dataTypeID, f?.format],
      ['email', 99, 2, 25, 'text'],
    );
    assert.deepEqual(theirs(buildDataRow(['a', null])).fields, ['a', null]);
    assert.deepEqual(theirs(buildParameterDescription([23, 25])).dataTypeIDs, [23, 25]);
    const copy = theirs(buildCopyResponse('out', 0, [0, 0]));
    assert.deepEqual(
      [copy.name, copy.binary, (copy.columnTypes as number[]).length],
      ['copyOutResponse', false, 2],
    );
  });

  it('errors and authentication requests', () => {
    const e = theirs(
      buildErrorResponse({ severity: 'ERROR', code: '42501', message: 'denied', hint: 'approval apr_1' }),
    );
    assert.deepEqual([e.name, e.code, e.message, e.hint], ['error', '42501', 'denied', 'approval apr_1']);
    assert.deepEqual(theirs(buildAuthenticationSASL(['SCRAM-SHA-256'])).mechanisms, ['SCRAM-SHA-256']);
    assert.deepEqual(
      theirs(buildAuthenticationMD5Password(Buffer.from([1, 2, 3, 4]))).salt,
      Buffer.from([1, 2, 3, 4]),
    );
  });
});
