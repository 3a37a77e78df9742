import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeStore, openAuditStore, openSqlite } from '@tollgate/control-plane';
import { type Identity, Masker } from '@tollgate/core';
import { ChannelRecorder } from '@tollgate/protocol-ssh';
import { type CliRun, runCli } from '../testing/run-cli';

const bot: Identity = { subject: 'ci-bot', kind: 'service-account', issuer: 'tollgate', groups: ['ci'] };
const ENV_UNSET = ['TOLLGATE_STORE', 'TOLLGATE_AUDIT_PUBLIC_KEY'];

function tollgate(args: string[]): Promise<CliRun> {
  return runCli(args, { unset: ENV_UNSET });
}

/** The CLI, with stdout as bytes. */
async function tollgateBytes(
  args: string[],
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const r = await tollgate(args);
  return { code: r.code, stdout: r.stdoutBytes, stderr: r.stderr };
}

describe('tollgate replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-replay-cli-'));
  const path = join(dir, 'tollgate.db');
  const store = `sqlite:${path}`;
  const shellOut: Buffer[] = [];

  before(async () => {
    const db = openSqlite(path);
    const s = await openAuditStore(db, {});
    const base = { identity: bot, resource: 'box' };
    const recorder = (sessionId: string, channel: number, kind: 'shell' | 'exec', command?: string) =>
      new ChannelRecorder({
        kind,
        channel,
        width: 100,
        height: 30,
        term: 'xterm-256color',
        chunkChars: 64,
        ...(command ? { command } : {}),
        write: async (data) => {
          await s.append({ type: 'recording', sessionId, ...base, data: { ...data } });
        },
      });
    await s.append({ type: 'session.start', sessionId: 'ses_one', ...base });
    const shell = recorder('ses_one', 1, 'shell');
    shell.recordInput(new Masker());
    const send = (b: Buffer) => {
      shellOut.push(b);
      shell.output(b);
    };
    send(Buffer.from('$ '));
    shell.input(Buffer.from('ls\r'));
    for (let i = 0; i < 20; i++) send(Buffer.from(`file-${i}.txt  \x1b[34mdir-${i}\x1b[0m\r\n`));
    send(Buffer.from([0xff, 0xfe, 0x41])); // not UTF-8
    send(Buffer.from('€').subarray(0, 2));
    send(Buffer.from('€').subarray(2));
    shell.resize(120, 40);
    send(Buffer.from('\r\n$ '));
    await shell.close();

    await s.append({ type: 'session.start', sessionId: 'ses_two', ...base });
    for (const [n, cmd] of [
      [1, 'uptime'],
      [2, 'cat /etc/hostname'],
    ] as const) {
      const r = recorder('ses_two', n, 'exec', cmd);
      r.output(Buffer.from(`output of ${cmd}\n`));
      r.output(Buffer.from('a warning\n'), 'stderr');
      await r.close();
    }
    await s.append({ type: 'session.start', sessionId: 'ses_quiet', ...base });
    await s.close();
    await closeStore(db);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--no-timing writes exactly the bytes of the recording, after verifying the chain', async () => {
    const r = await tollgateBytes(['replay', 'ses_one', '--store', store, '--no-timing']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(Buffer.concat(shellOut)), 'the exact bytes, invalid UTF-8 included');
    assert.match(r.stderr, /audit chain verified \(\d+ records, signatures not checked: no --public-key\)/);
  });

  it('plays with the timing (sped up, pauses capped)', async () => {
    const r = await tollgateBytes([
      'replay',
      'ses_one',
      '--store',
      store,
      '--speed',
      '50',
      '--max-idle',
      '0.1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(Buffer.concat(shellOut)));
  });

  it('--export writes an asciicast v2 file with non-decreasing times', async () => {
    const file = join(dir, 'one.cast');
    const r = await tollgate(['replay', 'ses_one', '--store', store, '--export', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wrote .*one\.cast \(asciicast v2, channel 1\)/);
    const [head, ...lines] = readFileSync(file, 'utf8').trimEnd().split('\n');
    const header = JSON.parse(head as string);
    assert.deepEqual(
      { version: header.version, width: header.width, height: header.height, env: header.env },
      { version: 2, width: 100, height: 30, env: { TERM: 'xterm-256color' } },
    );
    assert.equal(typeof header.timestamp, 'number');
    const evs = lines.map((l) => JSON.parse(l) as [number, string, string]);
    let t = 0;
    for (const e of evs) {
      assert.equal(e.length, 3);
      assert.ok(e[0] >= t, 'times never decrease');
      t = e[0];
      assert.ok(['o', 'i', 'r'].includes(e[1]));
    }
    const out = evs
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    assert.equal(
      out,
      Buffer.concat(shellOut).toString('utf8'),
      'the text a player shows (U+FFFD for bad bytes)',
    );
    assert.ok(evs.some((e) => e[1] === 'i' && e[2] === 'ls\r'));
    assert.ok(evs.some((e) => e[1] === 'r' && e[2] === '120x40'));
  });

  it('lists the channels of a session that has several, and plays the one chosen', async () => {
    const ambiguous = await tollgate(['replay', 'ses_two', '--store', store, '--no-timing']);
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /ses_two has 2 recorded channels/);
    assert.match(ambiguous.stderr, /1 {2}exec "uptime" {2}80x24|1 {2}exec "uptime" {2}100x30/);
    assert.match(ambiguous.stderr, /choose one with --channel N/);
    const list = await tollgate(['replay', 'ses_two', '--store', store, '--list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^session ses_two: 2 recorded channels\n/);
    assert.match(list.stdout, /2 {2}exec "cat \/etc\/hostname"/);
    const two = await tollgate(['replay', 'ses_two', '--store', store, '--channel', '2', '--no-timing']);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(two.stdout, 'output of cat /etc/hostname\na warning\n');
    const none = await tollgate(['replay', 'ses_two', '--store', store, '--channel', '3']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /has no recorded channel 3/);
  });

  it('clear errors for an unknown session and a session without a recording', async () => {
    const unknown = await tollgate(['replay', 'ses_nope', '--store', store]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no session ses_nope in the audit store/);
    const quiet = await tollgate(['replay', 'ses_quiet', '--store', store]);
    assert.equal(quiet.code, 1);
    assert.match(quiet.stderr, /session ses_quiet has no recording/);
    const missing = await tollgate(['replay', '--store', store]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /which session\?/);
    const speed = await tollgate(['replay', 'ses_one', '--store', store, '--speed', '0']);
    assert.equal(speed.code, 2);
    assert.match(speed.stderr, /--speed: expected a positive number/);
  });

  it('refuses to replay from a chain that does not verify, unless told not to verify', async () => {
    const copy = join(dir, 'tampered.db');
    const db = openSqlite(path);
    db.kind === 'sqlite' && db.db.exec(`VACUUM INTO '${copy}'`);
    await closeStore(db);
    const t = openSqlite(copy);
    if (t.kind === 'sqlite') {
      // someone edits what the recording shows
      t.db.exec("UPDATE audit_log SET data = replace(data, 'file-3', 'file-X') WHERE type = 'recording'");
    }
    await closeStore(t);
    const r = await tollgate(['replay', 'ses_one', '--store', `sqlite:${copy}`, '--no-timing']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /audit chain does not verify; not replaying/);
    assert.match(r.stderr, /altered/);
    const forced = await tollgate([
      'replay',
      'ses_one',
      '--store',
      `sqlite:${copy}`,
      '--no-timing',
      '--no-verify',
    ]);
    assert.equal(forced.code, 0);
    assert.match(forced.stderr, /the audit chain was NOT verified/);
    assert.match(forced.stdout, /file-X/);
  });
});
