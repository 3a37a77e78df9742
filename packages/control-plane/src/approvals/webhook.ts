import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Secret } from '@tollgate/core';
import type { ApprovalRow } from './model';

export const SIGNATURE_HEADER = 'x-tollgate-signature';
export const TIMESTAMP_HEADER = 'x-tollgate-timestamp';
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

/** Where new approval requests are announced (chat bots, ticketing). */
export interface WebhookTarget {
  readonly url: string;
  /** HMAC-SHA256 key shared with the receiver. */
  readonly secret: Secret;
  /** Bound on the whole delivery (connect, send, response headers); default 5 s. */
  readonly timeoutMs?: number;
}

/** The JSON body POSTed for a new request. Command text is already masked. */
export interface WebhookPayload {
  readonly type: 'approval.request';
  readonly id: string;
  readonly requester: { readonly subject: string; readonly issuer: string; readonly kind: string };
  readonly resource: string;
  readonly action: string;
  readonly command: string;
  readonly sessionId: string;
  readonly reviewers: readonly string[];
  readonly approvalsNeeded: number;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

export function webhookPayload(row: ApprovalRow): WebhookPayload {
  return {
    type: 'approval.request',
    id: row.id,
    requester: { subject: row.requester.subject, issuer: row.requester.issuer, kind: row.requester.kind },
    resource: row.resource,
    action: row.action,
    command: row.command,
    sessionId: row.sessionId,
    reviewers: row.requirement.reviewers,
    approvalsNeeded: row.requirement.approvals,
    createdAt: new Date(row.createdAt).toISOString(),
    expiresAt: new Date(row.expiresAt).toISOString(),
  };
}

/**
 * The signature a receiver recomputes: hex HMAC-SHA256, keyed with the shared secret, of
 * `<timestamp>.<raw body>`, where `<timestamp>` is the `X-Tollgate-Timestamp` header (Unix
 * seconds). Signing the timestamp lets receivers refuse replays of an old delivery.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Receiver-side check (for tests and for anyone writing a receiver in Node): the signature
 * matches in constant time and the timestamp is within `toleranceSeconds` of `nowSeconds`.
 */
export function verifyWebhook(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const want = Buffer.from(webhookSignature(secret, timestamp, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Only scheme, host and port: webhook paths often carry a token (Slack, Teams), so never log them. */
export function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '[invalid url]';
  }
}

/**
 * POSTs one signed delivery. Never throws: a failure is returned as a log line (without the
 * secret or the URL path) so the request it announces is never held up or failed by it.
 */
export async function deliverWebhook(
  target: WebhookTarget,
  payload: WebhookPayload,
  nowMs: number,
): Promise<string | undefined> {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(nowMs / 1000));
  const where = redactUrl(target.url);
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(target.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'tollgate-approvals',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: webhookSignature(target.secret.reveal(), timestamp, body),
      },
      body,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return undefined;
    return `approvals: webhook ${where} for ${payload.id} answered HTTP ${res.status}`;
  } catch (err) {
    const e = err as Error;
    const why = e.name === 'TimeoutError' ? 'timed out' : (causeMessage(e) ?? e.message);
    return `approvals: webhook ${where} for ${payload.id} failed: ${why.split(target.url).join(where)}`;
  }
}

function causeMessage(e: Error): string | undefined {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message;
}
