import type { TSchema } from '@sinclair/typebox';
import type { Route } from './router';
import { type ApiServices, controlPlaneRoutes } from './routes';
import { ErrorBody } from './schemas';

/** Plain JSON Schema from a TypeBox schema: TypeBox's symbols and `$id`s dropped (schemas are inlined). */
export function plainSchema(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema), (k, v) => (k === '$id' ? undefined : v));
}

const ERROR_STATUSES: Record<string, string> = {
  '400': 'malformed request',
  '401': 'missing, invalid or expired token',
  '403': 'the identity lacks the role, or the action is not allowed',
  '404': 'not found',
  '409': 'conflicts with the current state (e.g. already decided, self-approval)',
  '503': 'a dependency (store) is unavailable',
};

/** The OpenAPI 3.1 document for a route table. */
export function openApiDocument(routes: readonly Route[], version = '0.1.0'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const responses: Record<string, unknown> = {
      [String(r.response.status)]: {
        description: 'success',
        content: {
          [r.response.contentType ?? 'application/json']: r.response.schema
            ? { schema: plainSchema(r.response.schema) }
            : { schema: { type: 'string' } },
          ...Object.fromEntries(
            Object.entries(r.response.alternatives ?? {}).map(([type, description]) => [
              type,
              { schema: { type: 'string', description } },
            ]),
          ),
        },
      },
    };
    const errors = r.access === 'public' ? ['400', '404', '503'] : Object.keys(ERROR_STATUSES);
    for (const code of errors) {
      responses[code] = {
        description: ERROR_STATUSES[code],
        content: { 'application/json': { schema: plainSchema(ErrorBody) } },
      };
    }
    const parameters = [
      ...[...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...(r.query ?? []).map((q) => ({
        name: q.name,
        in: 'query',
        required: false,
        description: q.description,
        schema: { type: q.type ?? 'string' },
      })),
    ];
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      'x-tollgate-access': r.access,
      ...(r.access === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      responses,
    };
    if (r.body) {
      const content: Record<string, unknown> = { 'application/json': { schema: plainSchema(r.body) } };
      if (r.acceptsForm) content['application/x-www-form-urlencoded'] = { schema: plainSchema(r.body) };
      op.requestBody = { required: true, content };
    }
    paths[r.path] ??= {};
    (paths[r.path] as Record<string, unknown>)[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate control-plane API',
      version,
      description:
        'Approvals, audit queries and verification, policy tests, service accounts, SAML exchange, health and metrics. ' +
        'Authenticate with `Authorization: Bearer <token>` (OIDC access token, gateway token or service-account API key); ' +
        "roles (admin, reviewer) come from the policy file's `roles` section.",
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ bearer: [] }],
    paths,
  };
}

/** The document for the built-in route table (handlers are not called). */
export function controlPlaneOpenApi(): Record<string, unknown> {
  return openApiDocument(controlPlaneRoutes({} as ApiServices));
}
