import { type FSWatcher, watch, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Client, type PoolConfig } from 'pg';
import { APPROVALS_CHANNEL } from './store-postgres';

/**
 * How waiters learn that another process or gateway changed a request. `onChange(id)` names the
 * request when the source knows it; `onChange(undefined)` asks to re-check every waited request
 * (after a reconnect, or when the source cannot say which one changed).
 */
export interface WakeSource {
  /** Starts listening (idempotent). */
  start(): void;
  /** Stops listening until the next `start`; used when nobody waits any more. */
  idle(): void;
  /** Tells other processes that this one has just committed a change to `id`. */
  committed(id: string): void;
  close(): Promise<void>;
}

export type OnChange = (id: string | undefined) => void;
export type Log = (line: string) => void;

/**
 * SQLite: other processes on the same database file. After committing a change, a process writes
 * the request id to a signal file next to the database (`<db>-approvals`); waiters watch the
 * database's directory with `fs.watch` (inotify on Linux) and re-read the requests they wait on.
 *
 * Why not watch the WAL itself: a writer appends its frames to the WAL *before* its fsync and
 * before it publishes them in the shared-memory index, so a reader woken by the WAL write can read
 * the old state and then get no further event. The signal file is written only after the commit
 * is visible.
 */
export class SqliteWake implements WakeSource {
  readonly #dir: string;
  readonly #name: string;
  readonly #file: string;
  readonly #onChange: OnChange;
  readonly #log: Log;
  #watcher: FSWatcher | undefined;
  #warned = false;

  constructor(dbPath: string, onChange: OnChange, log: Log) {
    this.#file = `${dbPath}-approvals`;
    this.#dir = dirname(this.#file);
    this.#name = basename(this.#file);
    this.#onChange = onChange;
    this.#log = log;
  }

  start(): void {
    if (this.#watcher) return;
    try {
      // Persistent while someone waits (`idle()` closes it), like any pending I/O.
      const w = watch(this.#dir, { persistent: true }, (_event, name) => {
        if (name === this.#name) this.#onChange(undefined);
      });
      w.on('error', (err) => {
        this.#log(
          `approvals: watching ${this.#dir} failed (${err.message}); other processes' decisions wake waiters only at expiry`,
        );
        if (this.#watcher === w) this.#watcher = undefined;
        w.close();
      });
      this.#watcher = w;
    } catch (err) {
      this.#warnOnce(`approvals: cannot watch ${this.#dir}: ${(err as Error).message}`);
    }
  }

  idle(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  committed(id: string): void {
    try {
      writeFileSync(this.#file, id);
    } catch (err) {
      this.#warnOnce(`approvals: cannot write the signal file ${this.#file}: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.idle();
  }

  #warnOnce(line: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#log(line);
  }
}

/** SQLite in memory: only this process can see it, so in-process events are enough. */
export class NoWake implements WakeSource {
  start(): void {}
  idle(): void {}
  committed(): void {}
  async close(): Promise<void> {}
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * PostgreSQL: a dedicated client LISTENs on `tollgate_approvals`; every change is NOTIFYed inside
 * its transaction (delivered on commit) with the request id as payload. The client reconnects with
 * back-off after an error and then re-checks every waited request, since notifications sent while
 * it was away are lost.
 */
export class PostgresWake implements WakeSource {
  readonly #config: PoolConfig;
  readonly #onChange: OnChange;
  readonly #log: Log;
  #client: Client | undefined;
  #started = false;
  #closed = false;
  #delay = RECONNECT_MIN_MS;
  #timer: NodeJS.Timeout | undefined;
  #outage = false;
  #connecting: Promise<void> | undefined;

  constructor(config: PoolConfig, onChange: OnChange, log: Log) {
    this.#config = config;
    this.#onChange = onChange;
    this.#log = log;
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#connecting = this.#connect();
  }

  /** Keeps listening: reconnecting for every waiter would cost more than one idle connection. */
  idle(): void {}

  /** The store NOTIFYs inside the committing transaction. */
  committed(): void {}

  /** Resolves once the listener is connected (or has failed once); for tests and readiness. */
  async ready(): Promise<void> {
    await this.#connecting;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#connecting;
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const { max: _max, ...clientConfig } = this.#config;
    const client = new Client(clientConfig);
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => {});
      this.#reconnectLater(err);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel === APPROVALS_CHANNEL && msg.payload) this.#onChange(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${APPROVALS_CHANNEL}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#delay = RECONNECT_MIN_MS;
    if (this.#outage) this.#log('approvals: LISTEN connection to PostgreSQL restored');
    this.#outage = false;
    this.#onChange(undefined);
  }

  #reconnectLater(err?: Error): void {
    if (this.#closed) return;
    if (!this.#outage) {
      // The message of a pg error never holds the password; the config is not printed.
      this.#log(
        `approvals: LISTEN connection to PostgreSQL lost (${err?.message ?? 'closed'}); reconnecting`,
      );
      this.#outage = true;
    }
    const delay = this.#delay;
    this.#delay = Math.min(this.#delay * 2, RECONNECT_MAX_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connecting = this.#connect();
    }, delay);
    this.#timer.unref();
  }
}
