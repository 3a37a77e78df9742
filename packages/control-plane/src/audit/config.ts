import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Errors, TollgateError, type YamlSource } from '@tollgate/core';
import type { Node } from 'yaml';
import type { AuditStoreOptions } from './types';

/**
 * The `audit:` section of a Tollgate config file.
 *
 *   audit:
 *     signingKey: { file: ./keys/audit-ed25519.pem }   # or { env: TOLLGATE_AUDIT_KEY } (PEM text)
 *     checkpointEvery: 1000                            # records between signed checkpoints
 *     checkpointIntervalSeconds: 60                    # or this long, when there are new records
 *     retentionDays: 400                               # prune older records (absent: keep all)
 */
export interface AuditConfig {
  /** Where the Ed25519 private key (PEM) is; never the key itself. */
  signingKey?: { file: string } | { env: string };
  checkpointEvery?: number;
  checkpointIntervalSeconds?: number;
  retentionDays?: number;
}

function positiveNumber(src: YamlSource, node: Node | undefined, field: string, integer: boolean): number {
  const v = (node as { value?: unknown } | undefined)?.value;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw src.error(node, field, integer ? 'expected a positive whole number' : 'expected a positive number');
  }
  return v;
}

/** Reads and checks an `audit:` mapping; every error names the file, line and field. */
export function readAuditConfig(src: YamlSource, node: Node, field = 'audit'): AuditConfig {
  const m = src.map(node, field, [
    'signingKey',
    'checkpointEvery',
    'checkpointIntervalSeconds',
    'retentionDays',
  ]);
  const out: AuditConfig = {};
  const key = m.get('signingKey');
  if (key !== undefined) {
    const f = `${field}.signingKey`;
    const k = src.map(key, f, ['file', 'env']);
    if (k.size !== 1)
      throw src.error(key, f, 'give exactly one of file (a PEM file) or env (a variable holding PEM text)');
    const file = k.get('file');
    const env = k.get('env');
    if (file !== undefined)
      out.signingKey = { file: resolve(dirname(src.file), src.string(file, `${f}.file`)) };
    else out.signingKey = { env: src.string(env, `${f}.env`) };
  }
  if (m.has('checkpointEvery')) {
    out.checkpointEvery = positiveNumber(src, m.get('checkpointEvery'), `${field}.checkpointEvery`, true);
  }
  if (m.has('checkpointIntervalSeconds')) {
    out.checkpointIntervalSeconds = positiveNumber(
      src,
      m.get('checkpointIntervalSeconds'),
      `${field}.checkpointIntervalSeconds`,
      false,
    );
  }
  if (m.has('retentionDays')) {
    out.retentionDays = positiveNumber(src, m.get('retentionDays'), `${field}.retentionDays`, false);
  }
  return out;
}

/**
 * Loads the Ed25519 private key a config names. Errors name the file or variable, never any
 * part of the key.
 */
export function loadAuditSigningKey(
  ref: { file: string } | { env: string },
  env: NodeJS.ProcessEnv = process.env,
): KeyObject {
  const where = 'file' in ref ? `file ${ref.file}` : `environment variable ${ref.env}`;
  let pem: string | undefined;
  if ('file' in ref) {
    try {
      pem = readFileSync(ref.file, 'utf8');
    } catch (err) {
      throw new TollgateError(
        Errors.CREDENTIAL_UNAVAILABLE,
        `audit.signingKey: cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
  } else pem = env[ref.env];
  if (!pem)
    throw new TollgateError(Errors.CREDENTIAL_UNAVAILABLE, `audit.signingKey: ${where} is not set or empty`);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `audit.signingKey: ${where} does not hold a PEM private key`,
      {
        hint: 'create one with: openssl genpkey -algorithm ed25519 -out audit-ed25519.pem',
      },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `audit.signingKey: ${where} holds a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; checkpoints are signed with Ed25519`,
    );
  }
  return key;
}

/** Loads a PEM public key (or derives it from a PEM private key) to verify checkpoints with. */
export function loadAuditPublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `cannot read public key file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new TollgateError(Errors.CONFIG_INVALID, `${file} does not hold a PEM public key`, {
      hint: 'export it with: openssl pkey -in audit-ed25519.pem -pubout -out audit-ed25519.pub.pem',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `${file} holds a ${key.asymmetricKeyType} key, not Ed25519`,
    );
  }
  return key;
}

/** Store options from the `audit:` section (loads the signing key). */
export function auditStoreOptions(cfg: AuditConfig, env: NodeJS.ProcessEnv = process.env): AuditStoreOptions {
  const out: AuditStoreOptions = {};
  if (cfg.signingKey) out.signingKey = loadAuditSigningKey(cfg.signingKey, env);
  if (cfg.checkpointEvery !== undefined) out.checkpointEvery = cfg.checkpointEvery;
  if (cfg.checkpointIntervalSeconds !== undefined)
    out.checkpointIntervalMs = cfg.checkpointIntervalSeconds * 1000;
  return out;
}

/** The `prune(before)` cutoff for `retentionDays`, or undefined when records are kept forever. */
export function retentionCutoff(cfg: AuditConfig, now = Date.now()): number | undefined {
  return cfg.retentionDays === undefined ? undefined : now - cfg.retentionDays * 86_400_000;
}
