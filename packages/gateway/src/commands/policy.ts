import { parseArgs } from 'node:util';
import {
  EVALUATION_ORDER,
  type Explanation,
  formatPolicyDuration,
  loadPolicyFile,
  type Policy,
  PolicyInvalidError,
  policySchemaText,
} from '@tollgate/control-plane';
import { type ActionRequest, type Decision, type Identity, TollgateError } from '@tollgate/core';
import { loadConfig } from '../config';
import type { Command, CommandIo } from './command';

const USAGE = `Usage: tollgate policy <check|test|schema> [options]

  check FILE [--config FILE] [--json]
      Validates a policy file. Exit 0 when it is valid; exit 2 with every problem, each as
      file:line:column: field: message.
  test --policy FILE --identity SUBJECT --resource NAME --action CLASS [options]
      What would happen if SUBJECT ran an ACTION on RESOURCE: the decision (effect, rule,
      approval requirement, masking profile) and how every rule was considered.
        --kind oidc|saml|service-account   the identity's kind (default oidc)
        --groups a,b                       its groups
        --issuer ISSUER                    its issuer (OIDC issuer URL, SAML IdP entity id)
        --tables a,b  --program NAME  --destination HOST:PORT  --path PATH
                                           command detail for rules with 'when' conditions
                                           (--path: an sftp path, absolute as the gateway
                                           resolves it; a relative one counts as unresolved)
        --expect allow|deny|require-approval
                                           exit 1 unless the decision has this effect
        --config FILE                      gateway config (for custom masking entities)
        --json                             machine-readable output
  schema
      Prints the policy's JSON Schema.

The policy reference is docs/policy.md.
`;

const KINDS = ['oidc', 'saml', 'service-account'] as const;
const EFFECTS = ['allow', 'deny', 'require-approval'] as const;

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function usageError(io: CommandIo, message: string): number {
  io.stderr.write(`tollgate policy: ${message}\nhint: see tollgate policy --help\n`);
  return 2;
}

/** Custom entity names from a gateway config, so masking profiles may use them. */
function customEntities(config: string | undefined): string[] | undefined {
  if (config === undefined) return undefined;
  return loadConfig(config).masking?.custom?.map((c) => c.name) ?? [];
}

function load(file: string, config: string | undefined): Policy {
  const entities = customEntities(config);
  return loadPolicyFile(file, entities ? { entities } : undefined);
}

function check(args: string[], io: CommandIo): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) return usageError(io, 'check takes exactly one FILE');
  let policy: Policy;
  try {
    policy = load(file, values.config);
  } catch (err) {
    if (!values.json || !(err instanceof TollgateError)) throw err;
    const problems = err instanceof PolicyInvalidError ? err.problems : [err.message];
    io.stdout.write(`${JSON.stringify({ ok: false, file, problems })}\n`);
    return 2;
  }
  const summary = {
    resources: policy.resources().length,
    maskingProfiles: Object.keys(policy.document.maskingProfiles ?? {}).length,
    rules: policy.ruleNames().length,
  };
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ok: true, file, hash: policy.hash, ...summary })}\n`);
  } else {
    io.stdout.write(
      `${file}: valid (${summary.resources} resources, ${summary.maskingProfiles} masking profiles, ` +
        `${summary.rules} rules; sha256 ${policy.hash.slice(0, 16)})\n`,
    );
  }
  return 0;
}

function describeDecision(d: Decision): string[] {
  const lines = [
    `decision: ${d.effect} (${d.rule === null ? 'default: no rule matched' : `rule ${d.rule}`})`,
  ];
  if (d.effect === 'deny') lines.push(`reason:   ${d.reason}`);
  if (d.effect === 'require-approval') {
    const a = d.approval;
    lines.push(
      `approval: ${a.approvals} approval${a.approvals === 1 ? '' : 's'} from [${a.reviewers.join(', ')}] ` +
        `within ${formatPolicyDuration(a.timeoutMs)}`,
    );
  }
  if (d.effect !== 'deny') lines.push(`masking:  ${d.masking ?? 'none'}`);
  return lines;
}

function printExplanation(io: CommandIo, req: ActionRequest, ex: Explanation): void {
  const id = req.identity;
  const groups = id.groups.length > 0 ? id.groups.join(', ') : 'none';
  const out = [
    `request:  ${id.kind} '${id.subject}' (groups: ${groups}${id.issuer ? `; issuer ${id.issuer}` : ''}) ` +
      `runs '${req.action}' on '${req.resource}'`,
    ...describeDecision(ex.decision),
    '',
    `order:    ${EVALUATION_ORDER}`,
    '',
    'rules, in file order (=> decides, + matches, - does not match):',
  ];
  const width = Math.max(4, ...ex.rules.map((r) => r.rule.length));
  for (const r of ex.rules) {
    const mark = r.decisive ? '=>' : r.matched ? ' +' : ' -';
    out.push(`${mark} ${r.rule.padEnd(width)}  ${r.effect.padEnd(16)}  ${r.outcome}`);
  }
  if (ex.rules.length === 0) out.push('   (no rules)');
  io.stdout.write(`${out.join('\n')}\n`);
}

function test(args: string[], io: CommandIo): number {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      policy: { type: 'string' },
      identity: { type: 'string' },
      kind: { type: 'string' },
      groups: { type: 'string' },
      issuer: { type: 'string' },
      resource: { type: 'string' },
      action: { type: 'string' },
      tables: { type: 'string' },
      program: { type: 'string' },
      destination: { type: 'string' },
      path: { type: 'string' },
      expect: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  for (const k of ['policy', 'identity', 'resource', 'action'] as const) {
    if (values[k] === undefined) return usageError(io, `test needs --${k}`);
  }
  const kind = (values.kind ?? 'oidc') as Identity['kind'];
  if (!(KINDS as readonly string[]).includes(kind))
    return usageError(io, `--kind must be one of ${KINDS.join(', ')}`);
  if (values.expect !== undefined && !(EFFECTS as readonly string[]).includes(values.expect)) {
    return usageError(io, `--expect must be one of ${EFFECTS.join(', ')}`);
  }
  const policy = load(values.policy as string, values.config);
  const identity: Identity = {
    subject: values.identity as string,
    kind,
    issuer: values.issuer ?? (kind === 'service-account' ? 'tollgate' : ''),
    groups: list(values.groups),
  };
  const detail: { tables?: string[]; program?: string; destination?: string; path?: string } = {};
  if (values.tables !== undefined) detail.tables = list(values.tables);
  if (values.program !== undefined) detail.program = values.program;
  if (values.destination !== undefined) detail.destination = values.destination;
  if (values.path !== undefined) detail.path = values.path;
  const req: ActionRequest = {
    identity,
    resource: values.resource as string,
    action: values.action as string,
    ...(Object.keys(detail).length > 0 ? { detail } : {}),
  };
  const ex = policy.explain(req);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ request: req, evaluation: EVALUATION_ORDER, ...ex }, null, 2)}\n`);
  } else {
    printExplanation(io, req, ex);
  }
  if (values.expect !== undefined && values.expect !== ex.decision.effect) {
    io.stderr.write(`tollgate policy: expected ${values.expect}, the policy decides ${ex.decision.effect}\n`);
    return 1;
  }
  return 0;
}

export const command: Command = {
  async run(args, io) {
    const [sub, ...rest] = args;
    if (
      sub === undefined ||
      sub === '-h' ||
      sub === '--help' ||
      rest.includes('--help') ||
      rest.includes('-h')
    ) {
      io.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    }
    switch (sub) {
      case 'check':
        return check(rest, io);
      case 'test':
        return test(rest, io);
      case 'schema':
        if (rest.length > 0) return usageError(io, 'schema takes no arguments');
        io.stdout.write(policySchemaText());
        return 0;
      default:
        return usageError(io, `unknown subcommand '${sub}' (check, test, schema)`);
    }
  },
};
