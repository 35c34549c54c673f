// Approval (faults 4 and 12 of reliability.md): one transaction books the whole batch, exactly once.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { planProvisioning } from '../../src/server/execution/provisioner.js';
import { wakeSleepingProvisioning } from '../../src/server/execution/sweeper.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  expectBooksConsistent,
  startTestMethod,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';

let t: TestApp;
let m: TestMethod;
beforeAll(async () => {
  m = await startTestMethod();
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

async function upload(seed: number, rows = 120) {
  const { xml, result } = generateToString({
    rows,
    employees: Math.ceil(rows / 4),
    sources: 5,
    branches: 6,
    seed,
  });
  const r = await t.as('operator', {
    method: 'POST',
    url: '/api/batches',
    headers: { 'content-type': 'application/xml' },
    payload: xml,
  });
  expect(r.statusCode, r.body).toBe(201);
  const id = r.json().batch.id as string;
  await waitFor(
    'pre-flight',
    async () =>
      (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json().summary.preflight
        .status === 'complete',
  );
  return { id, result };
}

const count = async (sql: string, args: unknown[]) => (await t.db.pool.query(sql, args)).rows[0].n as number;

describe('review pre-flight', () => {
  it("the real file's ins_116527 rows are reported unpayable before anyone approves", async () => {
    const xml = readFileSync(
      new URL(
        '../../../shared/samples/dunkin-peers/rexmeeks_SHORTESTdunkinFixedZipCodes_426rows_zipAltered_minified.xml',
        import.meta.url,
      ),
      'utf8',
    );
    const rows = xml.match(/<row>[\s\S]*?<\/row>/g)!;
    const unpayable = rows.filter((r) => r.includes('<PlaidId>ins_116527</PlaidId>'));
    const cents = unpayable.reduce((a, r) => {
      const m = /<Amount>\$(\d+)\.(\d\d)<\/Amount>/.exec(r)!;
      return a + Number(m[1]) * 100 + Number(m[2]);
    }, 0);
    expect(unpayable.length).toBeGreaterThan(20);
    const up = await t.as('operator', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': 'application/xml' },
      payload: xml,
    });
    expect(up.statusCode, up.body).toBe(201);
    const id = up.json().batch.id;
    const b = await waitFor('pre-flight', async () => {
      const b = (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json();
      return b.summary.preflight.status === 'complete' ? b : null;
    });
    expect(b.summary.unpayable).toEqual({
      count: unpayable.length,
      totalCents: cents,
      byPlaidId: [{ plaidId: 'ins_116527', count: unpayable.length, totalCents: cents }],
    });
    const flagged = (
      await t.as('auditor', {
        method: 'GET',
        url: `/api/batches/${id}/payments?flag=UNPAYABLE_DESTINATION&limit=1000`,
      })
    ).json().items;
    expect(flagged).toHaveLength(unpayable.length);
  });
});

describe('approval', () => {
  it('books every row: payments queued, unpayable rows cancelled with their release, ledger, aggregates, history, audit', async () => {
    const { id, result } = await upload(101, 200);
    const before = (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json();
    const unpayable = before.summary.unpayable;
    expect(unpayable.count).toBeGreaterThan(0); // ~10% of rows use ins_116527, which has no student-loan merchant
    expect(unpayable.byPlaidId.map((p: { plaidId: string }) => p.plaidId)).toEqual(['ins_116527']);
    const r = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(r.statusCode, r.body).toBe(200);
    const b = r.json().batch;
    expect(b).toMatchObject({ status: 'executing', approvedBy: 'approver' });
    expect(b.counts).toEqual({
      pending: 200 - unpayable.count,
      paid: 0,
      failed: 0,
      returned: 0,
      cancelled: unpayable.count,
    });
    expect(b.amountsCents.pending + b.amountsCents.cancelled).toBe(result.totalCents);
    expect(b.amountsCents.cancelled).toBe(unpayable.totalCents);
    const cancelled = (
      await t.as('auditor', {
        method: 'GET',
        url: `/api/batches/${id}/payments?flag=UNPAYABLE_DESTINATION&limit=1000`,
      })
    ).json().items;
    expect(cancelled).toHaveLength(unpayable.count);
    expect(
      cancelled.every(
        (p: { status: string; failureCode: string }) =>
          p.status === 'cancelled' && p.failureCode === 'UNPAYABLE_DESTINATION',
      ),
    ).toBe(true);
    expect(
      await count(
        'SELECT count(*)::int AS n FROM payment_events e JOIN payments p ON p.id = e.payment_id WHERE p.batch_id = $1',
        [id],
      ),
    ).toBe(200);
    expect(
      await count(
        "SELECT sum(payment_count)::int AS n FROM ledger_postings WHERE batch_id = $1 AND kind = 'reserve'",
        [id],
      ),
    ).toBe(200);
    expect(
      await count(
        "SELECT sum(payment_count)::int AS n FROM ledger_postings WHERE batch_id = $1 AND kind = 'release'",
        [id],
      ),
    ).toBe(unpayable.count);
    expect(
      await count(
        "SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action = 'batch.approve'",
        [id],
      ),
    ).toBe(1);
    // The Method objects are planned by a worker once the approval has committed: none yet.
    expect(await count('SELECT count(*)::int AS n FROM provisioning', [])).toBe(0);
    const planned = await planProvisioning(t.db.pool);
    expect(planned?.batchId).toBe(id);
    expect(await planProvisioning(t.db.pool)).toBeNull();
    expect(
      await count("SELECT count(*)::int AS n FROM provisioning WHERE kind = 'liability_account'", []),
    ).toBe(200 - unpayable.count);
    expect(await count("SELECT count(*)::int AS n FROM provisioning WHERE kind = 'individual'", [])).toBe(
      await count(
        "SELECT count(DISTINCT employee_id)::int AS n FROM payments WHERE batch_id = $1 AND status = 'queued'",
        [id],
      ),
    );
    await expectBooksConsistent(t, id);
    // The review tables carry the group figures too, line by line.
    const after = (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json();
    const sum = (lines: Record<string, number>[], k: string) => lines.reduce((a, l) => a + l[k]!, 0);
    expect(sum(after.summary.bySource, 'cancelledCount')).toBe(unpayable.count);
    expect(sum(after.summary.byBranch, 'cancelledCents')).toBe(unpayable.totalCents);
    expect(sum(after.summary.bySource, 'pendingCount')).toBe(200 - unpayable.count);
    // A payment's own view carries its reservation.
    const p = (
      await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/payments?status=queued&limit=1` })
    ).json().items[0];
    const detail = (await t.as('auditor', { method: 'GET', url: `/api/payments/${p.id}` })).json();
    expect(detail.history).toEqual([
      expect.objectContaining({ fromStatus: null, toStatus: 'queued', cause: 'approval', actor: 'approver' }),
    ]);
    expect(
      detail.ledgerEntries
        .map((e: { amountCents: number }) => e.amountCents)
        .sort((a: number, b2: number) => a - b2),
    ).toEqual([-p.amountCents, p.amountCents]);
  });

  it('a double click, a retry and two approvers at once book one execution', async () => {
    const { id } = await upload(102);
    const second = await t.createUser('approver2', 'approver');
    const results = await Promise.all([
      t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` }),
      t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` }),
      t.as('approver2', { method: 'POST', url: `/api/batches/${id}/approve` }),
      t.as('admin', { method: 'POST', url: `/api/batches/${id}/approve` }),
    ]);
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    expect(new Set(results.map((r) => r.json().batch.approvedAt)).size).toBe(1);
    expect(await count('SELECT count(*)::int AS n FROM payments WHERE batch_id = $1', [id])).toBe(120);
    expect(
      await count(
        "SELECT sum(payment_count)::int AS n FROM ledger_postings WHERE batch_id = $1 AND kind = 'reserve'",
        [id],
      ),
    ).toBe(120);
    expect(
      await count(
        "SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action = 'batch.approve'",
        [id],
      ),
    ).toBe(1);
    const again = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(again.statusCode).toBe(200);
    void second;
  });

  it('the tables an upload and an approval fill are analysed right after them, not a minute later by autovacuum', async () => {
    // Stale statistics made a sweeper query plan a nested loop of sequential scans over 50k
    // accounts in the 50k drill, running for minutes; see BatchesService.refreshStatistics.
    const analysed = async (since: Date) =>
      (
        await t.db.pool.query(
          `SELECT relname FROM pg_stat_user_tables WHERE last_analyze >= $1 ORDER BY relname`,
          [since],
        )
      ).rows.map((r) => r.relname as string);
    const beforeUpload = new Date((await t.db.pool.query('SELECT now() AS n')).rows[0].n);
    const { id } = await upload(131);
    await waitFor('upload tables analysed', async () => {
      const names = await analysed(beforeUpload);
      return ['batch_lines', 'employees', 'loans'].every((n) => names.includes(n));
    });
    const beforeApproval = new Date((await t.db.pool.query('SELECT now() AS n')).rows[0].n);
    const r = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(r.statusCode, r.body).toBe(200);
    await waitFor('approval tables analysed', async () => {
      const names = await analysed(beforeApproval);
      return ['batch_aggregate_deltas', 'payment_events', 'payments'].every((n) => names.includes(n));
    });
  });
  it('refuses the uploader (maker-checker), other roles, a rejected batch and an incomplete pre-flight', async () => {
    const { id } = await upload(103);
    const self = await t.as('operator', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(self.statusCode).toBe(403);
    expect(self.json().error.code).toBe('FORBIDDEN'); // operators may not approve at all
    const adminUpload = generateToString({ rows: 30, employees: 10, sources: 2, branches: 2, seed: 104 });
    const up = await t.as('admin', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': 'application/xml' },
      payload: adminUpload.xml,
    });
    const own = await t.as('admin', { method: 'POST', url: `/api/batches/${up.json().batch.id}/approve` });
    expect(own.statusCode).toBe(403);
    expect(own.json().error.code).toBe('SELF_APPROVAL');
    expect((await t.as('auditor', { method: 'POST', url: `/api/batches/${id}/approve` })).statusCode).toBe(
      403,
    );
    await t.as('approver', {
      method: 'POST',
      url: `/api/batches/${id}/reject`,
      payload: { reason: 'wrong period' },
    });
    const afterReject = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(afterReject.statusCode).toBe(409);
    expect(afterReject.json().error.code).toBe('INVALID_STATE');
    const pending = await upload(105);
    await t.db.pool.query("UPDATE batches SET preflight_status = 'failed' WHERE id = $1", [pending.id]);
    const early = await t.as('approver', { method: 'POST', url: `/api/batches/${pending.id}/approve` });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.code).toBe('PREFLIGHT_INCOMPLETE');
  });

  it('maker-checker can be turned off for single-person installs', async () => {
    const solo = await createTestApp(
      { REQUIRE_SECOND_APPROVER: 'false', METHOD_PAYMENTS_PER_MINUTE: '0' },
      { methodClient: m.client },
    );
    const { xml } = generateToString({ rows: 20, employees: 5, sources: 2, branches: 2, seed: 106 });
    const up = await solo.as('admin', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': 'application/xml' },
      payload: xml,
    });
    const id = up.json().batch.id;
    await waitFor(
      'pre-flight',
      async () =>
        (await solo.as('admin', { method: 'GET', url: `/api/batches/${id}` })).json().summary.preflight
          .status === 'complete',
    );
    expect((await solo.as('admin', { method: 'POST', url: `/api/batches/${id}/approve` })).statusCode).toBe(
      200,
    );
  });

  it('the database going away mid-approval leaves nothing half-booked, and approval can be retried', async () => {
    const { id } = await upload(107);
    // The approving connection is killed by the server after payments and ledger rows were written.
    await t.db.pool.query(`
      CREATE FUNCTION die_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('loanpay.test_die', true) IS DISTINCT FROM 'done' THEN
          PERFORM pg_terminate_backend(pg_backend_pid());
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER die_once AFTER INSERT ON batch_aggregate_deltas FOR EACH STATEMENT EXECUTE FUNCTION die_once();`);
    const r = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(r.statusCode).toBe(500);
    expect(await count('SELECT count(*)::int AS n FROM payments WHERE batch_id = $1', [id])).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM ledger_postings WHERE batch_id = $1', [id])).toBe(0);
    expect(
      await count('SELECT count(*)::int AS n FROM batch_aggregate_deltas WHERE batch_id = $1', [id]),
    ).toBe(0);
    expect((await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json().status).toBe(
      'awaiting_approval',
    );
    await t.db.pool.query('DROP TRIGGER die_once ON batch_aggregate_deltas; DROP FUNCTION die_once()');
    const retry = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(await count('SELECT count(*)::int AS n FROM payments WHERE batch_id = $1', [id])).toBe(120);
    await expectBooksConsistent(t, id);
  });

  it('the ledger refuses a posting that does not sum to zero', async () => {
    const { writePosting } = await import('../../src/server/ledger/ledger.repository.js');
    await expect(
      writePosting(t.db.pool, {
        kind: 'adjust',
        paymentId: null,
        batchId: null,
        description: 'bad',
        entries: [
          { account: { kind: 'source', ref: 'CORP-x' }, amountCents: -100 },
          { account: { kind: 'clearing', ref: 'CORP-x' }, amountCents: 99 },
        ],
      }),
    ).rejects.toThrow(/sum to zero/);
    // And the database refuses one written around the function.
    await t.db.pool.query(
      "INSERT INTO ledger_accounts (kind, ref) VALUES ('source', 'CORP-raw') ON CONFLICT DO NOTHING",
    );
    await expect(
      t.db.pool.query(`WITH p AS (INSERT INTO ledger_postings (kind, description) VALUES ('adjust', 'raw') RETURNING id)
        INSERT INTO ledger_entries (posting_id, account_id, amount_cents)
        SELECT p.id, a.id, 5 FROM p, ledger_accounts a WHERE a.ref = 'CORP-raw'`),
    ).rejects.toThrow(/does not balance/);
    await expect(
      t.db.pool.query('UPDATE ledger_entries SET amount_cents = amount_cents + 1'),
    ).rejects.toThrow(/append-only/);
  });
});

describe('provisioning plan and wake-up', () => {
  it('an account sleeps until its holder is at Method; the sweeper wakes exactly those whose holder exists by now', async () => {
    const { batchId } = await uploadAndApprove(t, {
      rows: 40,
      employees: 10,
      sources: 5,
      branches: 3,
      seed: 141,
    });
    while (await planProvisioning(t.db.pool)) {
      // plans this batch and any other approved one still waiting
    }
    const sleeping = async () =>
      (
        await t.db.pool.query(
          `SELECT id::text, kind, ref FROM provisioning
            WHERE status = 'pending' AND next_run_at = 'infinity' ORDER BY id`,
        )
      ).rows as { id: string; kind: string; ref: string }[];
    const before = await sleeping();
    const loansOfBatch = (
      await t.db.pool.query(
        `SELECT DISTINCT p.loan_id::text AS id, p.employee_id FROM payments p
          WHERE p.batch_id = $1 AND p.status = 'queued' ORDER BY 1`,
        [batchId],
      )
    ).rows as { id: string; employee_id: string }[];
    // Every loan of the batch waits for its employee, who is not at Method yet.
    expect(loansOfBatch.length).toBeGreaterThan(10);
    for (const l of loansOfBatch) {
      expect(before.some((j) => j.kind === 'liability_account' && j.ref === l.id)).toBe(true);
    }
    // Nothing to wake while no holder exists.
    expect(await wakeSleepingProvisioning(t.db.pool)).toBe(0);

    // One employee's entity appears (its job finished while the plan was still open) and the
    // payor's too: only their accounts wake.
    const employee = loansOfBatch[0]!.employee_id;
    await t.db.pool.query(
      "UPDATE employees SET method_entity_id = 'entity_wake_test' WHERE employee_id = $1",
      [employee],
    );
    const payor = (
      await t.db.pool.query(
        `SELECT s.payor_id FROM payments p JOIN sources s USING (source_id) WHERE p.batch_id = $1 LIMIT 1`,
        [batchId],
      )
    ).rows[0].payor_id as string;
    await t.db.pool.query("UPDATE payors SET method_entity_id = 'entity_wake_payor' WHERE id = $1", [payor]);
    const expected = (
      await t.db.pool.query(
        `SELECT j.id::text FROM provisioning j
           JOIN loans l ON j.kind = 'liability_account' AND l.id::text = j.ref
           JOIN employees e USING (employee_id)
          WHERE j.status = 'pending' AND j.next_run_at = 'infinity' AND e.method_entity_id IS NOT NULL
         UNION ALL
         SELECT j.id::text FROM provisioning j
           JOIN source_bank_accounts a ON j.kind = 'ach_account' AND a.id::text = j.ref
           JOIN sources s USING (source_id) JOIN payors py ON py.id = s.payor_id
          WHERE j.status = 'pending' AND j.next_run_at = 'infinity' AND py.method_entity_id IS NOT NULL
         ORDER BY 1`,
      )
    ).rows.map((r) => r.id as string);
    const employeeLoans = loansOfBatch.filter((l) => l.employee_id === employee).length;
    expect(expected.length).toBeGreaterThanOrEqual(employeeLoans);
    expect(await wakeSleepingProvisioning(t.db.pool)).toBe(expected.length);
    const after = await sleeping();
    expect(after.map((j) => j.id)).toEqual(before.map((j) => j.id).filter((id) => !expected.includes(id)));
    expect(after.some((j) => j.kind === 'liability_account')).toBe(true);
    // Woken jobs are due now; a second sweep finds nothing more.
    expect(await wakeSleepingProvisioning(t.db.pool)).toBe(0);
    // Leave the shared database as it was for the other tests.
    await t.db.pool.query(
      "UPDATE employees SET method_entity_id = NULL WHERE method_entity_id = 'entity_wake_test'",
    );
    await t.db.pool.query(
      "UPDATE payors SET method_entity_id = NULL WHERE method_entity_id = 'entity_wake_payor'",
    );
  });
});
