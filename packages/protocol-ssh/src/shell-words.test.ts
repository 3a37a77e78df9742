import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCommandLine, ShellParseError } from './shell-words';

const programs = (s: string) => parseCommandLine(s).programs;

describe('parseCommandLine', () => {
  it('lists the program of a simple command, with quotes and escapes in its arguments', () => {
    assert.deepEqual(programs('echo hello'), ['echo']);
    assert.deepEqual(parseCommandLine(`echo 'a b' "c \\"d\\"" e\\ f`).commands[0]?.argv, [
      'echo',
      'a b',
      'c "d"',
      'e f',
    ]);
  });

  it('lists every program of pipes, lists and groups', () => {
    assert.deepEqual(programs('cat /etc/passwd | grep root; ls -l && rm -rf /tmp/x || true'), [
      'cat',
      'grep',
      'ls',
      'rm',
      'true',
    ]);
    assert.deepEqual(programs('(cd /tmp; tar cf - .) |& gzip > out.gz &'), ['cd', 'tar', 'gzip']);
    assert.deepEqual(programs('{ uptime; }\nwho'), ['uptime', 'who']);
  });

  it('does not take redirection targets, fd numbers or assignments for programs', () => {
    assert.deepEqual(programs('LANG=C FOO=bar sort < in.txt 2>&1 >> out.txt'), ['sort']);
    assert.deepEqual(parseCommandLine('ls 2>/dev/null -l').commands[0]?.argv, ['ls', '-l']);
  });

  it('parses sh -c and bash -c payloads recursively', () => {
    assert.deepEqual(programs(`sh -c 'rm -rf /tmp/x'`), ['sh', 'rm']);
    assert.deepEqual(programs(`bash -lc "echo hi; bash -c 'shutdown now'"`), ['bash', 'echo', 'shutdown']);
    assert.deepEqual(programs(`/bin/sh -e -c "id"`), ['/bin/sh', 'sh', 'id']);
  });

  it('lists the programs of command and process substitutions, before the command that uses them', () => {
    assert.deepEqual(programs('echo $(rm -rf /tmp/x)'), ['rm', 'echo']);
    assert.deepEqual(programs('echo "today: `date`"'), ['date', 'echo']);
    assert.deepEqual(programs('diff <(ls a) <(ls b)'), ['ls', 'diff']);
    assert.deepEqual(programs(`echo $((1 + 2)) \${HOME}`), ['echo']);
  });

  it('lists the programs that wrappers run', () => {
    assert.deepEqual(programs('sudo -u root rm -rf /'), ['sudo', 'rm']);
    assert.deepEqual(programs('env -i PATH=/bin /usr/bin/rm x'), ['env', '/usr/bin/rm', 'rm']);
    assert.deepEqual(programs('timeout 5 nice -n 10 xargs -n 1 kill'), ['timeout', 'nice', 'xargs', 'kill']);
    assert.deepEqual(programs('find /tmp -name "*.log" -exec rm {} \\;'), ['find', 'rm']);
    assert.deepEqual(programs(`eval "reboot"`), ['eval', 'reboot']);
  });

  it('skips reserved words of compound commands', () => {
    assert.deepEqual(programs('if test -f x; then cat x; else touch x; fi'), ['test', 'cat', 'touch']);
    assert.deepEqual(programs('for f in a b; do rm "$f"; done'), ['rm']);
  });

  it('ignores comments', () => {
    assert.deepEqual(programs('ls # ; rm -rf /'), ['ls']);
  });

  it('refuses what it cannot read, with a reason', () => {
    assert.throws(
      () => parseCommandLine(`echo 'oops`),
      (e: Error) => e instanceof ShellParseError && /single quote/.test(e.message),
    );
    assert.throws(() => parseCommandLine('echo "oops'), /double quote/);
    assert.throws(() => parseCommandLine('echo $(ls'), /unterminated/);
    assert.throws(() => parseCommandLine('case x in a) ls;; esac'), /case/);
    assert.throws(() => parseCommandLine('cat <<EOF\nx\nEOF'), /here-documents/);
    let deep = 'ls';
    for (let i = 0; i < 12; i++) deep = `sh -c ${JSON.stringify(deep)}`;
    assert.throws(() => parseCommandLine(deep), /nests deeper/);
  });

  it('returns no program for an empty line', () => {
    assert.deepEqual(programs('   '), []);
  });
});
