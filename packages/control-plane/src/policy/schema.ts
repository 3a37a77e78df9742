import { type Static, type TLiteral, type TString, type TUnion, Type } from '@sinclair/typebox';
import { STYLES } from '@tollgate/core';

/**
 * The policy file's schema, written once: TypeBox gives both the TypeScript types below and the
 * JSON Schema committed as `packages/control-plane/policy.schema.json` (see write-schema.ts).
 * Every object refuses unknown fields. What a schema cannot say (a rule naming a resource that
 * does not exist, an action class the resource's protocol never emits, …) is checked in load.ts.
 * `description` doubles as the error text for patterns ("must be <description>").
 */

const strict = { additionalProperties: false } as const;

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';
export const NAME_TEXT =
  "a name of letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)";

function name(description: string): TString {
  return Type.String({ pattern: NAME_PATTERN, description: `${description}: ${NAME_TEXT}` });
}

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

function oneOf<const T extends readonly string[]>(values: T, description: string): TUnion<Literals<T>> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  ) as unknown as TUnion<Literals<T>>;
}

/** A name matched literally, or a pattern where `*` stands for any run of characters. */
const Pattern = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^[^\\s]+$',
  description: "a name or a pattern ('*' matches any run of characters), without spaces",
});

/** An absolute path glob for sftp paths (see paths.ts). */
const PathPattern = Type.String({
  minLength: 1,
  maxLength: 4096,
  pattern: '^/',
  description:
    "an absolute path pattern: '*' any characters within one segment, '?' one character, '**' any number of segments",
});

const Issuer = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: 'only identities from this issuer (OIDC issuer URL or SAML IdP entity id) match',
});

export const SubjectSchema = Type.Union(
  [
    Type.Object(
      {
        group: Pattern,
        issuer: Type.Optional(Issuer),
      },
      { ...strict, description: 'an identity of any kind that belongs to a matching group' },
    ),
    Type.Object(
      {
        identity: Pattern,
        issuer: Type.Optional(Issuer),
      },
      { ...strict, description: 'an OIDC or SAML identity whose subject matches' },
    ),
    Type.Object(
      { serviceAccount: Pattern },
      { ...strict, description: 'a Tollgate service account whose name matches' },
    ),
  ],
  { description: 'who: { group }, { identity } or { serviceAccount }' },
);
export type SubjectSpec = Static<typeof SubjectSchema>;

const Subjects = Type.Array(SubjectSchema, { minItems: 1, maxItems: 1000 });

export const CredentialRefSchema = Type.Union(
  [
    Type.Object(
      {
        env: Type.String({
          pattern: '^[A-Za-z_][A-Za-z0-9_]{0,255}$',
          description: 'the name of an environment variable',
        }),
      },
      { ...strict, description: 'the value of an environment variable of the gateway process' },
    ),
    Type.Object(
      {
        file: Type.String({
          minLength: 1,
          maxLength: 4096,
          description: 'a file path; a relative one is relative to the policy file',
        }),
      },
      { ...strict, description: 'the content of a file (one trailing newline removed)' },
    ),
  ],
  { description: 'where the gateway reads the credential: { env: VAR } or { file: /path }' },
);

export const TlsSchema = Type.Object(
  {
    mode: oneOf(
      ['disable', 'require', 'verify-full'] as const,
      'disable: plaintext; require: TLS without verification; verify-full: CA and host name checked',
    ),
    caFile: Type.Optional(
      Type.String({
        pattern: '^/.{1,4095}$',
        description: 'an absolute path to a PEM file of CA certificates',
      }),
    ),
    serverName: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, description: 'the host name the certificate must name' }),
    ),
  },
  { ...strict, description: 'TLS from the gateway to the target' },
);

export const ResourceSchema = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    protocol: oneOf(['postgres', 'ssh', 'kubernetes', 'http'] as const, 'the protocol the target speaks'),
    address: Type.String({
      pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252})):[0-9]{1,5}$',
      description: 'host:port of the target ([v6::addr]:port for IPv6)',
    }),
    database: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 63,
        description: 'PostgreSQL only: the database at the target (default: the resource name)',
      }),
    ),
    username: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'the login name used at the target' }),
    ),
    credential: Type.Optional(CredentialRefSchema),
    tls: Type.Optional(TlsSchema),
    hostKey: Type.Optional(
      Type.String({
        pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$',
        description: "SSH only: the target's host key fingerprint, SHA256:<43 base64 characters>",
      }),
    ),
    knownHosts: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description:
          "SSH only: an OpenSSH known_hosts file listing the target's host keys; a relative path is relative to the policy file",
      }),
    ),
    env: Type.Optional(
      Type.Array(
        Type.String({
          pattern: '^[A-Za-z_][A-Za-z0-9_]*\\*?$',
          maxLength: 256,
          description: 'a variable name, or a prefix ending in * (LC_*)',
        }),
        {
          maxItems: 100,
          uniqueItems: true,
          description:
            "SSH only: environment variables an agent's client may pass to the target (env requests); others are refused. The target's sshd must accept them too (AcceptEnv)",
        },
      ),
    ),
  },
  { ...strict, description: 'a target agents reach through the gateway' },
);
export type ResourceSpec = Static<typeof ResourceSchema>;

const Entity = Type.String({ minLength: 1, maxLength: 64, description: 'a masking entity name' });
const Style = oneOf(STYLES, 'a redaction style');

export const ColumnRuleSchema = Type.Object(
  {
    column: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    table: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'a PostgreSQL type name' })),
    action: Type.Union(
      [
        Type.Literal('keep', { description: 'leave the value alone' }),
        Type.Object(
          { redactAs: Entity },
          { ...strict, description: 'redact the whole value as this entity' },
        ),
        Type.Object(
          {
            scan: Type.Union([
              Type.Literal('all'),
              Type.Array(Entity, { minItems: 1, maxItems: 100, uniqueItems: true }),
            ]),
          },
          { ...strict, description: 'scan the value for these entities (or all)' },
        ),
      ],
      { description: 'keep, { redactAs: ENTITY } or { scan: [ENTITY, …] | all }' },
    ),
  },
  { ...strict, description: 'how columns matching all given matchers (case-insensitive) are masked' },
);

/** Most rows and bytes a profile may capture per statement (the audit record stays small). */
export const MAX_CAPTURE_ROWS = 100;
export const MAX_CAPTURE_BYTES = 65_536;
export const DEFAULT_CAPTURE_BYTES = 4096;

export const CaptureSchema = Type.Object(
  {
    rows: Type.Integer({
      minimum: 1,
      maximum: MAX_CAPTURE_ROWS,
      description: 'the first result rows of each statement kept in its audit record',
    }),
    maxBytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_CAPTURE_BYTES,
        description: `at most this many bytes of values per statement (default ${DEFAULT_CAPTURE_BYTES})`,
      }),
    ),
  },
  {
    ...strict,
    description:
      'keep the first masked result rows of each statement (as the client got them) in the audit log',
  },
);

export const MaskingProfileSchema = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    otherwise: Type.Optional(
      oneOf(['scan', 'keep'] as const, 'what happens to columns no column rule matches (default scan)'),
    ),
    entities: Type.Optional(
      Type.Array(Entity, {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description: 'entities a scan looks for (default: all built-ins)',
      }),
    ),
    defaultStyle: Type.Optional(Style),
    styles: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }), Style, {
        ...strict,
        description: 'redaction style by entity name',
      }),
    ),
    columns: Type.Optional(Type.Array(ColumnRuleSchema, { maxItems: 1000 })),
    capture: Type.Optional(CaptureSchema),
  },
  { ...strict, description: 'how results are masked; rules name a profile' },
);
export type MaskingProfileSpec = Static<typeof MaskingProfileSchema>;

export const DURATION_PATTERN = '^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$';

export const ApprovalSchema = Type.Object(
  {
    reviewers: Type.Array(Type.String({ minLength: 1, maxLength: 256, description: 'a group name' }), {
      minItems: 1,
      maxItems: 100,
      uniqueItems: true,
      description: 'groups whose members may approve or deny',
    }),
    approvals: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, description: 'distinct approvals needed (default 1)' }),
    ),
    timeout: Type.String({
      pattern: DURATION_PATTERN,
      minLength: 2,
      description: 'a duration such as 90s, 15m, 1h or 1h30m',
    }),
  },
  { ...strict, description: 'who must approve, how many, and how long the request stays open' },
);

export const RuleConditionsSchema = Type.Object(
  {
    tables: Type.Optional(
      Type.Array(Pattern, {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
        description:
          'PostgreSQL: tables the command touches; allow/require-approval rules need every table to match, deny rules any',
      }),
    ),
    programs: Type.Optional(
      Type.Array(Pattern, {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
        description: 'SSH exec: the program name',
      }),
    ),
    destinations: Type.Optional(
      Type.Array(Pattern, {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
        description: 'SSH port-forward: the host:port forwarded to',
      }),
    ),
    paths: Type.Optional(
      Type.Array(PathPattern, {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
        description:
          'SSH sftp: the path operated on (normalised; rename: both paths, the strictest decision governs); a path the gateway cannot resolve matches deny rules only',
      }),
    ),
  },
  { ...strict, description: 'details of the command; a command without the detail never matches' },
);

export const RuleSchema = Type.Object(
  {
    name: name('the rule name, recorded in audit events'),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    subjects: Subjects,
    resources: Type.Array(Pattern, {
      minItems: 1,
      maxItems: 1000,
      uniqueItems: true,
      description: "resource names or patterns ('*': every resource)",
    }),
    actions: Type.Array(
      Type.String({
        pattern: '^(\\*|[a-z][a-z0-9-]{0,63})$',
        description: "an action class such as read or exec, or '*'",
      }),
      { minItems: 1, maxItems: 100, uniqueItems: true, description: "action classes ('*': every action)" },
    ),
    when: Type.Optional(RuleConditionsSchema),
    effect: oneOf(['allow', 'deny', 'require-approval'] as const, 'what happens to a matching command'),
    masking: Type.Optional(name('allow / require-approval: the masking profile for results')),
    approval: Type.Optional(ApprovalSchema),
    reason: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1000, description: 'deny: the reason the agent is told' }),
    ),
  },
  { ...strict, description: 'who may do what on which resources' },
);
export type RuleSpec = Static<typeof RuleSchema>;

export const RolesSchema = Type.Object(
  {
    admin: Type.Optional(Type.Array(SubjectSchema, { maxItems: 1000 })),
    reviewer: Type.Optional(Type.Array(SubjectSchema, { maxItems: 1000 })),
  },
  { ...strict, description: 'who may use the control-plane API and CLI, and as what' },
);

export const PolicySchema = Type.Object(
  {
    version: Type.Literal(1, { description: 'the policy format version' }),
    roles: Type.Optional(RolesSchema),
    resources: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), ResourceSchema, {
        ...strict,
        description: `targets by name: ${NAME_TEXT}`,
      }),
    ),
    maskingProfiles: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), MaskingProfileSchema, {
        ...strict,
        description: `masking profiles by name: ${NAME_TEXT}`,
      }),
    ),
    rules: Type.Optional(Type.Array(RuleSchema, { maxItems: 10_000 })),
  },
  {
    ...strict,
    title: 'Tollgate policy',
    description: 'Who may do what on which targets through the Tollgate gateway. Deny by default.',
  },
);

/** A schema-valid policy document, as written in the file. */
export type PolicyDocument = Static<typeof PolicySchema>;

/** The policy's JSON Schema (draft 2020-12), as committed in policy.schema.json. */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...(JSON.parse(JSON.stringify(PolicySchema)) as Record<string, unknown>),
  };
}
