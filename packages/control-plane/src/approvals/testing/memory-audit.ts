import { createHash } from 'node:crypto';
import {
  type AuditEventInput,
  type AuditRecord,
  type AuditSink,
  Errors,
  TollgateError,
} from '@tollgate/core';

/** A tiny in-memory audit sink for the approvals tests; `failing` makes every append reject. */
export class MemoryAudit implements AuditSink {
  readonly records: AuditRecord[] = [];
  failing = false;

  async append(event: AuditEventInput): Promise<AuditRecord> {
    if (this.failing) throw new TollgateError(Errors.AUDIT_UNAVAILABLE, 'test audit sink is failing');
    const prevHash = this.records.at(-1)?.hash ?? '0'.repeat(64);
    const base = { ...event, at: event.at ?? Date.now(), seq: this.records.length + 1, prevHash };
    const record: AuditRecord = {
      ...base,
      hash: createHash('sha256').update(JSON.stringify(base)).digest('hex'),
    };
    this.records.push(record);
    return record;
  }

  /** Records about one approval request, in order. */
  about(approvalId: string): AuditRecord[] {
    return this.records.filter((r) => r.approvalId === approvalId);
  }
}
