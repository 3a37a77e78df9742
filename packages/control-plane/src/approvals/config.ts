import type { CredentialRef, CredentialVault, YamlSource } from '@tollgate/core';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, type WebhookTarget } from './webhook';

/** A YAML node as `YamlSource` hands them out. */
type YamlNode = Parameters<YamlSource['map']>[0];

/**
 * The `approvals:` section of the gateway config:
 *
 * ```yaml
 * approvals:
 *   webhook:
 *     url: https://chat.example.com/hooks/tollgate
 *     secret: { env: TOLLGATE_WEBHOOK_SECRET }   # or { file: /run/secrets/webhook }
 *     timeoutSeconds: 5                          # optional, 0.1 to 60
 * ```
 */
export interface ApprovalsConfig {
  readonly webhook?: ApprovalsWebhookConfig;
}

export interface ApprovalsWebhookConfig {
  readonly url: string;
  /** Where the HMAC key comes from; the key itself never appears in config. */
  readonly secret: CredentialRef;
  readonly timeoutMs: number;
}

const MAX_TIMEOUT_SECONDS = 60;

/** Reads and checks an `approvals:` mapping; every error names the file, line and field. */
export function readApprovalsConfig(src: YamlSource, node: YamlNode, field = 'approvals'): ApprovalsConfig {
  const m = src.map(node, field, ['webhook']);
  const hook = m.get('webhook');
  return hook === undefined ? {} : { webhook: readWebhook(src, hook, `${field}.webhook`) };
}

function readWebhook(src: YamlSource, node: YamlNode, field: string): ApprovalsWebhookConfig {
  const m = src.map(node, field, ['url', 'secret', 'timeoutSeconds']);
  if (!m.has('url')) throw src.error(node, `${field}.url`, 'required');
  if (!m.has('secret'))
    throw src.error(node, `${field}.secret`, 'required ({ env: NAME } or { file: PATH })');
  const url = src.string(m.get('url'), `${field}.url`);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw src.error(m.get('url'), `${field}.url`, 'expected an http:// or https:// URL');
  }
  const secret = readCredentialRef(src, m.get('secret'), `${field}.secret`);
  let timeoutMs = DEFAULT_WEBHOOK_TIMEOUT_MS;
  if (m.has('timeoutSeconds')) {
    const t = m.get('timeoutSeconds');
    const v = (t as { value?: unknown } | undefined)?.value;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0.1 || v > MAX_TIMEOUT_SECONDS) {
      throw src.error(
        t,
        `${field}.timeoutSeconds`,
        `expected a number of seconds from 0.1 to ${MAX_TIMEOUT_SECONDS}`,
      );
    }
    timeoutMs = Math.round(v * 1000);
  }
  return { url, secret, timeoutMs };
}

function readCredentialRef(src: YamlSource, node: YamlNode, field: string): CredentialRef {
  const m = src.map(node, field, ['env', 'file']);
  if (m.size !== 1) throw src.error(node, field, 'expected exactly one of env or file');
  const env = m.get('env');
  if (env !== undefined) {
    const name = src.string(env, `${field}.env`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw src.error(env, `${field}.env`, 'not an environment variable name');
    return { env: name };
  }
  const file = src.string(m.get('file'), `${field}.file`);
  if (file.length === 0) throw src.error(m.get('file'), `${field}.file`, 'expected a path');
  return { file };
}

/** Resolves the webhook's secret through the vault; `undefined` when no webhook is configured. */
export async function approvalsWebhook(
  config: ApprovalsConfig,
  vault: CredentialVault,
): Promise<WebhookTarget | undefined> {
  const w = config.webhook;
  if (!w) return undefined;
  return { url: w.url, secret: await vault.resolve(w.secret), timeoutMs: w.timeoutMs };
}
