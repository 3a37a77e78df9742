import { randomInt, timingSafeEqual } from 'node:crypto';
import type { BackendKey } from '../wire/index';

/**
 * Gateway-issued cancel keys. Clients get a key the gateway made up; the target's key never
 * leaves the gateway. A CancelRequest with a matching key is relayed with the target's key.
 */
export class CancelKeys<T> {
  readonly #keys = new Map<number, { secret: number; value: T }>();

  issue(value: T): BackendKey {
    for (let tries = 0; tries < 100; tries++) {
      const pid = randomInt(1, 0x7fffffff);
      if (this.#keys.has(pid)) continue;
      const secret = randomInt(-0x80000000, 0x7fffffff);
      this.#keys.set(pid, { secret, value });
      return { pid, secret };
    }
    throw new Error('cannot allocate a cancel key');
  }

  /** The value for a presented key, or `undefined` (compared in constant time). */
  lookup(key: BackendKey): T | undefined {
    const e = this.#keys.get(key.pid);
    if (!e) return undefined;
    const a = Buffer.alloc(4);
    const b = Buffer.alloc(4);
    a.writeInt32BE(e.secret);
    b.writeInt32BE(key.secret);
    return timingSafeEqual(a, b) ? e.value : undefined;
  }

  release(key: BackendKey): void {
    this.#keys.delete(key.pid);
  }
}
