import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const BIN = join(__dirname, '..', 'bin', 'tollgate.js');

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `input`: bytes or a writer for a pipe to the child's stdin, or a file descriptor it reads. */
function tollgate(
  args: string[],
  input?: Buffer | ((w: NodeJS.WritableStream) => void) | { fd: number },
  env = process.env,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child =
      input !== undefined && 'fd' in input
        ? spawn(process.execPath, [BIN, ...args], { env, stdio: [input.fd, 'pipe', 'pipe'] })
        : spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    assert.ok(child.stdout && child.stderr); // both piped
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    if (child.stdin === null) return;
    if (typeof input === 'function') input(child.stdin);
    else child.stdin.end(Buffer.isBuffer(input) ? input : Buffer.alloc(0));
  });
}

describe('tollgate', () => {
  it('lists every command, each of which loads and prints its usage', async () => {
    const top = await tollgate(['--help']);
    assert.equal(top.code, 0, top.stderr);
    const names = [...top.stdout.toString().matchAll(/^ {2}([a-z-]+) {2,}\S/gm)].map((m) => m[1] as string);
    assert.deepEqual(names, ['serve', 'mask', 'approvals', 'policy', 'service-accounts', 'audit', 'replay']);
    for (const name of names) {
      const r = await tollgate([name, '--help']);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout.toString(), new RegExp(`^Usage: tollgate ${name}\\b`));
    }
  });

  it('mask without --config loads neither the gateway, the control plane nor the YAML parser', () => {
    const script = `require(${JSON.stringify(join(__dirname, 'cli.js'))})
      .main(['mask'], { stdin: require('node:stream').Readable.from([Buffer.from('ann@example.com')]),
                        stdout: new (require('node:stream').PassThrough)() })
      .then((code) => console.log(JSON.stringify({ code, loaded: Object.keys(require.cache) })));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const { code, loaded } = JSON.parse(r.stdout) as { code: number; loaded: string[] };
    assert.equal(code, 0);
    assert.ok(loaded.some((f) => f.includes('core')));
    const heavy = loaded.filter((f) =>
      /control-plane|protocol-|gateway[\\/]dist[\\/]gateway|better-sqlite3|[\\/](pg|yaml)[\\/]/.test(f),
    );
    assert.deepEqual(heavy, []);
  });
});

describe('tollgate mask', () => {
  it('masks standard input with the default entity set', async () => {
    const r = await tollgate(
      ['mask'],
      Buffer.from('Card 4111 1111 1111 1111 for ann@example.com\r\nssn 123-45-6789\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'Card [REDACTED:card] for [REDACTED:email]\r\nssn [REDACTED:ssn]\n');
  });

  it('keeps bytes that are not masked byte-identical (binary input)', async () => {
    const bin = randomBytes(300_000);
    // random bytes can contain digit runs; only unmasked output must be identical, so keep to
    // entities that random bytes cannot plausibly form
    const r = await tollgate(['mask', '--entities', 'private_key,jwt'], bin);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(bin));
  });

  it('reads files, applies styles and writes a JSON report to stderr', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.csv');
    const b = join(dir, 'b.log');
    writeFileSync(a, 'id,card\n1,4111-1111-1111-1111\n');
    writeFileSync(b, 'login from 10.1.2.3 by ann@example.com\n');
    const r = await tollgate(
      [
        'mask',
        '--style',
        'card=last4',
        '--style',
        'hash',
        '--hash-key-env',
        'TG_KEY',
        '--report',
        'json',
        a,
        b,
      ],
      undefined,
      {
        ...process.env,
        TG_KEY: 'a-test-key-of-enough-length',
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(
      out,
      /^id,card\n1,\*{4}-\*{4}-\*{4}-1111\nlogin from \[ipv4:[0-9a-f]{16}\] by \[email:[0-9a-f]{16}\]\n$/,
    );
    const report = JSON.parse(r.stderr);
    assert.deepEqual(report.counts, { card: 1, ipv4: 1, email: 1 });
    assert.equal(report.files, 2);
    assert.ok(!r.stderr.includes('a-test-key'));
  });

  it('reads the masking section of a config file, with custom entities', async () => {
    const dir = tempDir();
    const cfg = join(dir, 'tollgate.yaml');
    writeFileSync(
      cfg,
      "masking:\n  entities: [email]\n  custom:\n    - name: employee_id\n      pattern: 'EMP-\\d{6}'\n",
    );
    const r = await tollgate(
      ['mask', '--config', cfg],
      Buffer.from('EMP-123456 ann@example.com 4111 1111 1111 1111\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), '[REDACTED:employee_id] [REDACTED:email] 4111 1111 1111 1111\n');
  });

  it('gives clear errors and exit status 2 for bad configuration', async () => {
    const dir = tempDir();
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'masking:\n  custom:\n    - name: emp\n      pattern: "EMP-\\\\d+"\n');
    const bad = await tollgate(['mask', '--config', cfg], Buffer.from('x'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /entity 'emp': pattern can match text of unbounded length/);
    const unknown = await tollgate(['mask', '--entities', 'card,passport'], Buffer.from('x'));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--entities: unknown entity 'passport'/);
    const field = join(dir, 'field.yaml');
    writeFileSync(field, 'listeners: []\n');
    const f = await tollgate(['mask', '--config', field], Buffer.from('x'));
    assert.equal(f.code, 2);
    assert.match(f.stderr, /field.yaml:1:1: listeners: unknown field/);
    const missing = await tollgate(['mask', join(dir, 'nope.txt')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope.txt: no such file/);
  });

  it('masks standard input redirected from a file (read a MiB at a time) like the same bytes through a pipe', async () => {
    const dir = tempDir();
    // values straddle every 64 KiB and 1 MiB boundary of the reads, at shifting offsets
    const rows: string[] = [];
    for (let i = 0; rows.join('').length < 3 * 1024 * 1024; i++) {
      rows.push(`${'x'.repeat(i % 97)} ann${i}@example.com 4111 1111 1111 1111 ssn 123-45-6789\n`);
    }
    const input = Buffer.from(rows.join(''));
    const file = join(dir, 'export.txt');
    writeFileSync(file, input);
    const piped = await tollgate(['mask', '--report', 'json'], input);
    assert.equal(piped.code, 0, piped.stderr);
    const fd = openSync(file, 'r');
    const redirected = await tollgate(['mask', '--report', 'json'], { fd }).finally(() => closeSync(fd));
    assert.equal(redirected.code, 0, redirected.stderr);
    assert.ok(redirected.stdout.equals(piped.stdout));
    const counts = JSON.parse(redirected.stderr).counts;
    assert.deepEqual(counts, JSON.parse(piped.stderr).counts);
    assert.deepEqual(counts, { card: rows.length, ssn: rows.length, email: rows.length });
  });

  it('streams large input in constant memory', async () => {
    // 256 MiB through the CLI; the child must not buffer it
    const line = Buffer.from('2024-05-06T12:30:45Z user ann@example.com paid with 4111 1111 1111 1111 ok\n');
    const block = Buffer.concat(Array.from({ length: 8192 }, () => line));
    const total = 256 * 1024 * 1024;
    const r = await tollgate(
      ['mask', '--report', 'json'],
      (w) => {
        let sent = 0;
        const pump = () => {
          while (sent < total) {
            sent += block.length;
            if (!w.write(block)) {
              w.once('drain', pump);
              return;
            }
          }
          w.end();
        };
        pump();
      },
      process.env,
    );
    assert.equal(r.code, 0, r.stderr.slice(0, 500));
    const report = JSON.parse(r.stderr);
    assert.ok(report.bytesIn >= total);
    assert.equal(report.counts.email, report.counts.card);
    assert.equal(report.counts.email, Math.ceil(total / block.length) * 8192);
    assert.ok(report.maxRssBytes < 192 * 1024 * 1024, `peak RSS ${report.maxRssBytes} for 256 MiB of input`);
  });
});
