import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type Authenticator, Errors, type Identity, TollgateError } from '@tollgate/core';

/**
 * The control-plane API as plain data: every route says its method, path, who may call it, the
 * shape of its body and response. The uWebSockets.js server, the OpenAPI document and the tests
 * all read this one table.
 */

export type Role = 'admin' | 'reviewer';
/** `public`: no token; `authenticated`: any valid identity; a role: the policy grants it. */
export type Access = 'public' | 'authenticated' | Role;

export interface QueryParam {
  readonly name: string;
  readonly description: string;
  readonly type?: 'string' | 'integer';
}

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface ApiResult {
  readonly status: number;
  /** JSON-serialised unless `contentType` says otherwise (then it must be a string). */
  readonly body: unknown;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
  /** Present unless the route is public. */
  readonly identity: Identity;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Route {
  readonly method: 'get' | 'post' | 'delete';
  /** OpenAPI-style template: `/v1/approvals/{id}`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly access: Access;
  readonly query?: readonly QueryParam[];
  /** JSON body schema; the body is validated before the handler runs. */
  readonly body?: TSchema;
  /** Also accept `application/x-www-form-urlencoded` bodies (converted to an object). */
  readonly acceptsForm?: boolean;
  readonly response: {
    readonly status: number;
    readonly schema?: TSchema;
    readonly contentType?: string;
    /** Other content types the operation can answer with (e.g. JSON Lines), described in text. */
    readonly alternatives?: Readonly<Record<string, string>>;
  };
  handle(ctx: RouteContext): Promise<ApiResult>;
}

export interface RoleSource {
  hasRole(identity: Identity, role: Role): boolean;
}

export const MAX_BODY_BYTES = 1 << 20;

export class ApiError extends TollgateError {}

function errorResult(err: unknown): ApiResult {
  if (err instanceof TollgateError) {
    const body = { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } };
    const headers: Record<string, string> =
      err.kind === Errors.AUTH_FAILED ? { 'www-authenticate': 'Bearer realm="tollgate"' } : {};
    return { status: err.kind.httpStatus, body, headers };
  }
  return {
    status: 500,
    body: { error: { code: 'TG_INTERNAL', message: 'internal error; see the gateway log' } },
  };
}

interface Compiled {
  readonly route: Route;
  readonly segments: readonly string[];
}

export class ApiRouter {
  readonly routes: readonly Route[];
  readonly #compiled: readonly Compiled[];

  constructor(
    routes: readonly Route[],
    private readonly auth: { authenticator: Authenticator; roles: () => RoleSource },
    private readonly onError: (err: unknown, req: ApiRequest) => void = () => {},
  ) {
    this.routes = routes;
    this.#compiled = routes.map((route) => ({ route, segments: route.path.split('/').slice(1) }));
  }

  /** Finds the route for a method and path; `405` when the path exists with other methods. */
  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | 'not-found' | 'method' {
    const parts = path.split('/').slice(1);
    let pathMatched = false;
    for (const c of this.#compiled) {
      if (c.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = c.segments[i] as string;
        const part = parts[i] as string;
        if (seg.startsWith('{')) {
          if (part.length === 0) ok = false;
          else params[seg.slice(1, -1)] = decodeURIComponent(part);
        } else if (seg !== part) ok = false;
      }
      if (!ok) continue;
      pathMatched = true;
      if (c.route.method === method.toLowerCase()) return { route: c.route, params };
    }
    return pathMatched ? 'method' : 'not-found';
  }

  async handle(req: ApiRequest): Promise<ApiResult> {
    try {
      const m = this.match(req.method, req.path);
      if (m === 'not-found') throw new TollgateError(Errors.NOT_FOUND, `no such endpoint: ${req.path}`);
      if (m === 'method') {
        return {
          status: 405,
          body: {
            error: {
              code: 'TG_METHOD_NOT_ALLOWED',
              message: `${req.method.toUpperCase()} is not allowed on ${req.path}`,
            },
          },
        };
      }
      const { route, params } = m;
      const identity = route.access === 'public' ? undefined : await this.#authenticate(req, route.access);
      const body = route.body ? this.#body(req, route) : undefined;
      return await route.handle({
        params,
        query: req.query,
        body,
        identity: identity as Identity,
        headers: req.headers,
      });
    } catch (err) {
      this.onError(err, req);
      return errorResult(err);
    }
  }

  async #authenticate(req: ApiRequest, access: Access): Promise<Identity> {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      throw new TollgateError(Errors.AUTH_FAILED, 'missing bearer token', {
        hint: 'send Authorization: Bearer <OIDC access token, gateway token or API key>',
      });
    }
    const identity = await this.auth.authenticator.authenticateToken(m[1] as string);
    if (access === 'admin' || access === 'reviewer') {
      const roles = this.auth.roles();
      // Admins may do whatever reviewers may.
      const allowed =
        roles.hasRole(identity, access) || (access === 'reviewer' && roles.hasRole(identity, 'admin'));
      if (!allowed) {
        throw new TollgateError(Errors.FORBIDDEN, `${identity.subject} does not have the ${access} role`, {
          hint: "roles are granted in the policy file's 'roles' section",
        });
      }
    }
    return identity;
  }

  #body(req: ApiRequest, route: Route): unknown {
    const schema = route.body as TSchema;
    if (req.body.length > MAX_BODY_BYTES) {
      throw new TollgateError(Errors.MESSAGE_TOO_LARGE, `request body over ${MAX_BODY_BYTES} bytes`);
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    let value: unknown;
    if (route.acceptsForm && type === 'application/x-www-form-urlencoded') {
      value = Object.fromEntries(new URLSearchParams(req.body.toString('utf8')));
    } else if (req.body.length === 0) {
      value = {};
    } else {
      try {
        value = JSON.parse(req.body.toString('utf8'));
      } catch {
        throw new TollgateError(Errors.PROTOCOL_VIOLATION, 'request body is not valid JSON');
      }
    }
    const first = Value.Errors(schema, value).First();
    if (first) {
      const where = first.path === '' ? 'body' : `body${first.path.replace(/\//g, '.')}`;
      throw new TollgateError(Errors.PROTOCOL_VIOLATION, `${where}: ${first.message}`);
    }
    return value;
  }
}
