import { readFile } from 'node:fs/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { Errors, type Secret, type TlsSettings, TollgateError } from '@tollgate/core';
import {
  AUTH_METHOD_NAMES,
  type Authentication,
  BackendCode,
  type BackendKey,
  buildPasswordMessage,
  buildSASLInitialResponse,
  buildSASLResponse,
  buildSSLRequest,
  buildStartupMessage,
  codeName,
  type PgErrorFields,
  parseAuthentication,
  parseBackendKeyData,
  parseErrorResponse,
  parseNoticeResponse,
  parseParameterStatus,
} from '../wire';
import { md5PasswordHash } from './md5';
import { ScramClient, ScramError } from './scram';
import { SocketReader } from './socket-reader';
import { type TargetAuthMethod, type TargetConnection, TargetError, type TargetOptions } from './types';

const DEFAULT_MAX_STARTUP_MESSAGE = 1 << 20;
const SCRAM = 'SCRAM-SHA-256';
/** Start-up parameters the gateway sets itself or never passes through. */
const RESERVED_PARAMS = new Set(['user', 'database', 'replication']);

type Stage =
  | 'connecting'
  | 'TLS negotiation'
  | 'TLS handshake'
  | 'start-up'
  | 'authentication'
  | 'session start';

/** Codes of certificate verification failures (OpenSSL's, and Node's host name check). */
const VERIFY_CODES =
  /^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/;

/** TLS options for a target, the CA file read; shared with sendCancel. */
export async function tlsOptions(host: string, port: number, tls: TlsSettings): Promise<ConnectionOptions> {
  const opts: ConnectionOptions = { minVersion: 'TLSv1.2', rejectUnauthorized: tls.mode === 'verify-full' };
  if (tls.mode !== 'verify-full') return opts;
  const name = tls.serverName ?? host;
  // the identity check uses `host`; SNI is only for names (RFC 6066 forbids IP addresses there)
  opts.host = name;
  if (isIP(name) === 0) opts.servername = name;
  if (tls.caFile !== undefined) {
    try {
      opts.ca = await readFile(tls.caFile);
    } catch (e) {
      throw new TollgateError(
        Errors.CONFIG_INVALID,
        `cannot read the CA file ${tls.caFile} for target ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        { hint: 'tls.caFile must name a readable PEM file with the CA that signs the target certificate' },
      );
    }
  }
  return opts;
}

/** Describes a socket or TLS failure of a target connection in words an operator can act on. */
export function socketError(
  where: string,
  host: string,
  stage: Stage,
  err: NodeJS.ErrnoException,
): TargetError {
  const code = err.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return new TargetError(`target ${where} is not accepting connections (ECONNREFUSED)`, {
        hint: 'check that the target is running and that the resource address is right',
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TargetError(`target host ${host} cannot be resolved (${code})`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new TargetError(`target ${where} cannot be reached (${code})`);
  }
  if (VERIFY_CODES.test(code)) {
    return new TargetError(`TLS verification of target ${where} failed: ${err.message} (${code})`, {
      hint: 'check the resource tls.caFile (the CA that signs the target certificate) and tls.serverName',
    });
  }
  if (stage === 'TLS handshake' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    return new TargetError(
      `TLS handshake with target ${where} failed: ${err.message}${code ? ` (${code})` : ''}`,
    );
  }
  return new TargetError(
    `connection to target ${where} failed during ${stage}: ${err.message}${code ? ` (${code})` : ''}`,
  );
}

function serverRefusal(where: string, user: string, fields: PgErrorFields): TargetError {
  const sqlstate = fields.code || 'unknown SQLSTATE';
  const auth = fields.code.startsWith('28');
  const message = auth
    ? `target ${where} refused the login of role "${user}": ${fields.message} (SQLSTATE ${sqlstate})`
    : `target ${where} refused the connection: ${fields.message} (SQLSTATE ${sqlstate})`;
  const hint = auth
    ? "check the user and credential configured for this resource, and the target's pg_hba.conf"
    : fields.code === '3D000'
      ? 'check the database configured for this resource'
      : fields.hint;
  return new TargetError(message, { server: fields, ...(hint !== undefined ? { hint } : {}) });
}

/** Drops what the gateway decides itself; keeps the agent's other run-time parameters. */
function passThrough(params: TargetOptions['startupParams']): Array<[string, string]> {
  if (params === undefined) return [];
  const entries = params instanceof Map ? [...params] : Object.entries(params as Record<string, string>);
  return entries.filter(([k]) => !RESERVED_PARAMS.has(k) && !k.startsWith('_pq_.'));
}

class Connector {
  readonly where: string;
  stage: Stage = 'connecting';
  socket: Socket | TLSSocket | undefined;
  reader: SocketReader | undefined;
  failed: Error | undefined;

  constructor(readonly opts: TargetOptions) {
    this.where = `${opts.host}:${opts.port}`;
  }

  /** Rejects the wait in progress (connect, TLS handshake, or a read). */
  #abort: ((e: Error) => void) | undefined;

  fail(err: Error): void {
    this.failed ??= err;
    this.reader?.fail(err);
    this.#abort?.(err);
  }

  /** Waits for `event` on the socket; its 'error' (or fail()) rejects. */
  #until(socket: Socket, event: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failed) {
        reject(this.failed);
        return;
      }
      const onError = (e: Error): void => {
        this.#abort = undefined;
        reject(socketError(this.where, this.opts.host, this.stage, e));
      };
      socket.once('error', onError);
      socket.once(event, () => {
        socket.off('error', onError);
        this.#abort = undefined;
        resolve();
      });
      this.#abort = reject;
    });
  }

  closed = (): Error =>
    new TargetError(`target ${this.where} closed the connection during ${this.stage}`, {
      hint:
        this.stage === 'TLS negotiation'
          ? 'the target may not speak the PostgreSQL protocol on this port'
          : 'the target server log says why',
    });

  tooLong = (len: number): Error =>
    new TargetError(
      `target ${this.where} sent a message of declared length ${len} during ${this.stage} (accepted: 4 to ${this.opts.maxStartupMessageLength ?? DEFAULT_MAX_STARTUP_MESSAGE})`,
      { hint: 'the target may not speak the PostgreSQL protocol on this port' },
    );

  attach(socket: Socket | TLSSocket): SocketReader {
    this.socket = socket;
    this.reader = new SocketReader(socket, (e) => socketError(this.where, this.opts.host, this.stage, e));
    if (this.failed) this.reader.fail(this.failed);
    return this.reader;
  }

  /** TCP connect; the returned socket already has a reader (and so an 'error' listener). */
  async tcp(): Promise<SocketReader> {
    const socket = netConnect({ host: this.opts.host, port: this.opts.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    await this.#until(socket, 'connect');
    return this.attach(socket);
  }

  /** SSLRequest, then the TLS handshake on the same socket. */
  async startTls(
    reader: SocketReader,
    plain: Socket,
    tls: TlsSettings,
    options: ConnectionOptions,
  ): Promise<TLSSocket> {
    this.stage = 'TLS negotiation';
    plain.write(buildSSLRequest());
    const answer = (await reader.readBytes(1, this.closed))[0];
    const extra = reader.detach();
    // from here the TLS socket reports errors; this keeps a late one on the raw socket harmless
    plain.on('error', () => undefined);
    if (answer === 0x4e) {
      throw new TargetError(
        `target ${this.where} does not accept TLS connections (it answered 'N' to SSLRequest)`,
        {
          hint: `tls.mode is ${tls.mode}: enable ssl on the target, or set tls.mode to disable if plaintext is acceptable`,
        },
      );
    }
    if (answer !== 0x53) {
      throw new TargetError(
        `target ${this.where} answered the SSL request with ${codeName(answer as number)} instead of 'S' or 'N'`,
        { hint: 'the target may not speak the PostgreSQL protocol on this port' },
      );
    }
    // bytes after 'S' would be read as if they came through TLS (CVE-2021-23222): refuse them
    if (extra.length > 0) {
      throw new TargetError(`target ${this.where} sent unencrypted data after accepting TLS`);
    }
    this.stage = 'TLS handshake';
    const secure = tlsConnect({ ...options, socket: plain });
    this.socket = secure;
    await this.#until(secure, 'secureConnect');
    return secure;
  }

  secret(): string {
    const p: Secret | undefined = this.opts.password;
    if (p === undefined) {
      throw new TargetError(
        `target ${this.where} asks for a password for role "${this.opts.user}", but this resource has no credential`,
        { hint: 'configure the credential of this resource' },
      );
    }
    return p.reveal();
  }

  async run(): Promise<TargetConnection> {
    const { opts } = this;
    const tls = opts.tls !== undefined && opts.tls.mode !== 'disable' ? opts.tls : undefined;
    // the CA file is read before connecting, so no socket waits on the file system
    const options = tls ? await tlsOptions(opts.host, opts.port, tls) : undefined;
    let reader = await this.tcp();
    let socket = this.socket as Socket | TLSSocket;
    if (tls && options) {
      socket = await this.startTls(reader, socket, tls, options);
      reader = this.attach(socket);
    }
    const max = opts.maxStartupMessageLength ?? DEFAULT_MAX_STARTUP_MESSAGE;
    const next = (): Promise<Buffer> => reader.readMessage(max, this.closed, this.tooLong);

    this.stage = 'start-up';
    socket.write(
      buildStartupMessage(
        new Map([['user', opts.user], ['database', opts.database], ...passThrough(opts.startupParams)]),
      ),
    );

    const notices: PgErrorFields[] = [];
    let method: TargetAuthMethod = 'trust';
    let scram: ScramClient | undefined;
    let scramVerified = false;
    this.stage = 'authentication';
    for (;;) {
      const msg = await next();
      const code = msg[0];
      if (code === BackendCode.ErrorResponse)
        throw serverRefusal(this.where, opts.user, parseErrorResponse(msg).fields);
      if (code === BackendCode.NoticeResponse) {
        notices.push(parseNoticeResponse(msg).fields);
        continue;
      }
      // we ask for 3.0 and no _pq_ options: a NegotiateProtocolVersion changes nothing
      if (code === BackendCode.NegotiateProtocolVersion) continue;
      if (code !== BackendCode.Authentication) throw this.unexpected(code as number);
      const auth: Authentication = parseAuthentication(msg);
      if (auth.type === 'AuthenticationOk') {
        if (scram && !scramVerified) {
          throw new TargetError(
            `target ${this.where} reported success before proving it knows the password (SCRAM exchange incomplete)`,
          );
        }
        break;
      }
      switch (auth.type) {
        case 'AuthenticationCleartextPassword':
          method = 'password';
          socket.write(buildPasswordMessage(this.secret()));
          break;
        case 'AuthenticationMD5Password':
          method = 'md5';
          socket.write(buildPasswordMessage(md5PasswordHash(opts.user, this.secret(), auth.salt)));
          break;
        case 'AuthenticationSASL': {
          if (scram) throw this.unexpected(code);
          if (!auth.mechanisms.includes(SCRAM)) {
            throw new TargetError(
              `target ${this.where} offers SASL mechanisms ${auth.mechanisms.join(', ') || '(none)'}; Tollgate supports ${SCRAM}`,
            );
          }
          method = 'scram-sha-256';
          scram = new ScramClient(this.secret());
          socket.write(buildSASLInitialResponse(SCRAM, Buffer.from(scram.clientFirst())));
          break;
        }
        case 'AuthenticationSASLContinue':
          if (!scram) throw this.unexpected(code);
          socket.write(
            buildSASLResponse(
              Buffer.from(await this.scramStep(() => scram?.clientFinal(auth.data.toString()))),
            ),
          );
          break;
        case 'AuthenticationSASLFinal':
          if (!scram) throw this.unexpected(code);
          await this.scramStep(async () => scram?.verifyServerFinal(auth.data.toString()));
          scramVerified = true;
          break;
        default:
          throw new TargetError(
            `target ${this.where} asks for ${AUTH_METHOD_NAMES[auth.code] ?? `authentication method ${auth.code}`} authentication, which Tollgate does not support`,
            { hint: "configure the target's pg_hba.conf for scram-sha-256, md5 or password for this role" },
          );
      }
    }

    this.stage = 'session start';
    const parameters = new Map<string, string>();
    let backendKey: BackendKey = { pid: 0, secret: 0 };
    for (;;) {
      const msg = await next();
      const code = msg[0];
      if (code === BackendCode.ParameterStatus) {
        const p = parseParameterStatus(msg);
        parameters.set(p.name, p.value);
      } else if (code === BackendCode.BackendKeyData) {
        const k = parseBackendKeyData(msg);
        backendKey = { pid: k.pid, secret: k.secret };
      } else if (code === BackendCode.NoticeResponse) {
        notices.push(parseNoticeResponse(msg).fields);
      } else if (code === BackendCode.ErrorResponse) {
        throw serverRefusal(this.where, opts.user, parseErrorResponse(msg).fields);
      } else if (code === BackendCode.ReadyForQuery) {
        break;
      } else {
        throw this.unexpected(code as number);
      }
    }
    const leftover = reader.detach();
    return {
      socket,
      leftover,
      parameters,
      backendKey,
      serverVersion: parameters.get('server_version') ?? '',
      encrypted: tls !== undefined,
      authMethod: method,
      notices,
    };
  }

  unexpected(code: number): TargetError {
    return new TargetError(
      `target ${this.where} sent an unexpected ${codeName(code)} message during ${this.stage}`,
    );
  }

  async scramStep<T>(step: () => Promise<T> | undefined): Promise<T> {
    try {
      return (await step()) as T;
    } catch (e) {
      if (e instanceof ScramError) {
        throw new TargetError(`SCRAM authentication with target ${this.where} failed: ${e.message}`);
      }
      throw e;
    }
  }
}

/**
 * Opens one authenticated session on a PostgreSQL target and hands back its socket, ready for
 * query. TLS first when `tls.mode` is not `disable` (SSLRequest; 'N' is refused; `verify-full`
 * checks the CA and the host name), then protocol 3.0 start-up and the authentication the server
 * asks for: SCRAM-SHA-256 (the server's signature is verified), md5 or cleartext password; other
 * methods are refused. Rejects with TargetError (TARGET_UNAVAILABLE): connection refused,
 * unreachable, TLS failure, the server's ErrorResponse (its SQLSTATE in `server.code`), or no
 * ReadyForQuery within `connectTimeoutMs`; CONFIG_INVALID when the CA file cannot be read. No
 * message ever holds the password.
 */
export async function connectTarget(opts: TargetOptions): Promise<TargetConnection> {
  const c = new Connector(opts);
  const timer = setTimeout(() => {
    c.fail(
      new TargetError(
        `target ${c.where} did not complete the connection within ${opts.connectTimeoutMs} ms (stuck in ${c.stage})`,
        { hint: 'the target or the network is slow or overloaded, or the address is wrong' },
      ),
    );
    c.socket?.destroy();
  }, opts.connectTimeoutMs);
  try {
    return await c.run();
  } catch (e) {
    c.socket?.destroy();
    throw c.failed ?? e;
  } finally {
    clearTimeout(timer);
  }
}
