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
