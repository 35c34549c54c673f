// Reconciliation runs: (a) batch aggregates vs payments, (b) ledger vs payments, (c) our payments
// vs Method's records. Each difference becomes a finding with ids and cents. Safe repairs only:
// aggregates are re-based by inserting correcting delta rows, statuses are advanced from Method's
// record through the state machine (cause `reconciler`). Nothing is deleted or edited; ledger and
// amount differences are reported for a person, never auto-fixed (a wrong fix would hide money).
import type { MethodClient } from '../../method/client.js';
import { mapMethodPaymentStatus } from '../../method/client.js';
import { readWithRetry } from '../../method/read-retry.js';
import type { Payment as MethodPayment } from '../../method/types.js';
import type { PaymentStatus } from '../../shared/statuses.js';
import { type Actor, recordAudit, SYSTEM_ACTOR } from '../audit/audit.repository.js';
import { type Pool, type PoolClient, withTransaction } from '../db.js';
import { refreshBatchStatuses } from '../execution/sweeper.js';
import { checkLedger } from '../ledger/ledger.repository.js';
import type { PaymentRow } from '../payments/payments.repository.js';
import { applyMethodPayment, decide } from '../tracking/apply.js';
import {
  type Finding,
  failAbandonedRuns,
  finishRun,
  insertFindings,
  insertRun,
  type RunRow,
} from './reconciliation.repository.js';

export interface ReconcilerOptions {
  pool: Pool;
  client?: Pick<MethodClient, 'listPayments' | 'getPayment'>;
  log?: (obj: Record<string, unknown>, msg: string) => void;
  /** How far back payments are compared with Method (returns come up to 60 days after sent). */
  lookbackDays?: number;
}

/** Statuses the worker owns while it talks to Method: not compared, it resolves them itself. */
const IN_FLIGHT: ReadonlySet<PaymentStatus> = new Set(['queued', 'submitting', 'retry_scheduled', 'unknown']);
const MAX_FINDINGS_PER_CHECK = 10_000;

export class Reconciler {
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly opts: ReconcilerOptions) {}

  /** Records a run (and who asked) and starts it in the background. */
  async start(actor: Actor | null): Promise<RunRow> {
    const run = await withTransaction(this.opts.pool, async (tx) => {
      const r = await insertRun(tx, { trigger: 'manual', startedBy: actor?.userId ?? null });
      if (!r) throw new Error('reconciliation run not recorded');
      if (actor)
        await recordAudit(tx, actor, 'reconciliation.run', 'reconciliation_run', r.id, { trigger: 'manual' });
      return r;
    });
    this.launch(run.id);
    return run;
  }

  /**
   * The nightly schedule: from `hourUtc` on, the first worker to get here today starts the run
   * (the unique run date stops a second one). Returns the run id, or null when nothing started.
   */
  async startNightly(hourUtc: number, now = new Date()): Promise<string | null> {
    await failAbandonedRuns(this.opts.pool, 6 * 60);
    if (now.getUTCHours() < hourUtc) return null;
    const run = await insertRun(this.opts.pool, {
      trigger: 'nightly',
      runDate: now.toISOString().slice(0, 10),
    });
    if (!run) return null;
    this.launch(run.id);
    return run.id;
  }

  /** Resolves when a run this process started has finished (tests, shutdown). */
  async whenDone(runId: string): Promise<void> {
    await this.running.get(runId);
  }

  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private launch(runId: string): void {
    const p = this.execute(runId).finally(() => this.running.delete(runId));
    this.running.set(runId, p);
  }

  async execute(runId: string): Promise<void> {
    try {
      const summary: Record<string, unknown> = {};
      const all: Finding[] = [];
      for (const [name, check] of [
        ['aggregates', () => this.checkAggregates()],
        ['ledger', () => this.checkLedger()],
        ['method', () => this.checkMethod(runId)],
      ] as const) {
        const r = await check();
        const findings = r.findings.slice(0, MAX_FINDINGS_PER_CHECK);
        all.push(...findings);
        summary[name] = {
          ...r.stats,
          differences: r.findings.length,
          repaired: r.findings.filter((f) => f.repaired).length,
          truncated: r.findings.length > MAX_FINDINGS_PER_CHECK,
        };
      }
      await withTransaction(this.opts.pool, async (tx) => {
        await insertFindings(tx, runId, all);
        await finishRun(tx, runId, { status: 'done', summary });
        await recordAudit(tx, SYSTEM_ACTOR, 'reconciliation.finished', 'reconciliation_run', runId, summary);
      });
    } catch (err) {
      this.opts.log?.({ err, runId }, 'reconciliation run failed');
      await finishRun(this.opts.pool, runId, { status: 'failed', error: (err as Error).message }).catch(
        () => {},
      );
    }
  }

  /**
   * (a) Per (batch, source, branch, group): the sum of delta rows vs a fresh count from payments,
   * in one statement (one snapshot: a payment and its deltas change in one transaction). A
   * difference is re-based by inserting the correcting delta row — never by deleting one.
   */
  async checkAggregates(): Promise<{ findings: Finding[]; stats: Record<string, unknown> }> {
    return withTransaction(this.opts.pool, (tx) => this.checkAggregatesIn(tx));
  }

  private async checkAggregatesIn(
    tx: PoolClient,
  ): Promise<{ findings: Finding[]; stats: Record<string, unknown> }> {
    // Two runs at once (a manual one during the nightly one) must not both insert the correction:
    // the second waits here, and its comparison (a new snapshot, read committed) sees the first's rows.
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('loanpay_reconcile_aggregates'))");
    const { rows } = await tx.query(
      `WITH agg AS (
         SELECT batch_id, source_id, branch_id, grp, sum(count_delta)::int AS n, sum(cents_delta) AS cents
           FROM batch_aggregate_deltas GROUP BY 1, 2, 3, 4
       ), pay AS (
         SELECT batch_id, source_id, branch_id,
                CASE WHEN status IN ('paid', 'failed', 'returned', 'cancelled') THEN status ELSE 'pending' END AS grp,
                count(*)::int AS n, sum(amount_cents) AS cents
           FROM payments GROUP BY 1, 2, 3, 4
       ), cmp AS (
         SELECT coalesce(a.batch_id, p.batch_id) AS batch_id, coalesce(a.source_id, p.source_id) AS source_id,
                coalesce(a.branch_id, p.branch_id) AS branch_id, coalesce(a.grp, p.grp) AS grp,
                coalesce(p.n, 0) AS exp_n, coalesce(p.cents, 0) AS exp_cents,
                coalesce(a.n, 0) AS act_n, coalesce(a.cents, 0) AS act_cents
           FROM agg a FULL JOIN pay p USING (batch_id, source_id, branch_id, grp)
       )
       SELECT * FROM cmp ORDER BY batch_id, source_id, branch_id, grp`,
    );
    const cells = rows.length;
    const diffs = rows.filter((r) => r.exp_n !== r.act_n || Number(r.exp_cents) !== Number(r.act_cents));
    const findings: Finding[] = [];
    for (const r of diffs) {
      const expected = Number(r.exp_cents);
      const actual = Number(r.act_cents);
      await tx.query(
        `INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [r.batch_id, r.source_id, r.branch_id, r.grp, r.exp_n - r.act_n, expected - actual],
      );
      findings.push({
        check: 'aggregates',
        entityType: 'batch',
        entityId: r.batch_id,
        expected,
        actual,
        differenceCents: actual - expected,
        repaired: true,
        detail: {
          sourceId: r.source_id,
          branchId: r.branch_id,
          group: r.grp,
          expectedCount: r.exp_n,
          actualCount: r.act_n,
          repair: 'correcting delta row inserted (re-based from payments)',
        },
      });
    }
    return { findings, stats: { cells } };
  }

  /** (b) Every posting balances, and every ledger account holds what its payments say. Reported only. */
  async checkLedger(): Promise<{ findings: Finding[]; stats: Record<string, unknown> }> {
    const c = await checkLedger(this.opts.pool);
    const note =
      'ledger differences are reported, never auto-fixed: a person investigates and posts an adjustment';
    const findings: Finding[] = [
      ...c.unbalancedPostings.map(
        (u): Finding => ({
          check: 'ledger',
          entityType: 'ledger_posting',
          entityId: String(u.postingId),
          expected: 0,
          actual: u.sumCents,
          differenceCents: u.sumCents,
          repaired: false,
          detail: { note },
        }),
      ),
      ...c.accountMismatches.map(
        (m): Finding => ({
          check: 'ledger',
          entityType: 'ledger_account',
          entityId: `${m.kind}:${m.ref}`,
          expected: m.paymentsCents,
          actual: m.ledgerCents,
          differenceCents: m.ledgerCents - m.paymentsCents,
          repaired: false,
          detail: { note },
        }),
      ),
    ];
    return {
      findings,
      stats: {
        postings: c.postings,
        totalDebitsCents: c.totalDebitsCents,
        totalCreditsCents: c.totalCreditsCents,
        balanced: c.balanced,
      },
    };
  }

  /**
   * (c) Lists Method's payments per source account of ours (from the oldest payment in the look-back
   * window) and compares each of ours: present, same amount, same status. A status Method moved on
   * is applied (forward only, state machine); an amount difference, a payment Method does not
   * have, or a Method payment carrying our id that we do not hold, is reported for a person.
   */
  async checkMethod(runId: string): Promise<{ findings: Finding[]; stats: Record<string, unknown> }> {
    const client = this.opts.client;
    if (!client) return { findings: [], stats: { skipped: 'no Method connection configured' } };
    const { rows: ours } = await this.opts.pool.query<PaymentRow & { source_account: string }>(
      `SELECT p.*, s.method_account_id AS source_account FROM payments p
         JOIN source_bank_accounts s ON s.id = p.source_bank_account_id
        WHERE p.method_payment_id IS NOT NULL AND s.method_account_id IS NOT NULL
          AND p.created_at > now() - make_interval(days => $1)
        ORDER BY p.created_at`,
      [this.opts.lookbackDays ?? 60],
    );
    const findings: Finding[] = [];
    const bySource = new Map<string, (PaymentRow & { source_account: string })[]>();
    for (const p of ours) bySource.set(p.source_account, [...(bySource.get(p.source_account) ?? []), p]);
    const atMethod = new Map<string, MethodPayment>();
    let pages = 0;
    for (const [account, list] of bySource) {
      // A day earlier than our oldest: Method dates by its own clock and time zone.
      const from = new Date(list[0].created_at.getTime() - 86_400_000).toISOString().slice(0, 10);
      let cursor: string | undefined;
      for (;;) {
        const r = await readWithRetry(() =>
          client.listPayments({ source: account, from_date: from, page_limit: 100, page_cursor: cursor }),
        );
        pages++;
        if (r.kind !== 'ok') throw new Error(`listing Method payments of ${account} failed (${r.kind})`);
        for (const mp of r.data.items) atMethod.set(mp.id, mp);
        cursor = r.data.pagination.pageCursorNext ?? undefined;
        if (!cursor || r.data.items.length === 0) break;
      }
    }
    const known = new Set<string>();
    const batches = new Set<string>();
    let applied = 0;
    for (const p of ours) {
      known.add(p.method_payment_id as string);
      let mp = atMethod.get(p.method_payment_id as string);
      if (!mp) {
        const got = await readWithRetry(() => client.getPayment(p.method_payment_id as string));
        if (got.kind === 'ok') mp = got.data;
        else if (got.kind === 'definite_failure' && got.status === 404) {
          findings.push({
            check: 'method',
            entityType: 'payment',
            entityId: p.id,
            expected: 0,
            actual: p.amount_cents,
            differenceCents: p.amount_cents,
            repaired: false,
            detail: {
              methodPaymentId: p.method_payment_id,
              problem: 'Method has no such payment',
              status: p.status,
            },
          });
          continue;
        } else throw new Error(`Method look-up of ${p.method_payment_id} failed (${got.kind})`);
      }
      if (mp.amount !== p.amount_cents) {
        findings.push({
          check: 'method',
          entityType: 'payment',
          entityId: p.id,
          expected: mp.amount,
          actual: p.amount_cents,
          differenceCents: p.amount_cents - mp.amount,
          repaired: false,
          detail: {
            methodPaymentId: mp.id,
            problem: 'amount differs from Method',
            batchId: p.batch_id,
            row: p.row_number,
          },
        });
      }
      if (IN_FLIGHT.has(p.status)) continue;
      const mapped = mapMethodPaymentStatus(mp.status, {
        wasSent: p.method_was_sent || mp.source_status === 'sent',
      });
      if (mapped === p.status && (mp.status === p.method_status || mapped === null)) continue;
      const d = decide(p, mp);
      let repaired = false;
      if (d.kind === 'move' || d.kind === 'note') {
        const r = await applyMethodPayment(this.opts.pool, mp, {
          cause: 'reconciler',
          paymentId: p.id,
          detail: { via: 'reconciliation', runId },
          log: this.opts.log,
          refreshBatch: false,
        });
        repaired = r.outcome === 'applied' || r.outcome === 'noted';
        if (r.outcome === 'applied') {
          applied++;
          batches.add(p.batch_id);
        }
      }
      if (mapped === p.status && repaired) continue; // only Method's finer status moved (sent → posted)
      findings.push({
        check: 'method',
        entityType: 'payment',
        entityId: p.id,
        expected: mp.status,
        actual: p.method_status,
        differenceCents: 0,
        repaired,
        detail: {
          methodPaymentId: mp.id,
          problem: 'status differs from Method',
          loanpayStatus: p.status,
          methodImplies: mapped,
          ...(repaired ? { repair: `advanced to ${mapped} (cause reconciler)` } : {}),
        },
      });
    }
    for (const mp of atMethod.values()) {
      if (known.has(mp.id) || mp.status === 'failed' || mp.status === 'canceled') continue;
      const ourId = (mp.metadata as Record<string, unknown> | null)?.loanpay_payment_id;
      if (typeof ourId !== 'string') continue;
      // Method holds a live payment carrying our id that none of our payments points at: money may move twice.
      findings.push({
        check: 'method',
        entityType: 'method_payment',
        entityId: mp.id,
        expected: mp.amount,
        actual: 0,
        differenceCents: -mp.amount,
        repaired: false,
        detail: {
          loanpayPaymentId: ourId,
          methodStatus: mp.status,
          problem: 'Method payment not held by LoanPay',
        },
      });
    }
    for (const b of batches) await refreshBatchStatuses(this.opts.pool, b);
    return {
      findings,
      stats: { payments: ours.length, methodPayments: atMethod.size, pages, statusesAdvanced: applied },
    };
  }
}
