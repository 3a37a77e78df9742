import { type TSchema, Type } from '@sinclair/typebox';

/** Wire shapes of the control-plane API. The OpenAPI document is generated from these. */

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code, e.g. TG_AUTH_FAILED' }),
      message: Type.String(),
      hint: Type.Optional(Type.String()),
    }),
  },
  { $id: 'Error' },
);

export const IdentityBody = Type.Object(
  {
    subject: Type.String(),
    kind: Type.Union([Type.Literal('oidc'), Type.Literal('saml'), Type.Literal('service-account')]),
    issuer: Type.String(),
    groups: Type.Array(Type.String()),
    expiresAt: Type.Optional(Type.Number({ description: 'epoch milliseconds' })),
  },
  { $id: 'Identity' },
);

export const WhoAmI = Type.Object({
  identity: IdentityBody,
  roles: Type.Array(Type.Union([Type.Literal('admin'), Type.Literal('reviewer')])),
});

const Vote = Type.Object({
  reviewer: Type.String(),
  verdict: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
  reason: Type.Optional(Type.String()),
  at: Type.Number(),
});

export const ApprovalBody = Type.Object(
  {
    id: Type.String(),
    status: Type.Union(['pending', 'approved', 'denied', 'expired', 'cancelled'].map((s) => Type.Literal(s))),
    requester: IdentityBody,
    resource: Type.String(),
    sessionId: Type.String(),
    action: Type.String(),
    command: Type.String({ description: 'masked command text' }),
    fingerprint: Type.String(),
    requirement: Type.Object({
      reviewers: Type.Array(Type.String()),
      approvals: Type.Integer({ minimum: 1 }),
      timeoutMs: Type.Number(),
    }),
    createdAt: Type.Number(),
    expiresAt: Type.Number(),
    votes: Type.Array(Vote),
    endReason: Type.Optional(Type.String()),
    auditSeq: Type.Optional(Type.Integer()),
  },
  { $id: 'Approval' },
);

export const ApprovalList = Type.Object({ approvals: Type.Array(ApprovalBody) });

export const ApproveRequest = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 2000 })) },
  {
    additionalProperties: false,
  },
);
export const DenyRequest = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  {
    additionalProperties: false,
  },
);

export const AuditRecordBody = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    at: Type.Number(),
    type: Type.String(),
    sessionId: Type.Optional(Type.String()),
    identity: Type.Optional(IdentityBody),
    resource: Type.Optional(Type.String()),
    action: Type.Optional(Type.String()),
    decision: Type.Optional(Type.String()),
    approvalId: Type.Optional(Type.String()),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    prevHash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { $id: 'AuditRecord' },
);

export const AuditList = Type.Object({ records: Type.Array(AuditRecordBody) });

export const VerifyBody = Type.Object(
  { ok: Type.Boolean() },
  { $id: 'VerifyReport', additionalProperties: true, description: 'see docs/audit.md' },
);

export const PolicyTestRequest = Type.Object(
  {
    identity: Type.Object({
      subject: Type.String({ minLength: 1 }),
      kind: Type.Optional(
        Type.Union([Type.Literal('oidc'), Type.Literal('saml'), Type.Literal('service-account')]),
      ),
      issuer: Type.Optional(Type.String()),
      groups: Type.Optional(Type.Array(Type.String())),
    }),
    resource: Type.String({ minLength: 1 }),
    action: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

export const PolicyTestResult = Type.Object(
  { decision: Type.Object({ effect: Type.String() }, { additionalProperties: true }) },
  { additionalProperties: true },
);

export const ServiceAccountBody = Type.Object(
  {
    name: Type.String(),
    groups: Type.Array(Type.String()),
    createdAt: Type.Optional(Type.Number()),
    expiresAt: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
    revokedAt: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  },
  { $id: 'ServiceAccount', additionalProperties: true },
);

export const ServiceAccountList = Type.Object({ serviceAccounts: Type.Array(ServiceAccountBody) });

export const CreateServiceAccount = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }),
    groups: Type.Array(Type.String({ minLength: 1 }), { maxItems: 64 }),
    expiresAt: Type.Optional(Type.Number()),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const CreatedServiceAccount = Type.Object({
  serviceAccount: ServiceAccountBody,
  apiKey: Type.String({ description: 'shown once; only its hash is stored' }),
});

export const SamlExchangeRequest = Type.Object(
  { SAMLResponse: Type.String({ minLength: 1, description: 'base64 SAML response' }) },
  { additionalProperties: true },
);

export const GatewayToken = Type.Object({
  token: Type.String(),
  expiresAt: Type.Number(),
  identity: IdentityBody,
});

export const Health = Type.Object({ status: Type.Literal('ok') });
export const Readiness = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.String()),
});

export const Empty = Type.Object({});

export type Schema = TSchema;
