// Invariant 3 of reliability.md: all or nothing at every step that writes many rows. Approval has
// its own test (test/execution/approval.test.ts, fault 12); here the database goes away in the
// middle of an upload and of a batch cancel — the server kills the connection as it writes the
// step's last table — and nothing is half-written; then the same step, retried, goes through.
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { expectBooksConsistent, startTestMethod, uploadAndApprove } from '../support/method.js';

let t: TestApp;
beforeAll(async () => {
  const m = await startTestMethod();
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

/** From now on, the connection that inserts into `table` is terminated by the server; returns the undo. */
async function goAwayOnInsertInto(table: string): Promise<() => Promise<unknown>> {
  await t.db.pool.query(`
    CREATE OR REPLACE FUNCTION go_away() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
    CREATE TRIGGER go_away AFTER INSERT ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION go_away();`);
  return () => t.db.pool.query(`DROP TRIGGER go_away ON ${table}`);
}

/** Row counts of every table the step may write. */
async function counts(tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables)
    out[table] = (await t.db.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
  return out;
}

describe('invariant 3: all or nothing when the database goes away', () => {
  it('mid-upload (at its last table): nothing stored; the upload can be retried', async () => {
    const tables = [
      'batches',
      'batch_lines',
      'batch_warnings',
      'batch_totals',
      'payors',
      'sources',
      'source_bank_accounts',
      'employees',
      'loans',
    ];
    const before = await counts(tables);
    const { xml, result } = generateToString({
      rows: 60,
      employees: 20,
      sources: 2,
      branches: 3,
      seed: 1201,
    });
    const upload = () =>
      t.as('operator', {
        method: 'POST',
        url: '/api/batches',
        headers: { 'content-type': 'application/xml' },
        payload: xml,
      });
    const undo = await goAwayOnInsertInto('batch_totals');
    const r = await upload().finally(undo);
    expect(r.statusCode, r.body).toBe(500);
    expect(await counts(tables), 'invariant 3: a half-stored upload').toEqual(before);
    const again = await upload();
    expect(again.statusCode, again.body).toBe(201);
    const lines = await t.db.pool.query('SELECT count(*)::int AS n FROM batch_lines WHERE batch_id = $1', [
      again.json().batch.id,
    ]);
    expect(lines.rows[0].n).toBe(result.rowCount);
  });

  it('mid-cancel (at its ledger release): no payment cancelled, batch still executing; the cancel can be retried', async () => {
    // No worker runs: every payable row stays queued, so a cancel takes them all.
    const { batchId } = await uploadAndApprove(t, {
      rows: 40,
      employees: 10,
      sources: 2,
      branches: 2,
      seed: 1202,
    });
    const state = async () => ({
      batch: (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json().status,
      payments: Object.fromEntries(
        (
          await t.db.pool.query(
            'SELECT status, count(*)::int AS n FROM payments WHERE batch_id = $1 GROUP BY 1 ORDER BY 1',
            [batchId],
          )
        ).rows.map((r) => [r.status, r.n]),
      ),
      ...(await counts(['payment_events', 'batch_aggregate_deltas', 'ledger_postings'])),
    });
    const before = await state();
    expect(before.batch).toBe('executing');
    expect(before.payments.queued).toBeGreaterThan(0);
    const cancel = () =>
      t.as('approver', {
        method: 'POST',
        url: `/api/batches/${batchId}/cancel`,
        payload: { reason: 'drill' },
      });
    const undo = await goAwayOnInsertInto('ledger_postings');
    const r = await cancel().finally(undo);
    expect(r.statusCode, r.body).toBe(500);
    expect(await state(), 'invariant 3: a half-booked cancel').toEqual(before);
    await expectBooksConsistent(t, batchId);
    const again = await cancel();
    expect(again.statusCode, again.body).toBe(200);
    expect((await state()).payments).toEqual({ cancelled: 40 });
    await expectBooksConsistent(t, batchId);
  });
});
