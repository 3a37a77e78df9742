import { type Static, Type } from '@sinclair/typebox';
import {
  type ActionRequest,
  type ApprovalRequest,
  type ApprovalStatus,
  type AuditEventType,
  type AuditRecord,
  Errors,
  type Identity,
  TollgateError,
} from '@tollgate/core';
import type { AuditQuery } from '../audit/index';
import type { Metrics } from './metrics';
import { openApiDocument } from './openapi';
import type { ApiResult, RoleSource, Route } from './router';
import * as S from './schemas';

/**
 * What the API needs from the control plane, stated structurally so that the routes can be
 * exercised with the real services (and nothing else) while each service evolves on its own.
 */
export interface ApiServices {
  /** The current policy (it changes on reload): roles and `policy test`. */
  policy(): RoleSource & { explain(req: ActionRequest): unknown };
  approvals: {
    list(filter?: {
      status?: ApprovalStatus;
      reviewer?: Identity;
      limit?: number;
    }): Promise<ApprovalRequest[]>;
    get(id: string): Promise<ApprovalRequest>;
    approve(id: string, reviewer: Identity, reason?: string): Promise<ApprovalRequest>;
    deny(id: string, reviewer: Identity, reason: string): Promise<ApprovalRequest>;
  };
  audit: {
    query(q: AuditQuery): Promise<AuditRecord[]>;
    verify(opts: Record<string, never>): Promise<{ ok: boolean }>;
  };
  serviceAccounts: {
    create(o: { name: string; groups: string[]; expiresAt?: number; description?: string }): Promise<{
      account: object;
      apiKey: string;
    }>;
    list(): Promise<object[]>;
    revoke(name: string): Promise<void>;
  };
  saml:
    | {
        exchange(
          samlResponseBase64: string,
        ): Promise<{ token: string; identity: Identity; expiresAt: number }>;
      }
    | undefined;
  /** Each dependency's state; ready only when every check says `ok`. */
  readiness(): Promise<Record<string, string>>;
  metrics: Metrics;
}

const json = (status: number, body: unknown): ApiResult => ({ status, body });

function time(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) {
    throw new TollgateError(
      Errors.PROTOCOL_VIOLATION,
      `query ${name}: '${v}' is not an ISO date or epoch milliseconds`,
    );
  }
  return n;
}

function int(q: URLSearchParams, name: string, max: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) > max) {
    throw new TollgateError(Errors.PROTOCOL_VIOLATION, `query ${name}: expected an integer up to ${max}`);
  }
  return Number(v);
}

function list(q: URLSearchParams, name: string): string[] | undefined {
  const all = q
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  return all.length ? all : undefined;
}

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'cancelled'];

export function controlPlaneRoutes(s: ApiServices): Route[] {
  const routes: Route[] = [
    {
      method: 'get',
      path: '/healthz',
      operationId: 'health',
      summary: 'Liveness: the process is up and serving.',
      access: 'public',
      response: { status: 200, schema: S.Health },
      handle: async () => json(200, { status: 'ok' }),
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'readiness',
      summary: 'Readiness: store writable, policy loaded. 503 when any check fails.',
      access: 'public',
      response: { status: 200, schema: S.Readiness },
      handle: async () => {
        const checks = await s.readiness();
        const ready = Object.values(checks).every((v) => v === 'ok');
        return json(ready ? 200 : 503, { ready, checks });
      },
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics (text exposition format 0.0.4).',
      access: 'public',
      response: { status: 200, contentType: 'text/plain; version=0.0.4' },
      handle: async () => ({
        status: 200,
        body: s.metrics.render(),
        contentType: 'text/plain; version=0.0.4',
      }),
    },
    {
      method: 'get',
      path: '/v1/whoami',
      operationId: 'whoami',
      summary: 'The identity behind the presented token and its control-plane roles.',
      access: 'authenticated',
      response: { status: 200, schema: S.WhoAmI },
      handle: async ({ identity }) => {
        const policy = s.policy();
        const roles = (['admin', 'reviewer'] as const).filter((r) => policy.hasRole(identity, r));
        return json(200, { identity, roles });
      },
    },
    {
      method: 'post',
      path: '/v1/auth/saml',
      operationId: 'samlExchange',
      summary: 'Exchanges a signed SAML response for a short-lived gateway token.',
      access: 'public',
      body: S.SamlExchangeRequest,
      acceptsForm: true,
      response: { status: 200, schema: S.GatewayToken },
      handle: async ({ body }) => {
        if (!s.saml) throw new TollgateError(Errors.NOT_FOUND, 'SAML is not configured on this gateway');
        const { SAMLResponse } = body as Static<typeof S.SamlExchangeRequest>;
        const out = await s.saml.exchange(SAMLResponse);
        return json(200, { token: out.token, expiresAt: out.expiresAt, identity: out.identity });
      },
    },
    {
      method: 'get',
      path: '/v1/approvals',
      operationId: 'listApprovals',
      summary: 'Approval requests; reviewers see those they may decide, admins all.',
      access: 'reviewer',
      query: [
        { name: 'status', description: `one of ${STATUSES.join(', ')} (default pending)` },
        { name: 'limit', description: 'at most this many (default 100, max 1000)', type: 'integer' },
      ],
      response: { status: 200, schema: S.ApprovalList },
      handle: async ({ identity, query }) => {
        const status = (query.get('status') ?? 'pending') as ApprovalStatus;
        if (!STATUSES.includes(status)) {
          throw new TollgateError(
            Errors.PROTOCOL_VIOLATION,
            `query status: expected one of ${STATUSES.join(', ')}`,
          );
        }
        const admin = s.policy().hasRole(identity, 'admin');
        const approvals = await s.approvals.list({
          status,
          ...(admin ? {} : { reviewer: identity }),
          limit: int(query, 'limit', 1000) ?? 100,
        });
        return json(200, { approvals });
      },
    },
    {
      method: 'get',
      path: '/v1/approvals/{id}',
      operationId: 'getApproval',
      summary: 'One approval request with its votes.',
      access: 'reviewer',
      response: { status: 200, schema: S.ApprovalBody },
      handle: async ({ params }) => json(200, await s.approvals.get(params.id as string)),
    },
    {
      method: 'post',
      path: '/v1/approvals/{id}/approve',
      operationId: 'approve',
      summary: 'Approves a pending request (not your own; one vote per reviewer).',
      access: 'reviewer',
      body: S.ApproveRequest,
      response: { status: 200, schema: S.ApprovalBody },
      handle: async ({ params, identity, body }) => {
        const { reason } = body as Static<typeof S.ApproveRequest>;
        return json(200, await s.approvals.approve(params.id as string, identity, reason));
      },
    },
    {
      method: 'post',
      path: '/v1/approvals/{id}/deny',
      operationId: 'deny',
      summary: 'Denies a pending request; a reason is required.',
      access: 'reviewer',
      body: S.DenyRequest,
      response: { status: 200, schema: S.ApprovalBody },
      handle: async ({ params, identity, body }) => {
        const { reason } = body as Static<typeof S.DenyRequest>;
        return json(200, await s.approvals.deny(params.id as string, identity, reason));
      },
    },
    {
      method: 'get',
      path: '/v1/audit/events',
      operationId: 'queryAudit',
      summary: 'Audit records by time window, identity, resource, session, decision; JSON or JSON Lines.',
      access: 'admin',
      query: [
        { name: 'from', description: 'ISO date/time or epoch ms (inclusive)' },
        { name: 'to', description: 'ISO date/time or epoch ms (exclusive)' },
        { name: 'identity', description: 'identity subject' },
        { name: 'resource', description: 'policy resource' },
        { name: 'session', description: 'session id' },
        { name: 'decision', description: 'allow, deny, require-approval, approved, denied, …' },
        { name: 'action', description: 'action classes, comma-separated' },
        { name: 'type', description: 'event types, comma-separated' },
        { name: 'afterSeq', description: 'records after this position (paging)', type: 'integer' },
        { name: 'limit', description: 'at most this many (default 1000, max 10000)', type: 'integer' },
        { name: 'format', description: 'json (default) or jsonl' },
      ],
      response: {
        status: 200,
        schema: S.AuditList,
        alternatives: { 'application/x-ndjson': 'with format=jsonl: one AuditRecord per line' },
      },
      handle: async ({ query }) => {
        const q = {
          from: time(query, 'from'),
          to: time(query, 'to'),
          subject: query.get('identity') ?? undefined,
          resource: query.get('resource') ?? undefined,
          sessionId: query.get('session') ?? undefined,
          decision: query.get('decision') ?? undefined,
          actions: list(query, 'action'),
          types: list(query, 'type') as AuditEventType[] | undefined,
          afterSeq: int(query, 'afterSeq', Number.MAX_SAFE_INTEGER),
          limit: int(query, 'limit', 10_000) ?? 1000,
        };
        const clean = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
        const records = await s.audit.query(clean);
        if (query.get('format') === 'jsonl') {
          const text = records.map((r) => JSON.stringify(r)).join('\n');
          return { status: 200, body: text ? `${text}\n` : '', contentType: 'application/x-ndjson' };
        }
        return json(200, { records });
      },
    },
    {
      method: 'get',
      path: '/v1/audit/verify',
      operationId: 'verifyAudit',
      summary:
        'Walks the hash chain and checkpoints; lists every altered, removed, inserted or reordered record.',
      access: 'admin',
      response: { status: 200, schema: S.VerifyBody },
      handle: async () => json(200, await s.audit.verify({})),
    },
    {
      method: 'post',
      path: '/v1/policy/test',
      operationId: 'policyTest',
      summary: 'What would happen if this identity did this action on this resource.',
      access: 'admin',
      body: S.PolicyTestRequest,
      response: { status: 200, schema: S.PolicyTestResult },
      handle: async ({ body }) => {
        const b = body as Static<typeof S.PolicyTestRequest>;
        const identity: Identity = {
          subject: b.identity.subject,
          kind: b.identity.kind ?? 'oidc',
          issuer: b.identity.issuer ?? 'policy-test',
          groups: b.identity.groups ?? [],
        };
        return json(200, s.policy().explain({ identity, resource: b.resource, action: b.action }));
      },
    },
    {
      method: 'get',
      path: '/v1/service-accounts',
      operationId: 'listServiceAccounts',
      summary: 'Service accounts (never their keys).',
      access: 'admin',
      response: { status: 200, schema: S.ServiceAccountList },
      handle: async () => json(200, { serviceAccounts: await s.serviceAccounts.list() }),
    },
    {
      method: 'post',
      path: '/v1/service-accounts',
      operationId: 'createServiceAccount',
      summary: 'Creates a service account; the API key is in this response only.',
      access: 'admin',
      body: S.CreateServiceAccount,
      response: { status: 201, schema: S.CreatedServiceAccount },
      handle: async ({ body }) => {
        const b = body as Static<typeof S.CreateServiceAccount>;
        const out = await s.serviceAccounts.create(b);
        return json(201, { serviceAccount: out.account, apiKey: out.apiKey });
      },
    },
    {
      method: 'delete',
      path: '/v1/service-accounts/{name}',
      operationId: 'revokeServiceAccount',
      summary: 'Revokes a service account at once.',
      access: 'admin',
      response: { status: 200, schema: S.Empty },
      handle: async ({ params }) => {
        await s.serviceAccounts.revoke(params.name as string);
        return json(200, {});
      },
    },
  ];
  routes.push({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    summary: 'This API described as an OpenAPI 3.1 document.',
    access: 'public',
    response: {
      status: 200,
      schema: Type.Object({ openapi: Type.String() }, { additionalProperties: true }),
    },
    handle: async () => json(200, openApiDocument(routes)),
  });
  return routes;
}
