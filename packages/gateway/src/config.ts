import { dirname, resolve } from 'node:path';
import {
  type ApprovalsConfig,
  type AuditConfig,
  type ControlPlaneConfig,
  DEFAULT_STORE,
  type IdentityConfig,
  readApprovalsConfig,
  readAuditConfig,
  readIdentityConfig,
  readStoreConfig,
  type StoreSpec,
} from '@tollgate/control-plane';
import { Errors, type MaskingConfig, readMaskingConfig, TollgateError, YamlSource } from '@tollgate/core';
import type { SshRecordingOptions } from '@tollgate/protocol-ssh';
import type { Node } from 'yaml';
import type { PostgresListenerConfig, SshListenerConfig } from './gateway';

/** The gateway's config file. Every section is optional; unknown fields are errors. */
export interface GatewayConfig {
  masking?: MaskingConfig;
  store?: StoreSpec;
  /** The policy file (resolved against the config file's directory). */
  policy?: string;
  api?: { host: string; port: number };
  identity?: IdentityConfig;
  audit?: AuditConfig;
  approvals?: ApprovalsConfig;
  postgres?: PostgresListenerConfig;
  ssh?: SshListenerConfig;
}

export const TOP_LEVEL_FIELDS = [
  'masking',
  'store',
  'policy',
  'api',
  'identity',
  'audit',
  'approvals',
  'postgres',
  'ssh',
] as const;

export const DEFAULT_API = { host: '127.0.0.1', port: 8081 } as const;

export function loadConfig(file: string): GatewayConfig {
  return parseConfig(YamlSource.fromFile(file));
}

export function parseConfig(src: YamlSource): GatewayConfig {
  if (src.root === null) return {};
  const top = src.map(src.root, '', TOP_LEVEL_FIELDS);
  const out: GatewayConfig = {};
  const get = (k: (typeof TOP_LEVEL_FIELDS)[number]): Node | undefined => top.get(k);
  const masking = get('masking');
  if (masking !== undefined) out.masking = readMaskingConfig(src, masking);
  const store = get('store');
  if (store !== undefined) out.store = readStoreConfig(src, store);
  const policy = get('policy');
  if (policy !== undefined) {
    const m = src.map(policy, 'policy', ['file']);
    out.policy = resolve(dirname(src.file), src.string(m.get('file'), 'policy.file'));
  }
  const api = get('api');
  if (api !== undefined) out.api = readApi(src, api);
  const identity = get('identity');
  if (identity !== undefined) out.identity = readIdentityConfig(src, identity);
  const audit = get('audit');
  if (audit !== undefined) out.audit = readAuditConfig(src, audit);
  const approvals = get('approvals');
  if (approvals !== undefined) out.approvals = readApprovalsConfig(src, approvals);
  const postgres = get('postgres');
  if (postgres !== undefined) out.postgres = readPostgres(src, postgres);
  const ssh = get('ssh');
  if (ssh !== undefined) out.ssh = readSsh(src, ssh);
  return out;
}

function readSsh(src: YamlSource, node: Node): SshListenerConfig {
  const m = src.map(node, 'ssh', ['listen', 'hostKeyFile', 'connectTimeoutMs', 'recording']);
  const { host, port } = readListen(src, m.get('listen'), 'ssh.listen');
  const hostKeyFile = resolve(dirname(src.file), src.string(m.get('hostKeyFile'), 'ssh.hostKeyFile'));
  const out: { -readonly [K in keyof SshListenerConfig]: SshListenerConfig[K] } = { host, port, hostKeyFile };
  const t = m.get('connectTimeoutMs');
  if (t !== undefined)
    out.connectTimeoutMs = src.integer(t, 'ssh.connectTimeoutMs', 100, 600_000, 'milliseconds');
  const rec = m.get('recording');
  if (rec !== undefined) out.recording = readSshRecording(src, rec);
  return out;
}

/** `ssh.recording`: `enabled` (default true), `input` (default true), `maxBytes` per channel. */
function readSshRecording(src: YamlSource, node: Node): SshRecordingOptions {
  const m = src.map(node, 'ssh.recording', ['enabled', 'input', 'maxBytes']);
  const out: { -readonly [K in keyof SshRecordingOptions]: SshRecordingOptions[K] } = {};
  if (m.has('enabled')) out.enabled = src.boolean(m.get('enabled'), 'ssh.recording.enabled');
  if (m.has('input')) out.input = src.boolean(m.get('input'), 'ssh.recording.input');
  const max = m.get('maxBytes');
  if (max !== undefined) out.maxBytes = src.integer(max, 'ssh.recording.maxBytes', 1024, 2 ** 40, 'bytes');
  return out;
}

function readPostgres(src: YamlSource, node: Node): PostgresListenerConfig {
  const m = src.map(node, 'postgres', [
    'listen',
    'tls',
    'requireTls',
    'allowPlaintextPasswords',
    'maxMessageLength',
  ]);
  const { host, port } = readListen(src, m.get('listen'), 'postgres.listen');
  const out: { -readonly [K in keyof PostgresListenerConfig]: PostgresListenerConfig[K] } = { host, port };
  const tls = m.get('tls');
  if (tls !== undefined) {
    const t = src.map(tls, 'postgres.tls', ['certFile', 'keyFile']);
    const base = dirname(src.file);
    out.tls = {
      certFile: resolve(base, src.string(t.get('certFile'), 'postgres.tls.certFile')),
      keyFile: resolve(base, src.string(t.get('keyFile'), 'postgres.tls.keyFile')),
    };
  }
  if (m.has('requireTls')) out.requireTls = src.boolean(m.get('requireTls'), 'postgres.requireTls');
  if (m.has('allowPlaintextPasswords')) {
    out.allowPlaintextPasswords = src.boolean(
      m.get('allowPlaintextPasswords'),
      'postgres.allowPlaintextPasswords',
    );
  }
  const max = m.get('maxMessageLength');
  if (max !== undefined)
    out.maxMessageLength = src.integer(max, 'postgres.maxMessageLength', 1024, 1 << 30, 'bytes');
  if (out.requireTls && !out.tls)
    throw src.error(node, 'postgres.requireTls', 'needs postgres.tls (certFile, keyFile)');
  return out;
}

function readApi(src: YamlSource, node: Node): { host: string; port: number } {
  const m = src.map(node, 'api', ['listen']);
  return readListen(src, m.get('listen'), 'api.listen');
}

function readListen(src: YamlSource, node: Node | undefined, field: string): { host: string; port: number } {
  const listen = src.string(node, field);
  const parsed = parseHostPort(listen);
  if (!parsed) throw src.error(node, field, `expected host:port, got '${listen}'`);
  return parsed;
}

/** `host:port` or `[v6]:port`; port 0 means any free port. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) return undefined;
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** The control-plane part of a gateway config, with defaults filled in. */
export function controlPlaneConfig(cfg: GatewayConfig, configFile: string): ControlPlaneConfig {
  if (!cfg.policy) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `${configFile}: policy.file: required to run the gateway`,
      {
        hint: 'add  policy: { file: policy.yaml }  (see deploy/examples/policy.yaml)',
      },
    );
  }
  const base = dirname(resolve(configFile));
  const store = cfg.store ?? { sqlite: resolve(base, DEFAULT_STORE.sqlite) };
  return {
    store,
    policyFile: cfg.policy,
    api: cfg.api ?? DEFAULT_API,
    ...(cfg.audit ? { audit: cfg.audit } : {}),
    ...(cfg.identity ? { identity: cfg.identity } : {}),
    ...(cfg.approvals ? { approvals: cfg.approvals } : {}),
  };
}
