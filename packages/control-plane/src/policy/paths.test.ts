import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePathPattern, normalisePath, pathPatternProblem } from './paths';

describe('normalisePath', () => {
  it('resolves . and .., repeated and trailing slashes', () => {
    assert.equal(normalisePath('/srv/app/./conf//a.yml'), '/srv/app/conf/a.yml');
    assert.equal(normalisePath('/srv/app/../../etc/passwd'), '/etc/passwd');
    assert.equal(normalisePath('/../../etc/'), '/etc');
    assert.equal(normalisePath('/'), '/');
    assert.equal(normalisePath('//'), '/');
  });

  it('resolves a relative path against cwd, and refuses it without one', () => {
    assert.equal(normalisePath('a/../b.txt', '/home/agent'), '/home/agent/b.txt');
    assert.equal(normalisePath('', '/home/agent'), '/home/agent');
    assert.equal(normalisePath('../../../etc', '/home/agent'), '/etc');
    assert.equal(normalisePath('a.txt'), undefined);
    assert.equal(normalisePath('a.txt', 'relative'), undefined);
    assert.equal(normalisePath('/etc/pass\0wd'), undefined);
  });
});

describe('path patterns', () => {
  const m = (pattern: string, path: string) => compilePathPattern(pattern)(path);

  it('** spans any number of segments, none included', () => {
    assert.ok(m('/srv/app/**', '/srv/app'));
    assert.ok(m('/srv/app/**', '/srv/app/a'));
    assert.ok(m('/srv/app/**', '/srv/app/a/b/c.txt'));
    assert.ok(!m('/srv/app/**', '/srv/apple'));
    assert.ok(!m('/srv/app/**', '/srv'));
    assert.ok(m('/**', '/'));
    assert.ok(m('/**', '/etc/passwd'));
    assert.ok(m('/srv/**/logs/*.log', '/srv/logs/a.log'));
    assert.ok(m('/srv/**/logs/*.log', '/srv/x/y/logs/a.log'));
    assert.ok(!m('/srv/**/logs/*.log', '/srv/x/logs/y/a.log'));
    assert.ok(m('/a/**/b/**/c', '/a/b/x/b/y/c'));
    assert.ok(!m('/a/**/b/**/c', '/a/x/c'));
  });

  it('* and ? stay within one segment', () => {
    assert.ok(m('/etc/*.conf', '/etc/nginx.conf'));
    assert.ok(m('/etc/*.conf', '/etc/.conf'));
    assert.ok(!m('/etc/*.conf', '/etc/nginx/site.conf'));
    assert.ok(!m('/etc/*.conf', '/etc/nginx.confx'));
    assert.ok(m('/etc/*', '/etc/passwd'));
    assert.ok(!m('/etc/*', '/etc'));
    assert.ok(m('/tmp/?.txt', '/tmp/a.txt'));
    assert.ok(m('/tmp/?.txt', '/tmp/é.txt'));
    assert.ok(!m('/tmp/?.txt', '/tmp/ab.txt'));
    assert.ok(m('/var/log/**.gz', '/var/log/a.gz'), '** inside a segment is a *');
    assert.ok(!m('/var/log/**.gz', '/var/log/x/a.gz'));
    assert.ok(m('/a*b*c', '/aXbYbZc'));
  });

  it('matches literally otherwise, case-sensitive, on the normalised path', () => {
    assert.ok(m('/etc/passwd', '/etc/passwd'));
    assert.ok(!m('/etc/passwd', '/etc/Passwd'));
    assert.ok(m('/etc/[ab]', '/etc/[ab]'));
    assert.ok(m('/etc/**', '/srv/app/../../etc/shadow'));
    assert.ok(!m('/srv/app/**', '/srv/app/../../etc/shadow'));
    assert.ok(!m('/**', 'relative/path'), 'an unnormalisable path never matches a pattern');
  });

  it('many stars against a long segment (no exponential backtracking)', () => {
    assert.ok(!m('/*a*a*a*a*a*a*a*a*a*a*b', `/${'a'.repeat(4000)}`));
    assert.ok(m('/*a*a*a*a*a*a*a*a*a*a*b', `/${'a'.repeat(4000)}b`));
  });

  it('refuses relative and unnormalised patterns', () => {
    assert.equal(pathPatternProblem('/srv/app/**'), undefined);
    assert.equal(pathPatternProblem('/'), undefined);
    assert.match(pathPatternProblem('srv/**') ?? '', /absolute/);
    assert.match(pathPatternProblem('/srv//app') ?? '', /'\/\/'/);
    assert.match(pathPatternProblem('/srv/app/') ?? '', /end with '\/'/);
    assert.match(pathPatternProblem('/srv/../etc') ?? '', /'\.\.'/);
  });
});
