import uWS from 'uWebSockets.js';
import { Errors, TollgateError } from '@tollgate/core';
import { type ApiRequest, type ApiResult, type ApiRouter, MAX_BODY_BYTES } from './router';

/**
 * Serves an `ApiRouter` on uWebSockets.js. The server owns the socket, body limits and
 * shutdown; routing, auth and validation live in the router.
 */
export class ApiServer {
  readonly #app: uWS.TemplatedApp;
  #listen: uWS.us_listen_socket | undefined;
  #port = 0;
  readonly #open = new Set<uWS.HttpResponse>();

  constructor(
    private readonly router: ApiRouter,
    extra: Record<string, (req: ApiRequest) => ApiResult> = {},
  ) {
    this.#app = uWS.App();
    this.#app.any('/*', (res, req) => {
      const method = req.getMethod();
      const path = req.getUrl();
      const extraHandler = extra[`${method} ${path}`];
      const query = new URLSearchParams(req.getQuery() ?? '');
      const headers: Record<string, string> = {};
      req.forEach((k, v) => {
        headers[k] = v;
      });
      let aborted = false;
      this.#open.add(res);
      res.onAborted(() => {
        aborted = true;
        this.#open.delete(res);
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      const respond = (r: ApiResult) => {
        if (aborted) return;
        this.#open.delete(res);
        const isText = typeof r.body === 'string' && r.contentType !== undefined;
        const payload = isText ? (r.body as string) : JSON.stringify(r.body);
        res.cork(() => {
          res.writeStatus(`${r.status} ${statusText(r.status)}`);
          res.writeHeader('content-type', isText ? (r.contentType as string) : 'application/json');
          res.writeHeader('cache-control', 'no-store');
          for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
          res.end(payload);
        });
      };
      res.onData((chunk, isLast) => {
        if (!tooLarge) {
          size += chunk.byteLength;
          if (size > MAX_BODY_BYTES) tooLarge = true;
          // uWS reuses the chunk's memory after this callback returns: copy it.
          else chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
        }
        if (!isLast) return;
        if (tooLarge) {
          const e = new TollgateError(Errors.MESSAGE_TOO_LARGE, `request body over ${MAX_BODY_BYTES} bytes`);
          respond({ status: 413, body: { error: { code: e.code, message: e.message } } });
          return;
        }
        const request: ApiRequest = { method, path, query, headers, body: Buffer.concat(chunks) };
        if (extraHandler) {
          respond(extraHandler(request));
          return;
        }
        this.router
          .handle(request)
          .then(respond, () =>
            respond({ status: 500, body: { error: { code: 'TG_INTERNAL', message: 'internal error' } } }),
          );
      });
    });
  }

  /** Listens on `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#app.listen(host, port, (token) => {
        if (!token) {
          reject(
            new TollgateError(Errors.CONFIG_INVALID, `control-plane API cannot listen on ${host}:${port}`, {
              hint: 'is the port in use, or the address not local?',
            }),
          );
          return;
        }
        this.#listen = token;
        this.#port = uWS.us_socket_local_port(token as unknown as uWS.us_socket);
        resolve(this.#port);
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  /** Stops accepting, closes open requests' connections. */
  close(): void {
    if (this.#listen) uWS.us_listen_socket_close(this.#listen);
    this.#listen = undefined;
    for (const res of this.#open) res.close();
    this.#open.clear();
  }
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    413: 'Payload Too Large',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  };
  return texts[status] ?? 'Status';
}
