import { parseArgs } from 'node:util';
import { type ApprovalRequest, Errors, TollgateError } from '@tollgate/core';
import type { Command, CommandIo } from './command';

const USAGE = `Usage: tollgate approvals <list|show|approve|deny> [options]

Acts on approval requests through the gateway's control-plane API, as the identity of the token.

  list [--status pending|approved|denied|expired|cancelled] [--json]
  show ID [--json]
  approve ID [--reason TEXT]
  deny ID --reason TEXT              (a reason is required)

Options:
  --server URL     control-plane API (default: $TOLLGATE_SERVER, else http://127.0.0.1:8081)
  --token-env VAR  environment variable holding your token (default: TOLLGATE_TOKEN)
  -h, --help       show this help
`;

/** A minimal client of the control-plane API for the CLI. */
export async function apiCall(
  io: CommandIo,
  opts: { server?: string | undefined; tokenEnv?: string | undefined },
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const server = (opts.server ?? io.env.TOLLGATE_SERVER ?? 'http://127.0.0.1:8081').replace(/\/+$/, '');
  const tokenEnv = opts.tokenEnv ?? 'TOLLGATE_TOKEN';
  const token = io.env[tokenEnv];
  if (!token) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `no token: set ${tokenEnv} to your OIDC access token, gateway token or API key`,
    );
  }
  let res: Response;
  try {
    res = await fetch(`${server}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new TollgateError(
      Errors.TARGET_UNAVAILABLE,
      `cannot reach the control-plane API at ${server}: ${(err as Error).message}`,
      {
        hint: 'is the gateway running? set --server or TOLLGATE_SERVER',
      },
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { error: { code: 'TG_BAD_RESPONSE', message: text.slice(0, 200) } };
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string; hint?: string } }).error ?? {};
    const err = new TollgateError(
      res.status === 401
        ? Errors.AUTH_FAILED
        : res.status === 403
          ? Errors.FORBIDDEN
          : res.status === 404
            ? Errors.NOT_FOUND
            : Errors.APPROVAL_INVALID,
      `${e.message ?? `HTTP ${res.status}`}`,
      e.hint ? { hint: e.hint } : undefined,
    );
    throw err;
  }
  return parsed;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function describe(a: ApprovalRequest): string {
  const lines = [
    `id:          ${a.id}`,
    `status:      ${a.status}${a.endReason ? ` (${a.endReason})` : ''}`,
    `requester:   ${a.requester.subject} (${a.requester.kind}, groups: ${a.requester.groups.join(', ') || '-'})`,
    `resource:    ${a.resource}`,
    `session:     ${a.sessionId}`,
    `action:      ${a.action}`,
    `command:     ${a.command}`,
    `needs:       ${a.requirement.approvals} approval(s) from ${a.requirement.reviewers.join(', ')}`,
    `created:     ${when(a.createdAt)}`,
    `expires:     ${when(a.expiresAt)}`,
  ];
  for (const v of a.votes)
    lines.push(
      `vote:        ${v.verdict} by ${v.reviewer} at ${when(v.at)}${v.reason ? `: ${v.reason}` : ''}`,
    );
  return `${lines.join('\n')}\n`;
}

export const command: Command = {
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        'token-env': { type: 'string' },
        status: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [sub, id] = positionals;
    if (values.help || sub === undefined) {
      io.stdout.write(USAGE);
      return sub === undefined && !values.help ? 2 : 0;
    }
    const opts = { server: values.server, tokenEnv: values['token-env'] };
    const needId = (): string => {
      if (!id)
        throw new TollgateError(Errors.CONFIG_INVALID, `approvals ${sub}: missing approval id`, {
          hint: 'see tollgate approvals --help',
        });
      return encodeURIComponent(id);
    };
    switch (sub) {
      case 'list': {
        const status = values.status ?? 'pending';
        const out = (await apiCall(
          io,
          opts,
          'GET',
          `/v1/approvals?status=${encodeURIComponent(status)}`,
        )) as {
          approvals: ApprovalRequest[];
        };
        if (values.json) {
          io.stdout.write(`${JSON.stringify(out.approvals, null, 2)}\n`);
          return 0;
        }
        if (out.approvals.length === 0) {
          io.stdout.write(`no ${status} approval requests\n`);
          return 0;
        }
        for (const a of out.approvals) {
          const votes = a.votes.filter((v) => v.verdict === 'approve').length;
          io.stdout.write(
            `${a.id}  ${a.status}  ${votes}/${a.requirement.approvals}  ${a.requester.subject} → ${a.resource}  ${a.action}  expires ${when(a.expiresAt)}  ${a.command.slice(0, 80)}\n`,
          );
        }
        return 0;
      }
      case 'show': {
        const a = (await apiCall(io, opts, 'GET', `/v1/approvals/${needId()}`)) as ApprovalRequest;
        io.stdout.write(values.json ? `${JSON.stringify(a, null, 2)}\n` : describe(a));
        return 0;
      }
      case 'approve': {
        const a = (await apiCall(
          io,
          opts,
          'POST',
          `/v1/approvals/${needId()}/approve`,
          values.reason ? { reason: values.reason } : {},
        )) as ApprovalRequest;
        io.stdout.write(`${a.id}: ${a.status === 'approved' ? 'approved' : `vote recorded (${a.status})`}\n`);
        return 0;
      }
      case 'deny': {
        if (!values.reason) {
          throw new TollgateError(Errors.CONFIG_INVALID, 'approvals deny: --reason is required', {
            hint: 'say why, e.g. --reason "not during business hours"',
          });
        }
        const a = (await apiCall(io, opts, 'POST', `/v1/approvals/${needId()}/deny`, {
          reason: values.reason,
        })) as ApprovalRequest;
        io.stdout.write(`${a.id}: ${a.status}\n`);
        return 0;
      }
      default:
        throw new TollgateError(Errors.CONFIG_INVALID, `approvals: unknown subcommand '${sub}'`, {
          hint: 'see tollgate approvals --help',
        });
    }
  },
};
