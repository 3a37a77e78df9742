import { type CredentialVault, Errors, type Resource, TollgateError } from '@tollgate/core';
import { type BaseAgent, Client, type ConnectConfig } from 'ssh2';
import { fingerprint, KnownHostsCheck } from './host-key';

export { fingerprint } from './host-key';

function samePin(pinned: string, seen: string): boolean {
  return pinned.replace(/=+$/, '') === seen;
}

export interface TargetOptions {
  readonly vault: CredentialVault;
  readonly connectTimeoutMs: number;
  /**
   * The agent offered to the target when a command asks for agent forwarding (`agentForward`);
   * never used to log in to the target (the login uses the resource's credential only).
   */
  readonly agent?: BaseAgent;
}

/**
 * Opens the gateway's own SSH connection to a resource: the resource's username, the
 * credential from the vault (a private key when its text starts with `-----BEGIN`, else a
 * password), and the target's host key checked against the pinned `hostKey` fingerprint and/or
 * the resource's `knownHosts` file (OpenSSH format, read at each connection; with both, the key
 * must pass both). A mismatch, a missing pin or entry, a revoked key, an unreachable target or a
 * refused login rejects with `TARGET_UNAVAILABLE` / `CONFIG_INVALID` / `CREDENTIAL_UNAVAILABLE`
 * and a message that names the cause (the file and the presented fingerprint for a host key),
 * never the credential.
 */
export async function connectTarget(resource: Resource, opts: TargetOptions): Promise<Client> {
  const pinned = resource.hostKey;
  if (!pinned && !resource.knownHosts) {
    throw new TollgateError(Errors.CONFIG_INVALID, `resource ${resource.name} has no pinned hostKey`, {
      hint: "set hostKey to the target's fingerprint (ssh-keygen -lf <host key>.pub) or knownHosts to a known_hosts file",
    });
  }
  if (!resource.username) {
    throw new TollgateError(Errors.CONFIG_INVALID, `resource ${resource.name} has no username`);
  }
  const i = resource.address.lastIndexOf(':');
  const host = resource.address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(resource.address.slice(i + 1));
  const known = resource.knownHosts ? KnownHostsCheck.load(resource.knownHosts, host, port) : undefined;
  const secret = resource.credential ? (await opts.vault.resolve(resource.credential)).reveal() : undefined;

  let refusal: string | undefined;
  const algorithms = known?.algorithms();
  const config: ConnectConfig = {
    host,
    port,
    username: resource.username,
    readyTimeout: opts.connectTimeoutMs,
    keepaliveInterval: 15_000,
    ...(algorithms ? { algorithms: { serverHostKey: algorithms as never } } : {}),
    hostVerifier: (key: Buffer) => {
      const seen = fingerprint(key);
      if (pinned && !samePin(pinned, seen))
        refusal = `the target presented ${seen}, the policy pins ${pinned}`;
      else refusal = known?.check(key);
      return refusal === undefined;
    },
  };
  if (secret !== undefined) {
    if (secret.trimStart().startsWith('-----BEGIN')) config.privateKey = secret;
    else config.password = secret;
  }
  if (opts.agent) config.agent = opts.agent;
  // named explicitly: with an agent configured ssh2 would otherwise try the forwarded keys too
  config.authHandler = [
    'none',
    ...(config.password !== undefined ? ['password' as const] : []),
    ...(config.privateKey !== undefined ? ['publickey' as const] : []),
  ];

  const client = new Client();
  return new Promise<Client>((resolve, reject) => {
    client.once('ready', () => {
      client.removeAllListeners('error');
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', (err: Error & { level?: string }) => {
      client.end();
      reject(targetError(resource, err, refusal));
    });
    try {
      client.connect(config);
      // Without it Nagle holds back small requests (sftp READs) behind the target's delayed ACKs
      client.setNoDelay(true);
    } catch (err) {
      reject(targetError(resource, err as Error, refusal));
    }
  });
}

function targetError(
  resource: Resource,
  err: Error & { level?: string },
  hostKeyRefusal: string | undefined,
): TollgateError {
  if (hostKeyRefusal !== undefined) {
    return new TollgateError(
      Errors.TARGET_UNAVAILABLE,
      `host key of ${resource.name} (${resource.address}) does not match: ${hostKeyRefusal}`,
      {
        hint: 'the target may have been replaced or intercepted; an operator must check and update hostKey or knownHosts',
      },
    );
  }
  if (err.level === 'client-authentication') {
    return new TollgateError(
      Errors.TARGET_UNAVAILABLE,
      `${resource.name} refused the gateway's login as ${resource.username ?? '?'}`,
      { hint: "check the resource's username and credential" },
    );
  }
  // ssh2 messages name the failing step (timeout, ECONNREFUSED, handshake); none carries a secret
  return new TollgateError(
    Errors.TARGET_UNAVAILABLE,
    `cannot reach ${resource.name} (${resource.address}): ${err.message}`,
  );
}
