// Reconciliation runs find a planted difference of one cent in each check — (a) batch aggregates,
// (b) ledger, (c) Method's record — report it exactly, repair what is safe (aggregates re-based,
// a status Method moved on applied) and leave the rest to a person; plus the nightly schedule.
import { beforeAll, describe, expect, it } from 'vitest';
import { writePosting } from '../../src/server/ledger/ledger.repository.js';
import { pollMethodStatuses } from '../../src/server/tracking/poller.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  expectBooksConsistent,
  startTestMethod,
  startWorker,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';
import { expectLedgerBalanced } from './support.js';

let t: TestApp;
let m: TestMethod;
let batchId: string;
let rows: {
  id: string;
  method_payment_id: string;
  amount_cents: number;
  source_id: string;
  branch_id: string;
}[];

beforeAll(async () => {
  m = await startTestMethod();
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
  startWorker(t, m, { tracking: false });
  ({ batchId } = await uploadAndApprove(t, {
    rows: 6,
    employees: 6,
    sources: 2,
    branches: 2,
    seed: 631,
    unpayablePlaidShare: false,
  }));
  await waitFor('all submitted', async () => {
    const r = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'submitted'",
      [batchId],
    );
    return r.rows[0].n === 6;
  });
  rows = (
    await t.db.pool.query(
      'SELECT id, method_payment_id, amount_cents, source_id, branch_id FROM payments WHERE batch_id = $1 ORDER BY row_number',
      [batchId],
    )
  ).rows;
  for (const [i, r] of rows.entries()) {
    for (const status of i === 4 ? ['processing', 'sent'] : ['processing', 'sent', 'posted']) {
      const o = await m.client.simulatePaymentStatus(r.method_payment_id, { status } as never);
      expect(o.kind).toBe('ok');
    }
  }
  expect(await pollMethodStatuses(t.db.pool, m.client, { staleMs: 0 })).toMatchObject({ applied: 6 });
});

type Finding = {
  check: string;
  entityType: string;
  entityId: string;
  expected: unknown;
  actual: unknown;
  differenceCents: number;
  repaired: boolean;
};

async function run(): Promise<{
  id: string;
  status: string;
  findings: Finding[];
  summary: Record<string, unknown>;
}> {
  const started = await t.as('operator', { method: 'POST', url: '/api/reconciliation/run' });
  expect(started.statusCode).toBe(202);
  expect(started.json().run.status).toBe('running');
  const id = started.json().run.id as string;
  return waitFor('run done', async () => {
    const r = (await t.as('auditor', { method: 'GET', url: `/api/reconciliation/runs/${id}` })).json().run;
    return r.status === 'running' ? null : r;
  });
}

const strip = (fs: Finding[]) =>
  fs
    .map(({ check, entityType, entityId, expected, actual, differenceCents, repaired }) => ({
      check,
      entityType,
      entityId,
      expected,
      actual,
      differenceCents,
      repaired,
    }))
    .sort((a, b) => `${a.check}${a.entityId}`.localeCompare(`${b.check}${b.entityId}`));

describe('reconciliation', () => {
  it('a clean state has no findings', async () => {
    const r = await run();
    expect(r.status).toBe('done');
    expect(r.findings).toEqual([]);
    expect(r.summary).toMatchObject({
      aggregates: { differences: 0 },
      ledger: { differences: 0, balanced: true },
      method: { differences: 0, payments: 6, methodPayments: 6 },
    });
  });

  it('only operators and admins start runs', async () => {
    expect((await t.as('auditor', { method: 'POST', url: '/api/reconciliation/run' })).statusCode).toBe(403);
    expect((await t.as('approver', { method: 'POST', url: '/api/reconciliation/run' })).statusCode).toBe(403);
  });

  it('finds one planted cent in each check, reports it exactly, repairs what is safe', async () => {
    const [r0, r1, r2, , r4] = rows;
    // (a) one cent too many in a cell of the batch aggregates.
    const cell = await t.db.pool.query(
      `SELECT coalesce(sum(amount_cents), 0)::bigint AS c FROM payments
        WHERE batch_id = $1 AND source_id = $2 AND branch_id = $3 AND status = 'paid'`,
      [batchId, r0.source_id, r0.branch_id],
    );
    const cellCents = Number(cell.rows[0].c);
    await t.db.pool.query(
      `INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       VALUES ($1, $2, $3, 'paid', 0, 1)`,
      [batchId, r0.source_id, r0.branch_id],
    );
    // (b) a balanced posting that moves one cent no payment explains.
    await writePosting(t.db.pool, {
      kind: 'adjust',
      paymentId: null,
      batchId: null,
      description: 'planted by the test',
      entries: [
        { account: { kind: 'source', ref: r1.source_id }, amountCents: -1 },
        { account: { kind: 'clearing', ref: r1.source_id }, amountCents: 1 },
      ],
    });
    const sourceCents = rows
      .filter((r) => r.source_id === r1.source_id)
      .reduce((a, r) => a + r.amount_cents, 0);
    // (c) Method moved one cent more than we asked for on one payment…
    await m.simPool.query(
      `UPDATE sim_payments SET data = jsonb_set(data, '{amount}', to_jsonb((data->>'amount')::int + 1)) WHERE id = $1`,
      [r2.method_payment_id],
    );
    // …and returned another one without any webhook or poll telling us.
    expect(
      (
        await m.client.simulatePaymentStatus(r4.method_payment_id, {
          status: 'failed',
          error_code: 10009,
        } as never)
      ).kind,
    ).toBe('ok');

    const first = await run();
    expect(first.status).toBe('done');
    expect(strip(first.findings)).toEqual(
      strip([
        {
          check: 'aggregates',
          entityType: 'batch',
          entityId: batchId,
          expected: cellCents,
          actual: cellCents + 1,
          differenceCents: 1,
          repaired: true,
        },
        {
          check: 'ledger',
          entityType: 'ledger_account',
          entityId: `clearing:${r1.source_id}`,
          expected: 0,
          actual: 1,
          differenceCents: 1,
          repaired: false,
        },
        {
          check: 'ledger',
          entityType: 'ledger_account',
          entityId: `source:${r1.source_id}`,
          expected: -sourceCents,
          actual: -sourceCents - 1,
          differenceCents: -1,
          repaired: false,
        },
        {
          check: 'method',
          entityType: 'payment',
          entityId: r2.id,
          expected: r2.amount_cents + 1,
          actual: r2.amount_cents,
          differenceCents: -1,
          repaired: false,
        },
        {
          check: 'method',
          entityType: 'payment',
          entityId: r4.id,
          expected: 'failed',
          actual: 'sent',
          differenceCents: 0,
          repaired: true,
        },
      ]),
    );
    const aggFinding = first.findings.find((f) => f.check === 'aggregates') as Finding & {
      detail: Record<string, unknown>;
    };
    expect(aggFinding.detail).toMatchObject({
      sourceId: r0.source_id,
      branchId: r0.branch_id,
      group: 'paid',
      expectedCount: aggFinding.detail.actualCount,
    });

    // The safe repairs: the return is applied (cause reconciler) and the aggregates re-based.
    const p4 = (await t.as('auditor', { method: 'GET', url: `/api/payments/${r4.id}` })).json();
    expect(p4).toMatchObject({ status: 'returned', methodStatus: 'failed' });
    expect(p4.history.at(-1)).toMatchObject({
      fromStatus: 'paid',
      toStatus: 'returned',
      cause: 'reconciler',
      methodStatus: 'failed',
    });
    expect(p4.history.at(-1).detail).toMatchObject({ via: 'reconciliation', runId: first.id });
    expect((await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json().status).toBe(
      'completed_with_exceptions',
    );
    const agg = await t.db.pool.query(
      'SELECT count(*)::int AS n FROM batch_aggregate_deltas WHERE batch_id = $1 AND count_delta = 0 AND cents_delta = -1',
      [batchId],
    );
    expect(agg.rows[0].n).toBe(1);

    // A second run: aggregates and status now agree; what needs a person is still reported.
    const second = await run();
    expect(strip(second.findings).map((f) => [f.check, f.entityId, f.differenceCents, f.repaired])).toEqual([
      ['ledger', `clearing:${r1.source_id}`, 1, false],
      ['ledger', `source:${r1.source_id}`, -1, false],
      ['method', r2.id, -1, false],
    ]);

    // A person posts the correcting adjustment: books balance again.
    await writePosting(t.db.pool, {
      kind: 'adjust',
      paymentId: null,
      batchId: null,
      description: 'reverses the planted posting',
      entries: [
        { account: { kind: 'source', ref: r1.source_id }, amountCents: 1 },
        { account: { kind: 'clearing', ref: r1.source_id }, amountCents: -1 },
      ],
    });
    await expectLedgerBalanced(t);
    await expectBooksConsistent(t, batchId);
  });

  it('lists runs newest first, with paging', async () => {
    const page1 = (await t.as('auditor', { method: 'GET', url: '/api/reconciliation/runs?limit=2' })).json();
    expect(page1.items).toHaveLength(2);
    expect(page1.items[0]).toMatchObject({ status: 'done', trigger: 'manual', findingCount: 3 });
    expect(page1.nextCursor).not.toBeNull();
    const page2 = (
      await t.as('auditor', {
        method: 'GET',
        url: `/api/reconciliation/runs?limit=2&cursor=${page1.nextCursor}`,
      })
    ).json();
    expect(page2.items).toHaveLength(1);
    expect(page2.items[0]).toMatchObject({ findingCount: 0 });
    expect(page2.nextCursor).toBeNull();
    expect(
      (
        await t.as('auditor', {
          method: 'GET',
          url: '/api/reconciliation/runs/00000000-0000-4000-8000-000000000000',
        })
      ).statusCode,
    ).toBe(404);
  });

  it('two runs at once repair a difference once', async () => {
    const [r0] = rows;
    await t.db.pool.query(
      `INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       VALUES ($1, $2, $3, 'pending', 1, 1)`,
      [batchId, r0.source_id, r0.branch_id],
    );
    const [a, b] = await Promise.all([run(), run()]);
    const repaired = [...a.findings, ...b.findings].filter((f) => f.check === 'aggregates');
    expect(repaired.map((f) => [f.entityId, f.expected, f.actual, f.differenceCents, f.repaired])).toEqual([
      [batchId, 0, 1, 1, true],
    ]);
    await expectBooksConsistent(t, batchId);
  });

  it('the nightly schedule starts one run per night, from the configured hour', async () => {
    const r = t.built.reconciler;
    expect(await r.startNightly(3, new Date('2026-01-10T02:59:00Z'))).toBeNull();
    const id = await r.startNightly(3, new Date('2026-01-10T03:00:00Z'));
    expect(id).not.toBeNull();
    expect(await r.startNightly(3, new Date('2026-01-10T23:00:00Z'))).toBeNull();
    await r.whenDone(id as string);
    const run = (await t.as('auditor', { method: 'GET', url: `/api/reconciliation/runs/${id}` })).json().run;
    expect(run).toMatchObject({ status: 'done', trigger: 'nightly' });
    expect(await r.startNightly(3, new Date('2026-01-11T03:00:00Z'))).not.toBeNull();
    await r.idle();
  });

  it('Method dropping answers to reads is asked again: the run completes with the same findings', async () => {
    const calm = await run();
    expect(calm.status).toBe('done');
    await m.setFaults({ lostResponseRate: 0.3 });
    try {
      const stormy = await run();
      expect(stormy.status).toBe('done');
      expect(strip(stormy.findings)).toEqual(strip(calm.findings));
      expect(stormy.summary).toMatchObject({ method: { payments: 6, methodPayments: 6 } });
    } finally {
      await m.clearFaults();
    }
  });
});
