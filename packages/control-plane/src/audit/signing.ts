import { createHash, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { Errors, TollgateError } from '@tollgate/core';
import { checkpointPayload } from './canonical';

/** First 16 hex digits of SHA-256 over the public key in SPKI DER form. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Signs checkpoints and heads with an Ed25519 private key, or leaves them unsigned. */
export class Signer {
  readonly keyId: string | undefined;
  readonly publicKey: KeyObject | undefined;
  readonly #key: KeyObject | undefined;

  constructor(key: KeyObject | undefined) {
    if (key && (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')) {
      throw new TollgateError(
        Errors.CONFIG_INVALID,
        `audit.signingKey: expected an Ed25519 private key, got a ${key.asymmetricKeyType ?? 'symmetric'} ${key.type} key`,
      );
    }
    this.#key = key;
    this.publicKey = key ? createPublicKey(key) : undefined;
    this.keyId = key ? keyIdOf(key) : undefined;
  }

  sign(seq: number, hash: string, at: number): string | undefined {
    if (!this.#key) return undefined;
    return sign(null, Buffer.from(checkpointPayload(seq, hash, at)), this.#key).toString('base64');
  }
}
