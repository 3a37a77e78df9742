import { createHash } from 'node:crypto';
import { type CredentialVault, Errors, type Resource, TollgateError } from '@tollgate/core';
import { Client, type ConnectConfig } from 'ssh2';

/** `SHA256:<base64, no padding>` of an SSH public key blob, as `ssh-keygen -lf` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function samePin(pinned: string, seen: string): boolean {
  return pinned.replace(/=+$/, '') === seen;
}

export interface TargetOptions {
  readonly vault: CredentialVault;
  readonly connectTimeoutMs: number;
}

/**
 * Opens the gateway's own SSH connection to a resource: the resource's username, the
 * credential from the vault (a private key when its text starts with `-----BEGIN`, else a
 * password), and the target's host key checked against the pinned `hostKey` fingerprint. A
 * mismatch, a missing pin, an unreachable target or a refused login rejects with
 * `TARGET_UNAVAILABLE` / `CREDENTIAL_UNAVAILABLE` and a message that names the cause, never
 * the credential.
 */
export async function connectTarget(resource: Resource, opts: TargetOptions): Promise<Client> {
  const pinned = resource.hostKey;
  if (!pinned) {
    throw new TollgateError(Errors.CONFIG_INVALID, `resource ${resource.name} has no pinned hostKey`, {
      hint: "set hostKey to the target's fingerprint (ssh-keygen -lf <host key>.pub)",
    });
  }
  if (!resource.username) {
    throw new TollgateError(Errors.CONFIG_INVALID, `resource ${resource.name} has no username`);
  }
  const i = resource.address.lastIndexOf(':');
  const host = resource.address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(resource.address.slice(i + 1));
  const secret = resource.credential ? (await opts.vault.resolve(resource.credential)).reveal() : undefined;

  let seen: string | undefined;
  const config: ConnectConfig = {
    host,
    port,
    username: resource.username,
    readyTimeout: opts.connectTimeoutMs,
    keepaliveInterval: 15_000,
    hostVerifier: (key: Buffer) => {
      seen = fingerprint(key);
      return samePin(pinned, seen);
    },
  };
  if (secret !== undefined) {
    if (secret.trimStart().startsWith('-----BEGIN')) config.privateKey = secret;
    else config.password = secret;
  }

  const client = new Client();
  return new Promise<Client>((resolve, reject) => {
    client.once('ready', () => {
      client.removeAllListeners('error');
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', (err: Error & { level?: string }) => {
      client.end();
      reject(targetError(resource, err, pinned, seen));
    });
    try {
      client.connect(config);
    } catch (err) {
      reject(targetError(resource, err as Error, pinned, seen));
    }
  });
}

function targetError(
  resource: Resource,
  err: Error & { level?: string },
  pinned: string,
  seen: string | undefined,
): TollgateError {
  if (seen !== undefined && !samePin(pinned, seen)) {
    return new TollgateError(
      Errors.TARGET_UNAVAILABLE,
      `host key of ${resource.name} (${resource.address}) does not match: the target presented ${seen}, the policy pins ${pinned}`,
      { hint: 'the target may have been replaced or intercepted; an operator must check and update hostKey' },
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
