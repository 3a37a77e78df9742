import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ApprovalRequestInput, ErrorKind, Identity } from '@tollgate/core';
import { Errors } from '@tollgate/core';
import { closeStore, type StoreDb } from '../../store/database';
import { Approvals } from '../approvals';
import { MemoryAudit } from './memory-audit';

/** How a child process opens the database under test. */
export type StoreSpec = { kind: 'sqlite'; path: string } | { kind: 'postgres'; connectionString: string };

/** One database for the shared approvals suite. */
export interface ApprovalsSuiteTarget {
  /** A new handle (its own connection or pool) on the shared database; the suite closes it. */
  open(): StoreDb;
  /** The same database for a child process. */
  readonly spec: StoreSpec;
  /** Tears the database down; `failed` keeps logs where the target has them. */
  stop(failed: boolean): Promise<void>;
}

const ISSUER = 'https://idp.test';
const who = (subject: string, groups: string[], issuer = ISSUER): Identity => ({
  subject,
  kind: 'oidc',
  issuer,
  groups,
});
const agent = who('ci-bot', ['agents']);
const alice = who('alice', ['dba']);
const bob = who('bob', ['dba', 'oncall']);
const carol = who('carol', ['dba']);
const mallory = who('mallory', ['devs']);

const TEST = { timeout: 60_000 };
const WAKE_BOUND_MS = 15_000;

/**
 * The built modules the child process requires: the approvals and store entry points of this
 * package (not its top-level index, so a sibling subsystem cannot break this test) and the test
 * audit sink, all under dist/.
 */
const APPROVALS_ENTRY = resolve(__dirname, '..', 'index.js');
const STORE_ENTRY = resolve(__dirname, '..', '..', 'store', 'database.js');
const MEMORY_AUDIT = join(__dirname, 'memory-audit.js');

const CHILD_SCRIPT = `
const cp = { ...require(process.env.TG_STORE_MODULE), ...require(process.env.TG_APPROVALS) };
const { MemoryAudit } = require(process.env.TG_AUDIT);
const spec = JSON.parse(process.env.TG_STORE);
(async () => {
  const store = spec.kind === 'sqlite'
    ? cp.openSqlite(spec.path)
    : cp.openPostgres({ connectionString: spec.connectionString, max: 2 });
  const a = await cp.Approvals.open(store, { audit: new MemoryAudit() });
  try {
    const r = await a.approve(process.env.TG_ID, JSON.parse(process.env.TG_REVIEWER), 'from another process');
    process.stdout.write(JSON.stringify({ status: r.status, votes: r.votes.length }));
  } finally {
    await a.close();
    await cp.closeStore(store);
  }
})().catch((e) => {
  process.stderr.write(String(e && e.code) + ': ' + String(e && e.message));
  process.exitCode = 1;
});
`;

interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Approves `id` as `reviewer` from a separate `node -e` process on the same database. */
function approveInChild(spec: StoreSpec, id: string, reviewer: Identity): Promise<ChildResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['-e', CHILD_SCRIPT],
      {
        timeout: 45_000,
        env: {
          ...process.env,
          TG_APPROVALS: APPROVALS_ENTRY,
          TG_STORE_MODULE: STORE_ENTRY,
          TG_AUDIT: MEMORY_AUDIT,
          TG_STORE: JSON.stringify(spec),
          TG_ID: id,
          TG_REVIEWER: JSON.stringify(reviewer),
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

function tag(): string {
  return randomBytes(6).toString('hex');
}

function input(over: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  const t = tag();
  return {
    requester: agent,
    resource: 'prod-db',
    sessionId: `sess-${t}`,
    action: 'dangerous',
    command: 'DROP TABLE accounts',
    fingerprint: `fp-${t}`,
    requirement: { reviewers: ['dba'], approvals: 1, timeoutMs: 60_000 },
    ...over,
  };
}

function requirement(
  approvals: number,
  timeoutMs = 60_000,
  reviewers = ['dba'],
): ApprovalRequestInput['requirement'] {
  return { reviewers, approvals, timeoutMs };
}

async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, kind.code, `expected ${kind.code}, got ${err.code}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Rejects if `p` has not settled within `ms`: a bound on the test, not a speed assertion. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `p` has settled once pending I/O callbacks have run. */
async function settledYet(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  return done;
}

/** Until `a` has `n` registered waiters (bounded), so a decision really has to wake them. */
async function waiting(a: Approvals, n = 1): Promise<void> {
  for (let i = 0; i < 2_000 && a.stats().waiting < n; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(a.stats().waiting >= n, `expected ${n} waiter(s), have ${a.stats().waiting}`);
}

/**
 * The approvals suite, run against SQLite by the unit tests and against a real PostgreSQL by the
 * integration tests. Two `Approvals` instances on separate connections stand for two gateways (or
 * a gateway and an admin CLI); a child process stands for another process on the same database.
 */
export function approvalsSuite(name: string, start: () => Promise<ApprovalsSuiteTarget>): void {
  describe(name, () => {
    let target: ApprovalsSuiteTarget | undefined;
    const stores: StoreDb[] = [];
    const opened: Approvals[] = [];
    const audit = new MemoryAudit();
    let failed = false;
    let a: Approvals;
    let b: Approvals;

    /** Another instance on its own connection; closed with the suite. */
    const instance = async (opts: { now?: () => number; audit?: MemoryAudit } = {}): Promise<Approvals> => {
      assert.ok(target, 'database did not start');
      const store = target.open();
      stores.push(store);
      const x = await Approvals.open(store, {
        audit: opts.audit ?? audit,
        ...(opts.now ? { now: opts.now } : {}),
      });
      opened.push(x);
      return x;
    };

    before(
      async () => {
        target = await start();
        a = await instance();
        b = await instance();
      },
      { timeout: 150_000 },
    );
    afterEach((t) => {
      if ((t as { passed?: boolean }).passed === false) failed = true;
    });
    after(
      async () => {
        for (const x of opened) await x.close();
        for (const s of stores) await closeStore(s);
        await target?.stop(failed);
      },
      { timeout: 60_000 },
    );

    test('request: durable, audited, unguessable id, visible to another instance', TEST, async () => {
      const r = await a.request(input({ auditSeq: 41 }));
      assert.match(r.id, /^apr_[A-Za-z0-9_-]{22}$/);
      assert.equal(r.status, 'pending');
      assert.equal(r.expiresAt - r.createdAt, 60_000);
      assert.deepEqual(r.votes, []);
      const events = audit.about(r.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]?.type, 'approval.request');
      assert.equal(events[0]?.decision, 'require-approval');
      assert.equal(events[0]?.identity?.subject, 'ci-bot');
      assert.equal(events[0]?.data?.command, 'DROP TABLE accounts');
      assert.equal(events[0]?.data?.commandSeq, 41);
      const seen = await b.get(r.id);
      assert.deepEqual(seen, r);
      const other = await a.request(input());
      assert.notEqual(other.id, r.id);
    });

    test('request: malformed requirements are refused', TEST, async () => {
      await rejectsWith(
        a.request(input({ requirement: requirement(0) })),
        Errors.APPROVAL_INVALID,
        /approvals/,
      );
      await rejectsWith(
        a.request(input({ requirement: requirement(1, 60_000, []) })),
        Errors.APPROVAL_INVALID,
      );
      await rejectsWith(a.request(input({ requirement: requirement(1, -5) })), Errors.APPROVAL_INVALID);
    });

    test('unknown id: NOT_FOUND for get, approve, deny, wait; releases is false', TEST, async () => {
      const id = 'apr_doesnotexist0000000000';
      await rejectsWith(a.get(id), Errors.NOT_FOUND);
      await rejectsWith(a.approve(id, alice), Errors.NOT_FOUND);
      await rejectsWith(a.deny(id, alice, 'no'), Errors.NOT_FOUND);
      await rejectsWith(a.wait(id), Errors.NOT_FOUND);
      assert.equal(await a.releases(id, 's', 'f'), false);
    });

    test('approve by a reviewer wakes the waiter through the in-process event', TEST, async () => {
      const r = await a.request(input());
      const woken = () => a.stats().wakeups.local + a.stats().wakeups.remote;
      const before = woken();
      const held = a.wait(r.id);
      await waiting(a);
      const decided = await a.approve(r.id, alice, 'looks fine');
      assert.equal(decided.status, 'approved');
      // The decision is audited before approve() resolves.
      const decision = audit.about(r.id).find((e) => e.type === 'approval.decision');
      assert.deepEqual(decision?.data, {
        reviewer: 'alice',
        reviewerIssuer: ISSUER,
        verdict: 'approve',
        reason: 'looks fine',
        status: 'approved',
        approvals: 1,
        approvalsNeeded: 1,
      });
      assert.equal(decision?.identity?.subject, 'alice');
      // The request stays open for a minute: resolving now means the decision woke it.
      const done = await within(held, WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'approved');
      assert.deepEqual(
        done.votes.map((v) => [v.reviewer, v.verdict, v.reason]),
        [['alice', 'approve', 'looks fine']],
      );
      // Woken once, by an event: on PostgreSQL the NOTIFY may win the race with the local one.
      assert.equal(woken(), before + 1);
    });

    test('n of m: the first of two approvals does not release; the second does', TEST, async () => {
      const r = await a.request(input({ requirement: requirement(2) }));
      const held = a.wait(r.id);
      await waiting(a);
      const first = await a.approve(r.id, alice);
      assert.equal(first.status, 'pending');
      assert.equal(first.votes.length, 1);
      assert.equal(await settledYet(held), false, 'one approval of two must not wake the waiter');
      assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), false);
      await rejectsWith(a.approve(r.id, alice), Errors.APPROVAL_INVALID, /already voted/);
      const second = await b.approve(r.id, bob, 'second pair of eyes');
      assert.equal(second.status, 'approved');
      const done = await within(held, WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'approved');
      assert.deepEqual(
        done.votes.map((v) => v.reviewer),
        ['alice', 'bob'],
      );
      const statuses = audit
        .about(r.id)
        .filter((e) => e.type === 'approval.decision')
        .map((e) => e.data?.status);
      assert.deepEqual(statuses, ['pending', 'approved']);
      assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), true);
    });

    test(
      'self-approval is refused (same subject and issuer); another issuer is another person',
      TEST,
      async () => {
        const dana = who('dana', ['dba', 'agents']);
        const r = await a.request(input({ requester: dana }));
        await rejectsWith(a.approve(r.id, dana), Errors.APPROVAL_INVALID, /self-approval/);
        await rejectsWith(a.deny(r.id, dana, 'changed my mind'), Errors.APPROVAL_INVALID, /self-approval/);
        const still = await a.get(r.id);
        assert.equal(still.status, 'pending');
        assert.deepEqual(still.votes, []);
        const otherDana = who('dana', ['dba'], 'https://other-idp.test');
        assert.equal((await a.approve(r.id, otherDana)).status, 'approved');
      },
    );

    test('a reviewer outside the reviewer groups is FORBIDDEN', TEST, async () => {
      const r = await a.request(input());
      await rejectsWith(a.approve(r.id, mallory), Errors.FORBIDDEN, /not in a reviewer group/);
      await rejectsWith(a.deny(r.id, who('nobody', []), 'no'), Errors.FORBIDDEN);
      const still = await a.get(r.id);
      assert.equal(still.status, 'pending');
      assert.deepEqual(still.votes, []);
    });

    test('deny needs a reason; one deny is final and wakes the waiter', TEST, async () => {
      const r = await a.request(input({ requirement: requirement(2) }));
      const held = a.wait(r.id);
      await waiting(a);
      for (const reason of [undefined, '', '   ']) {
        await rejectsWith(
          a.deny(r.id, alice, reason as unknown as string),
          Errors.APPROVAL_INVALID,
          /reason/,
        );
      }
      assert.deepEqual((await a.get(r.id)).votes, []);
      const denied = await a.deny(r.id, alice, 'not during business hours');
      assert.equal(denied.status, 'denied');
      const done = await within(held, WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'denied');
      assert.equal(done.votes[0]?.reason, 'not during business hours');
      const event = audit.about(r.id).find((e) => e.type === 'approval.decision');
      assert.equal(event?.decision, 'denied');
      assert.equal(event?.data?.reason, 'not during business hours');
      await rejectsWith(b.approve(r.id, bob), Errors.APPROVAL_INVALID, /no longer pending: denied/);
      assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), false);
    });

    test('expiry: the timer wakes the waiter with expired, durably and audited', TEST, async () => {
      const r = await a.request(input({ requirement: requirement(1, 300) }));
      const before = a.stats().wakeups.timer;
      const done = await within(a.wait(r.id), WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'expired');
      assert.equal(a.stats().wakeups.timer, before + 1);
      assert.equal((await b.get(r.id)).status, 'expired');
      const event = audit.about(r.id).find((e) => e.type === 'approval.decision');
      assert.equal(event?.decision, 'expired');
      assert.equal(event?.data?.status, 'expired');
      await rejectsWith(a.approve(r.id, alice), Errors.APPROVAL_INVALID, /no longer pending: expired/);
    });

    test(
      'expiry without a waiter: acting after expiresAt expires the request and refuses',
      TEST,
      async () => {
        const r = await a.request(input());
        const later = await instance({ now: () => Date.now() + 61_000 });
        await rejectsWith(later.approve(r.id, alice), Errors.APPROVAL_INVALID, /expired/);
        assert.equal((await a.get(r.id)).status, 'expired');
        assert.equal(audit.about(r.id).filter((e) => e.decision === 'expired').length, 1);
        const r2 = await a.request(input());
        assert.equal((await later.get(r2.id)).status, 'expired');
      },
    );

    test('abort: the waiter cancels the request with the abort reason, audited', TEST, async () => {
      const r = await a.request(input());
      const ac = new AbortController();
      const held = a.wait(r.id, { signal: ac.signal });
      await waiting(a);
      ac.abort('client disconnected');
      const done = await within(held, WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'cancelled');
      assert.equal(done.endReason, 'client disconnected');
      assert.equal((await b.get(r.id)).status, 'cancelled');
      const event = audit.about(r.id).find((e) => e.type === 'approval.decision');
      assert.equal(event?.decision, 'cancelled');
      assert.equal(event?.data?.reason, 'client disconnected');
      await rejectsWith(a.approve(r.id, alice), Errors.APPROVAL_INVALID, /cancelled \(client disconnected\)/);

      const r2 = await a.request(input());
      const gone = await a.wait(r2.id, { signal: AbortSignal.abort('session closed') });
      assert.equal(gone.status, 'cancelled');
      assert.equal(gone.endReason, 'session closed');
    });

    test('releases: only the approved session and fingerprint, only once', TEST, async () => {
      const r = await a.request(input());
      assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), false, 'pending must not release');
      await a.approve(r.id, alice);
      assert.equal(await a.releases(r.id, 'another-session', r.fingerprint), false);
      assert.equal(await a.releases(r.id, r.sessionId, 'another-fingerprint'), false);
      assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), true);
      assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), false, 'an approval releases once');
      assert.equal(
        await b.releases(r.id, r.sessionId, r.fingerprint),
        false,
        'not even through another gateway',
      );
    });

    test('cross-instance: a decision on instance B wakes the waiter on instance A', TEST, async () => {
      const r = await a.request(input());
      const before = a.stats().wakeups.remote;
      const held = a.wait(r.id);
      await waiting(a);
      await b.approve(r.id, bob, 'from gateway B');
      const done = await within(held, WAKE_BOUND_MS, 'waiter on A');
      assert.equal(done.status, 'approved');
      assert.equal(a.stats().wakeups.remote, before + 1);

      const r2 = await b.request(input());
      const held2 = a.wait(r2.id);
      await waiting(a);
      await b.deny(r2.id, carol, 'no');
      assert.equal((await within(held2, WAKE_BOUND_MS, 'waiter on A')).status, 'denied');
    });

    test('another process: a child process approving wakes the waiter', TEST, async () => {
      assert.ok(target);
      const r = await a.request(input());
      const before = a.stats().wakeups.remote;
      const held = a.wait(r.id);
      await waiting(a);
      const child = await approveInChild(target.spec, r.id, bob);
      assert.equal(child.code, 0, `child failed: ${child.stderr}`);
      assert.deepEqual(JSON.parse(child.stdout), { status: 'approved', votes: 1 });
      const done = await within(held, WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'approved');
      assert.equal(done.votes[0]?.reason, 'from another process');
      assert.equal(a.stats().wakeups.remote, before + 1);
    });

    test('concurrent votes from two instances both count; approved exactly once', TEST, async () => {
      const r = await a.request(input({ requirement: requirement(2) }));
      const held = a.wait(r.id);
      const results = await Promise.all([a.approve(r.id, alice), b.approve(r.id, bob)]);
      assert.deepEqual(results.map((x) => x.status).sort(), ['approved', 'pending']);
      const final = await a.get(r.id);
      assert.equal(final.status, 'approved');
      assert.deepEqual(final.votes.map((v) => v.reviewer).sort(), ['alice', 'bob']);
      const approvedEvents = audit
        .about(r.id)
        .filter((e) => e.type === 'approval.decision' && e.decision === 'approved');
      assert.equal(approvedEvents.length, 1);
      assert.equal((await within(held, WAKE_BOUND_MS, 'waiter')).status, 'approved');

      const r2 = await a.request(input({ requirement: requirement(2) }));
      const same = await Promise.allSettled([a.approve(r2.id, carol), b.approve(r2.id, carol)]);
      assert.equal(same.filter((s) => s.status === 'fulfilled').length, 1, 'one vote per reviewer');
      const refused = same.find((s) => s.status === 'rejected') as PromiseRejectedResult;
      assert.equal((refused.reason as { code?: string }).code, Errors.APPROVAL_INVALID.code);
      assert.equal((await a.get(r2.id)).votes.length, 1);
    });

    test('concurrent votes from two processes both count (no lost vote)', TEST, async () => {
      assert.ok(target);
      const r = await a.request(input({ requirement: requirement(3) }));
      const held = a.wait(r.id);
      const [x, y] = await Promise.all([
        approveInChild(target.spec, r.id, alice),
        approveInChild(target.spec, r.id, bob),
      ]);
      assert.equal(x.code, 0, `child 1 failed: ${x.stderr}`);
      assert.equal(y.code, 0, `child 2 failed: ${y.stderr}`);
      const mid = await a.get(r.id);
      assert.equal(mid.status, 'pending');
      assert.deepEqual(mid.votes.map((v) => v.reviewer).sort(), ['alice', 'bob']);
      assert.equal(await settledYet(held), false);
      assert.equal((await a.approve(r.id, carol)).status, 'approved');
      assert.equal((await within(held, WAKE_BOUND_MS, 'waiter')).status, 'approved');
    });

    test('audit failure: request, approve, deny and cancel fail and change nothing', TEST, async () => {
      const group = `g-${tag()}`;
      const r = await a.request(input({ requirement: requirement(1, 60_000, ['dba', group]) }));
      audit.failing = true;
      try {
        await rejectsWith(a.approve(r.id, alice), Errors.AUDIT_UNAVAILABLE);
        await rejectsWith(a.deny(r.id, alice, 'no'), Errors.AUDIT_UNAVAILABLE);
        const unchanged = await b.get(r.id);
        assert.equal(unchanged.status, 'pending');
        assert.deepEqual(unchanged.votes, []);
        assert.equal(await a.releases(r.id, r.sessionId, r.fingerprint), false);

        const sessionId = `sess-${tag()}`;
        await rejectsWith(
          a.request(input({ sessionId, requirement: requirement(1, 60_000, [group]) })),
          Errors.AUDIT_UNAVAILABLE,
        );
        const visible = await a.list({ reviewer: who('gina', [group]) });
        assert.deepEqual(
          visible.map((x) => x.id),
          [r.id],
          'a request whose audit failed must not be stored',
        );

        const ac = new AbortController();
        const held = a.wait(r.id, { signal: ac.signal });
        await waiting(a);
        ac.abort('client disconnected');
        await rejectsWith(held, Errors.AUDIT_UNAVAILABLE);
        assert.equal((await a.get(r.id)).status, 'pending');
      } finally {
        audit.failing = false;
      }
      assert.equal((await a.approve(r.id, alice)).status, 'approved');
    });

    test('close: requests still waited on are cancelled and their waiters resolve', TEST, async () => {
      const c = await instance();
      const r = await c.request(input());
      const held = c.wait(r.id);
      await waiting(c);
      await c.close();
      const done = await within(held, WAKE_BOUND_MS, 'waiter');
      assert.equal(done.status, 'cancelled');
      assert.equal(done.endReason, 'gateway shutting down');
      assert.equal((await a.get(r.id)).status, 'cancelled');
      await assert.rejects(c.get(r.id), /after close/);
    });

    test('list: by status and by what a reviewer may decide, newest first, limited', TEST, async () => {
      const group = `g-${tag()}`;
      const rx = who(`rx-${tag()}`, [group]);
      const ry = who(`ry-${tag()}`, [group]);
      const r1 = await a.request(input({ requirement: requirement(2, 60_000, [group]) }));
      const r2 = await a.request(input({ requester: rx, requirement: requirement(1, 60_000, [group]) }));
      await a.request(input({ requirement: requirement(1, 60_000, [`other-${tag()}`]) }));
      const forRx = await a.list({ reviewer: rx, status: 'pending' });
      assert.deepEqual(
        forRx.map((x) => x.id),
        [r1.id],
        'not their own request, not other groups',
      );
      await a.approve(r1.id, rx);
      assert.deepEqual(await a.list({ reviewer: rx }), [], 'not once they voted');
      const forRy = await b.list({ reviewer: ry });
      assert.deepEqual(
        forRy.map((x) => x.id),
        [r2.id, r1.id],
      );
      assert.equal(forRy[1]?.votes.length, 1);
      assert.equal((await a.list({ status: 'pending', limit: 1 })).length, 1);
      const approved = await a.list({ status: 'approved', limit: 1000 });
      assert.ok(approved.every((x) => x.status === 'approved'));
      assert.ok(approved.length > 0);
    });
  });
}
