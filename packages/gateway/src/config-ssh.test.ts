import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { YamlSource } from '@tollgate/core';
import { parseConfig } from './config';

const parse = (text: string) => parseConfig(new YamlSource('/etc/tollgate/tollgate.yaml', text));

describe('the ssh: config section', () => {
  it('reads the listener, resolving the host key file against the config directory', () => {
    const c = parse(
      'ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: state/host_key\n  connectTimeoutMs: 5000\n',
    );
    assert.deepEqual(c.ssh, {
      host: '0.0.0.0',
      port: 2222,
      hostKeyFile: '/etc/tollgate/state/host_key',
      connectTimeoutMs: 5000,
    });
  });

  it('reads the recording settings', () => {
    const c = parse(
      'ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  recording:\n    enabled: true\n    input: false\n    maxBytes: 1048576\n',
    );
    assert.deepEqual(c.ssh?.recording, { enabled: true, input: false, maxBytes: 1048576 });
    const off = parse('ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  recording: { enabled: false }\n');
    assert.deepEqual(off.ssh?.recording, { enabled: false });
    assert.equal(parse('ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n').ssh?.recording, undefined);
  });

  it('refuses unknown or ill-typed recording fields with file, line and column', () => {
    assert.throws(
      () =>
        parse(
          'ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  recording:\n    enabled: true\n    chunkChars: 10\n',
        ),
      /tollgate\.yaml:6:5: ssh\.recording.*chunkChars/,
    );
    assert.throws(
      () => parse('ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  recording:\n    input: no\n'),
      /tollgate\.yaml:5:\d+: ssh\.recording\.input: expected true or false/,
    );
    assert.throws(
      () => parse('ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  recording:\n    maxBytes: 10\n'),
      /ssh\.recording\.maxBytes: expected a whole number of bytes from 1024/,
    );
  });

  it('names the file, line and field of a mistake', () => {
    assert.throws(
      () => parse('ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  hostkey: typo\n'),
      /tollgate\.yaml:4:\d+: .*hostkey/,
    );
    assert.throws(() => parse('ssh:\n  listen: 0.0.0.0:2222\n'), /ssh\.hostKeyFile/);
    assert.throws(
      () => parse('ssh:\n  listen: 0.0.0.0:2222\n  hostKeyFile: k\n  connectTimeoutMs: 5\n'),
      /ssh\.connectTimeoutMs: expected a whole number/,
    );
  });
});
