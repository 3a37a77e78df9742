// connectTarget / sendCancel against a real PostgreSQL: every authentication method the gateway
// speaks, TLS with CA and host name verification, clear errors for refusals, and cancellation.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { PgFrameReader, Secret, type TlsSettings } from '@tollgate/core';
import {
  type BackendMessage,
  buildQuery,
  buildTerminate,
  connectTarget,
  parseBackend,
  sendCancel,
  type TargetConnection,
  TargetError,
  type TargetOptions,
} from '@tollgate/protocol-postgres';
import { FailureTracker, freePort, type PostgresTarget, psql, runOk, selectProvider } from '../harness/index';

const MD5_PASSWORD = 'md5-Pa55word';
const CLEAR_PASSWORD = 'clear-Pa55word';
/** The role's password as stored: composed é. The gateway presents it decomposed (e + U+0301). */
const NFC_PASSWORD = 'caf\u00e9-secret';
const NFD_PASSWORD = 'cafe\u0301-secret';

interface Certs {
  dir: string;
  caFile: string;
  otherCaFile: string;
  certPem: string;
  keyPem: string;
}

/** A test CA, a server certificate it signs for 127.0.0.1 and localhost, and an unrelated CA. */
async function makeCerts(): Promise<Certs> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-certs-'));
  const ossl = (args: string[]) => runOk('openssl', args, { timeoutMs: 30_000, cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string) =>
    ossl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=Tollgate ${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  await ca('test-ca');
  await ca('other-ca');
  await ossl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  await writeFile(
    join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  await ossl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'test-ca.crt',
    '-CAkey',
    'test-ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  return {
    dir,
    caFile: join(dir, 'test-ca.crt'),
    otherCaFile: join(dir, 'other-ca.crt'),
    certPem: await readFile(join(dir, 'server.crt'), 'utf8'),
    keyPem: await readFile(join(dir, 'server.key'), 'utf8'),
  };
}

/** Reads backend messages from a handed-over connection until ReadyForQuery (bounded). */
function readUntilReady(conn: TargetConnection, timeoutMs: number): Promise<BackendMessage[]> {
  const reader = new PgFrameReader({ maxMessageLength: 1 << 20 });
  const out: BackendMessage[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no ReadyForQuery within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      conn.socket.off('data', onData);
      conn.socket.off('error', finish);
      conn.socket.pause();
      if (err) reject(err);
      else resolve(out);
    };
    const onData = (chunk: Buffer): void => {
      try {
        for (const m of reader.push(chunk)) {
          const msg = parseBackend(m.bytes);
          out.push(msg);
          if (msg.type === 'ReadyForQuery') {
            finish();
            return;
          }
        }
      } catch (e) {
        finish(e as Error);
      }
    };
    conn.socket.on('data', onData);
    conn.socket.on('error', finish);
    if (conn.leftover.length > 0) onData(conn.leftover);
    conn.socket.resume();
  });
}

/** Sends a simple query and returns its rows as text, its command tags and its final status. */
async function query(conn: TargetConnection, sql: string) {
  conn.socket.write(buildQuery(sql));
  const msgs = await readUntilReady(conn, 30_000);
  const rows: Array<Array<string | null>> = [];
  const columns: string[] = [];
  const tags: string[] = [];
  let error: string | undefined;
  let status = '';
  for (const m of msgs) {
    if (m.type === 'RowDescription') columns.push(...m.fields.map((f) => f.name));
    else if (m.type === 'DataRow') rows.push(m.values.map((v) => (v === null ? null : v.toString())));
    else if (m.type === 'CommandComplete') tags.push(m.tag);
    else if (m.type === 'ErrorResponse') error = `${m.fields.code} ${m.fields.message}`;
    else if (m.type === 'ReadyForQuery') status = m.status;
  }
  return { columns, rows, tags, error, status };
}

function close(conn: TargetConnection): void {
  conn.socket.on('error', () => undefined);
  conn.socket.end(buildTerminate());
}

/** A rejection that is a TargetError matching `re`, naming no password. */
function refusal(re: RegExp, secrets: string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof TargetError, `expected a TargetError, got ${inspect(e)}`);
    assert.equal(e.code, 'TG_TARGET_UNAVAILABLE');
    assert.match(e.message, re);
    const shown = `${inspect(e)} ${JSON.stringify(e)} ${e.hint ?? ''}`;
    for (const s of secrets) assert.ok(!shown.includes(s), 'a password appears in the error');
    return true;
  };
}

describe('connectTarget and sendCancel against a real PostgreSQL', () => {
  const failures = new FailureTracker();
  let plain: PostgresTarget | undefined;
  let secure: PostgresTarget | undefined;
  let certs: Certs | undefined;

  before(
    async () => {
      certs = await makeCerts();
      const provider = await selectProvider();
      // One after the other: the machine has two cores.
      plain = await provider.startPostgres({ suite: 'target-connect-plain' });
      secure = await provider.startPostgres({
        suite: 'target-connect-tls',
        tls: { certPem: certs.certPem, keyPem: certs.keyPem },
        hba: ['host all md5_user all md5', 'host all clear_user all password'],
      });
      const setup = await psql(secure, {
        sql: [
          "SET password_encryption = 'md5';",
          `CREATE ROLE md5_user LOGIN PASSWORD '${MD5_PASSWORD}';`,
          "SET password_encryption = 'scram-sha-256';",
          `CREATE ROLE clear_user LOGIN PASSWORD '${CLEAR_PASSWORD}';`,
          `CREATE ROLE nfc_user LOGIN PASSWORD '${NFC_PASSWORD}';`,
          "SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolname LIKE '%_user' ORDER BY 1;",
        ].join('\n'),
      });
      assert.equal(setup.code, 0, setup.stderr);
      assert.equal(setup.stdout, 'clear_user|SCR\nmd5_user|md5\nnfc_user|SCR\n');
    },
    { timeout: 240_000 },
  );
  afterEach(failures.afterEach);
  after(
    async () => {
      await plain?.stop({ keepLogs: failures.failed });
      await secure?.stop({ keepLogs: failures.failed });
      if (certs) await rm(certs.dir, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  const options = (t: PostgresTarget | undefined, o: Partial<TargetOptions> = {}): TargetOptions => {
    assert.ok(t, 'PostgreSQL did not start');
    return {
      host: t.host,
      port: t.port,
      user: t.user,
      password: new Secret(t.password),
      database: t.database,
      tls: undefined,
      connectTimeoutMs: 10_000,
      ...o,
    };
  };
  const verifyFull = (o: Partial<TlsSettings> = {}): TlsSettings => ({
    mode: 'verify-full',
    caFile: certs?.caFile as string,
    ...o,
  });

  test('SCRAM-SHA-256 (the harness default): the session answers a query read through our parsers', {
    timeout: 60_000,
  }, async () => {
    const conn = await connectTarget(
      options(plain, { startupParams: { application_name: 'tollgate-target-test', user: 'ignored' } }),
    );
    try {
      assert.equal(conn.authMethod, 'scram-sha-256');
      assert.equal(conn.encrypted, false);
      assert.match(conn.serverVersion, /^15\./);
      assert.ok(conn.backendKey.pid > 0);
      assert.equal(conn.parameters.get('client_encoding'), 'UTF8');
      assert.equal(conn.parameters.get('application_name'), 'tollgate-target-test');
      const r = await query(
        conn,
        "SELECT current_user AS who, 1 + 1 AS two, NULL AS nothing; SELECT 'second'",
      );
      assert.deepEqual(r.columns, ['who', 'two', 'nothing', '?column?']);
      assert.deepEqual(r.rows, [[plain?.user as string, '2', null], ['second']]);
      assert.deepEqual(r.tags, ['SELECT 1', 'SELECT 1']);
      assert.equal(r.status, 'I');
    } finally {
      close(conn);
    }
  });

  test('md5: a role whose password is stored as md5, under a pg_hba md5 line', {
    timeout: 60_000,
  }, async () => {
    const conn = await connectTarget(
      options(secure, { user: 'md5_user', password: new Secret(MD5_PASSWORD) }),
    );
    try {
      assert.equal(conn.authMethod, 'md5');
      assert.deepEqual((await query(conn, 'SELECT current_user')).rows, [['md5_user']]);
    } finally {
      close(conn);
    }
  });

  test('cleartext password, under a pg_hba password line', { timeout: 60_000 }, async () => {
    const conn = await connectTarget(
      options(secure, { user: 'clear_user', password: new Secret(CLEAR_PASSWORD) }),
    );
    try {
      assert.equal(conn.authMethod, 'password');
      assert.deepEqual((await query(conn, 'SELECT current_user')).rows, [['clear_user']]);
    } finally {
      close(conn);
    }
  });

  test('SCRAM applies SASLprep: a decomposed é logs in to a role set with a composed one', {
    timeout: 60_000,
  }, async () => {
    const conn = await connectTarget(
      options(secure, { user: 'nfc_user', password: new Secret(NFD_PASSWORD) }),
    );
    try {
      assert.equal(conn.authMethod, 'scram-sha-256');
      assert.deepEqual((await query(conn, 'SELECT current_user')).rows, [['nfc_user']]);
    } finally {
      close(conn);
    }
  });

  test('a wrong password is a clear refusal carrying 28P01, without the password', {
    timeout: 60_000,
  }, async () => {
    const wrong = 'not-the-Pa55word';
    for (const [t, user, password] of [
      [plain, plain?.user as string, wrong],
      [secure, 'md5_user', wrong],
      [secure, 'clear_user', wrong],
    ] as const) {
      const err = await connectTarget(options(t, { user, password: new Secret(password) })).catch(
        (e: unknown) => e,
      );
      refusal(
        new RegExp(
          `refused the login of role "${user}": password authentication failed for user "${user}" \\(SQLSTATE 28P01\\)`,
        ),
        [wrong, t?.password as string, MD5_PASSWORD, CLEAR_PASSWORD],
      )(err);
      assert.equal((err as TargetError).server?.code, '28P01');
    }
  });

  test('a database that does not exist is refused with 3D000', { timeout: 60_000 }, async () => {
    await assert.rejects(
      connectTarget(options(plain, { database: 'no_such_db' })),
      refusal(/refused the connection: database "no_such_db" does not exist \(SQLSTATE 3D000\)/, []),
    );
  });

  test('TLS verify-full: CA and host name checked, by IP address and by DNS name', {
    timeout: 60_000,
  }, async () => {
    for (const tls of [verifyFull(), verifyFull({ serverName: 'localhost' })]) {
      const conn = await connectTarget(options(secure, { tls }));
      try {
        assert.equal(conn.encrypted, true);
        assert.equal(conn.authMethod, 'scram-sha-256');
        const r = await query(conn, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        assert.deepEqual(r.rows, [['t']]);
      } finally {
        close(conn);
      }
    }
  });

  test('TLS verify-full refuses a certificate from another CA, and a name it was not issued for', {
    timeout: 60_000,
  }, async () => {
    await assert.rejects(
      connectTarget(options(secure, { tls: verifyFull({ caFile: certs?.otherCaFile as string }) })),
      refusal(
        /^TLS verification of target 127\.0\.0\.1:\d+ failed: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)$/,
        [],
      ),
    );
    await assert.rejects(
      connectTarget(options(secure, { tls: verifyFull({ serverName: 'db.example.com' }) })),
      refusal(
        /TLS verification of target .* failed: .*db\.example\.com.*\(ERR_TLS_CERT_ALTNAME_INVALID\)/,
        [],
      ),
    );
  });

  test('TLS require does not verify, and still encrypts', { timeout: 60_000 }, async () => {
    const conn = await connectTarget(
      options(secure, { tls: { mode: 'require', caFile: certs?.otherCaFile as string } }),
    );
    try {
      assert.equal(conn.encrypted, true);
      assert.deepEqual((await query(conn, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows, [
        ['t'],
      ]);
    } finally {
      close(conn);
    }
  });

  test('TLS required but the server has ssl off: a clear refusal', { timeout: 60_000 }, async () => {
    for (const mode of ['require', 'verify-full'] as const) {
      await assert.rejects(
        connectTarget(options(plain, { tls: { mode, caFile: certs?.caFile as string } })),
        refusal(/does not accept TLS connections \(it answered 'N' to SSLRequest\)/, []),
      );
    }
  });

  test('a target that is down is TARGET_UNAVAILABLE naming the address', { timeout: 60_000 }, async () => {
    const port = await freePort();
    await assert.rejects(
      connectTarget(options(plain, { port })),
      refusal(
        new RegExp(`^target 127\\.0\\.0\\.1:${port} is not accepting connections \\(ECONNREFUSED\\)$`),
        [],
      ),
    );
  });

  for (const over of ['plaintext', 'TLS'] as const) {
    test(`sendCancel over ${over} stops a running pg_sleep(30) with 57014`, { timeout: 25_000 }, async () => {
      const t = over === 'TLS' ? secure : plain;
      const tls = over === 'TLS' ? verifyFull() : undefined;
      const conn = await connectTarget(options(t, { tls }));
      try {
        const running = query(conn, 'SELECT pg_sleep(30)');
        // wait until the server runs it, bounded
        for (let i = 0; ; i++) {
          const r = await psql(t as PostgresTarget, {
            sql: `SELECT count(*) FROM pg_stat_activity WHERE pid = ${conn.backendKey.pid} AND state = 'active';`,
          });
          if (r.stdout.trim() === '1') break;
          assert.ok(i < 50, 'the query never started');
          await new Promise((res) => setTimeout(res, 100));
        }
        await sendCancel({ host: t?.host as string, port: t?.port as number, tls }, conn.backendKey);
        const r = await running;
        assert.equal(r.error, '57014 canceling statement due to user request');
        assert.equal(r.status, 'I');
        // the session is still usable
        assert.deepEqual((await query(conn, 'SELECT 1')).rows, [['1']]);
      } finally {
        close(conn);
      }
    });
  }
});
