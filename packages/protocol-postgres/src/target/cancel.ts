import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type BackendKey, buildCancelRequest, buildSSLRequest } from '../wire';
import { socketError, tlsOptions } from './connect';
import { type CancelTarget, TargetError } from './types';

const DEFAULT_CANCEL_TIMEOUT_MS = 5_000;

/**
 * Asks a target to cancel the query running in the session with `key`: a CancelRequest on a new
 * connection (over TLS when `target.tls` asks for it), then waits until the server closes it,
 * which it does once it has handled the request. PostgreSQL never says whether anything was
 * cancelled; the session sees 57014 if a query was. Resolves at once for a key with pid 0 (the
 * target gave none). Rejects with TargetError when the target cannot be reached or does not
 * close within `timeoutMs` (default 5 s).
 */
export async function sendCancel(
  target: CancelTarget,
  key: BackendKey,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  if (key.pid === 0) return;
  const where = `${target.host}:${target.port}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CANCEL_TIMEOUT_MS;
  const tls = target.tls !== undefined && target.tls.mode !== 'disable' ? target.tls : undefined;
  const tlsOpts = tls ? await tlsOptions(target.host, target.port, tls) : undefined;
  let stage: 'connecting' | 'TLS negotiation' | 'TLS handshake' | 'start-up' = 'connecting';
  const plain = netConnect({ host: target.host, port: target.port });
  let socket: Socket | TLSSocket = plain;

  await new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      plain.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () =>
        finish(
          new TargetError(
            `target ${where} did not take the cancel request within ${timeoutMs} ms (${stage})`,
          ),
        ),
      timeoutMs,
    );
    const onError = (e: Error): void => {
      // a reset after the request was written still means it was delivered
      if (stage === 'start-up' && (e as NodeJS.ErrnoException).code === 'ECONNRESET') finish();
      else finish(socketError(where, target.host, stage, e));
    };
    const sendRequest = (s: Socket | TLSSocket): void => {
      stage = 'start-up';
      s.on('data', () => undefined); // the server answers nothing; drain whatever comes
      s.once('end', () => finish());
      s.once('close', () => finish());
      s.write(buildCancelRequest(key));
    };
    plain.on('error', onError);
    plain.once('connect', () => {
      if (!tlsOpts || !tls) {
        sendRequest(plain);
        return;
      }
      stage = 'TLS negotiation';
      plain.write(buildSSLRequest());
      const onEnd = (): void =>
        finish(new TargetError(`target ${where} closed the connection during ${stage}`));
      plain.once('end', onEnd);
      plain.once('data', (b: Buffer) => {
        plain.off('end', onEnd);
        if (b[0] !== 0x53 || b.length > 1) {
          finish(
            new TargetError(`target ${where} refused TLS for the cancel request (tls.mode ${tls.mode})`),
          );
          return;
        }
        plain.pause();
        stage = 'TLS handshake';
        const secure = tlsConnect({ ...tlsOpts, socket: plain });
        socket = secure;
        secure.on('error', onError);
        secure.once('secureConnect', () => sendRequest(secure));
      });
    });
  });
}
