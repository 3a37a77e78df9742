/**
 * The audit writer thread with faults on request, for tests: a batch whose first event has the
 * resource `fault:crash` ends the thread (exit code 7), `fault:throw` throws an uncaught error in
 * it, and `fault:hang` keeps it busy (for at most 30 s) without answering. Everything else is
 * written as usual.
 */
import type { WriterRequest } from '../sqlite-writer';
import { runWriterThread } from '../writer-thread';

runWriterThread((m: WriterRequest) => {
  if (m.kind !== 'write' || m.op.kind !== 'append') return;
  const resource = m.op.fields[5]; // see encodeEvents
  if (resource === 'fault:crash') process.exit(7);
  if (resource === 'fault:throw') throw new Error('injected fault');
  if (resource === 'fault:hang') {
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      // busy, as a thread stuck in a system call looks from outside
    }
  }
});
