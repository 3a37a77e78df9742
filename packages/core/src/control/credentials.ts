import { inspect } from 'node:util';
import type { CredentialRef } from './policy';

/**
 * Target credentials held by the gateway. A `Secret` never shows its value when printed,
 * logged, serialised or interpolated; only `reveal()` gives it, at the point of use.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return 'Secret([secret])';
  }
}

export interface CredentialVault {
  /**
   * Resolves a credential reference. Rejects with `CREDENTIAL_UNAVAILABLE` naming the reference
   * (the variable or file name), never the value.
   */
  resolve(ref: CredentialRef): Promise<Secret>;
}
