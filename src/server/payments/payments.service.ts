// Payments as api.md shows them, and what a person may do to one: retry, cancel (race-safe against
// workers: every change names the status it expects), each audited.
import { normalizeEmployeeId } from '../../shared/ids.js';
import { groupOf, type PaymentStatus, type StatusGroup, statusesInGroup } from '../../shared/statuses.js';
import { type Actor, recordAudit } from '../audit/audit.repository.js';
import { type Pool, type Queryable, withTransaction } from '../db.js';
import { AppError, notFound } from '../errors.js';
import { lockPayment, type PaymentRow, transitionPayment } from './payments.repository.js';

export interface Payment {
  id: string;
  batchId: string;
  rowNumber: number;
  employeeId: string;
  employeeName: string;
  branchId: string;
  sourceId: string;
  amountCents: number;
  status: PaymentStatus;
  group: StatusGroup;
  methodPaymentId: string | null;
  methodStatus: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  reviewReason: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

export function toPayment(r: PaymentRow): Payment {
  return {
    id: r.id,
    batchId: r.batch_id,
    rowNumber: r.row_number,
    employeeId: r.employee_id,
    employeeName: r.employee_name,
    branchId: r.branch_id,
    sourceId: r.source_id,
    amountCents: r.amount_cents,
    status: r.status,
    group: groupOf(r.status),
    methodPaymentId: r.method_payment_id,
    methodStatus: r.method_status,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    reviewReason: r.review_reason,
    attempts: r.attempts,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export interface PaymentFilter {
  status?: string;
  group?: string;
  branchId?: string;
  sourceId?: string;
  q?: string;
  flag?: string;
  afterRow?: number;
  limit: number;
}

export async function listPayments(
  db: Queryable,
  where: { batchId?: string; employeeId?: string; sourceId?: string },
  f: PaymentFilter,
) {
  const args: unknown[] = [f.limit];
  const conds: string[] = [];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    conds.push(sql.replaceAll('?', `$${args.length}`));
  };
  if (where.batchId) add('p.batch_id = ?', where.batchId);
  if (where.employeeId) add('p.employee_id = ?', where.employeeId);
  if (where.sourceId) add('p.source_id = ?', where.sourceId);
  if (f.status) add('p.status = ?', f.status);
  if (f.group) add('p.status = ANY (?)', statusesInGroup(f.group as StatusGroup));
  if (f.branchId) add('p.branch_id = ?', f.branchId);
  if (f.sourceId) add('p.source_id = ?', f.sourceId);
  if (f.flag === 'UNPAYABLE_DESTINATION') conds.push("p.failure_code = 'UNPAYABLE_DESTINATION'");
  else if (f.flag)
    add(
      'EXISTS (SELECT 1 FROM batch_lines l WHERE l.batch_id = p.batch_id AND l.row_number = p.row_number AND ? = ANY (l.flags))',
      f.flag,
    );
  if (f.q) {
    if (/^EMP-/i.test(f.q)) add('p.employee_id = ?', normalizeEmployeeId(f.q));
    else add('p.employee_name ILIKE ?', `%${f.q.replace(/[%_\\]/g, '\\$&')}%`);
  }
  if (f.afterRow !== undefined) add('p.row_number > ?', f.afterRow);
  const order = where.batchId ? 'p.row_number' : 'p.created_at DESC, p.row_number';
  const { rows } = await db.query<PaymentRow>(
    `SELECT p.* FROM payments p ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${order} LIMIT $1`,
    args,
  );
  return rows.map(toPayment);
}

export class PaymentsService {
  constructor(private readonly pool: Pool) {}

  async get(id: string) {
    const { rows } = await this.pool.query<PaymentRow>('SELECT * FROM payments WHERE id = $1', [id]);
    if (!rows[0]) throw notFound('Payment', id);
    const history = await this.pool.query(
      `SELECT at, from_status, to_status, cause, actor, method_status, detail FROM payment_events WHERE payment_id = $1 ORDER BY id`,
      [id],
    );
    const attempts = await this.pool.query(
      `SELECT id, attempt_no, idempotency_key, created_at, calls, last_outcome, state, method_payment_id, last_error
         FROM payment_attempts WHERE payment_id = $1 ORDER BY attempt_no`,
      [id],
    );
    // Its own postings, and its share of the batch-level ones (approval's reservation, a release
    // for unpayable or batch-cancelled rows), shown at this payment's amount.
    const p = rows[0];
    const ledger = await this.pool.query(
      `SELECT lp.id AS posting_id, lp.kind, lp.at, lp.description, a.kind AS account_kind, a.ref AS account_ref,
              CASE WHEN lp.payment_id IS NULL THEN sign(e.amount_cents) * $4::bigint ELSE e.amount_cents END AS amount_cents,
              lp.payment_id IS NULL AS batch_scope, lp.payment_count
         FROM ledger_postings lp JOIN ledger_entries e ON e.posting_id = lp.id JOIN ledger_accounts a ON a.id = e.account_id
        WHERE lp.payment_id = $1
           OR (lp.payment_id IS NULL AND lp.batch_id = $2 AND lp.source_id = $3
               AND (lp.kind = 'reserve' OR $5::text IN ('UNPAYABLE_DESTINATION', 'BATCH_CANCELLED')))
        ORDER BY lp.id, e.id`,
      [id, p.batch_id, p.source_id, p.amount_cents, p.status === 'cancelled' ? p.failure_code : null],
    );
    return {
      ...toPayment(rows[0]),
      history: history.rows.map((h) => ({
        at: h.at.toISOString(),
        fromStatus: h.from_status,
        toStatus: h.to_status,
        cause: h.cause,
        actor: h.actor,
        methodStatus: h.method_status,
        detail: h.detail,
      })),
      attemptsDetail: attempts.rows.map((a) => ({
        id: a.id,
        attemptNo: a.attempt_no,
        idempotencyKey: a.idempotency_key,
        createdAt: a.created_at.toISOString(),
        calls: a.calls,
        lastOutcome: a.last_outcome,
        state: a.state,
        methodPaymentId: a.method_payment_id,
      })),
      ledgerEntries: ledger.rows.map((l) => ({
        postingId: Number(l.posting_id),
        kind: l.kind,
        at: l.at.toISOString(),
        description: l.description,
        account: `${l.account_kind}:${l.account_ref}`,
        amountCents: Number(l.amount_cents),
        scope: l.batch_scope ? `batch (${l.payment_count} payments)` : 'payment',
      })),
    };
  }

  /** From needs_review or failed: the worker settles the previous attempt, then tries again. */
  async retry(id: string, actor: Actor) {
    return this.act(id, actor, 'payment.retry', async (tx, p) => {
      if (p.status !== 'needs_review' && p.status !== 'failed') {
        throw new AppError(
          'INVALID_STATE',
          `Only a payment that failed or needs review can be retried; this one is ${p.status}`,
        );
      }
      if (p.method_status === 'reversal_required') {
        throw new AppError(
          'INVALID_STATE',
          'Method requires a reversal for this payment: approve the reversal instead',
        );
      }
      // Method holds the last attempt as failed (or it never got there): the next claim makes a new
      // attempt with a new key instead of replaying the old one's answer.
      if (p.status === 'failed' && p.current_attempt_id) {
        await tx.query(
          "UPDATE payment_attempts SET state = 'failed' WHERE id = $1 AND state IN ('accepted', 'open')",
          [p.current_attempt_id],
        );
      }
      // Method objects this payment needs that Method refused to create are tried again too (same
      // keys: a stored failure replays and gets a new key through the normal path).
      await tx.query(
        `UPDATE provisioning SET status = 'pending', attempts = 0, next_run_at = now(), last_error = NULL, updated_at = now()
          WHERE status = 'failed' AND ((kind = 'liability_account' AND ref = $1) OR (kind = 'ach_account' AND ref = $2)
             OR (kind = 'individual' AND ref = $3)
             OR (kind = 'corporation' AND ref = (SELECT payor_id::text FROM sources WHERE source_id = $4)))`,
        [p.loan_id, p.source_bank_account_id, p.employee_id, p.source_id],
      );
      return transitionPayment(tx, p, {
        to: 'retry_scheduled',
        cause: 'person',
        actor: actor.username,
        set: {
          next_run_at: new Date(),
          retry_count: 0,
          review_reason: null,
          failure_code: null,
          failure_message: null,
        },
      });
    });
  }

  /** Only before Method has it: queued, waiting for a retry, or under review with no live attempt. */
  async cancel(id: string, actor: Actor) {
    return this.act(id, actor, 'payment.cancel', async (tx, p) => {
      const cancellable =
        ['queued', 'retry_scheduled', 'needs_review'].includes(p.status) && !p.method_payment_id;
      if (!cancellable) {
        throw new AppError(
          'INVALID_STATE',
          `A ${p.status} payment cannot be cancelled here: Method may already hold it`,
        );
      }
      if (p.current_attempt_id) {
        const a = await tx.query('SELECT calls, state FROM payment_attempts WHERE id = $1', [
          p.current_attempt_id,
        ]);
        if (a.rows[0].calls > 0 && a.rows[0].state === 'open') {
          throw new AppError(
            'INVALID_STATE',
            'An earlier attempt may have reached Method; retry to settle it before cancelling',
          );
        }
      }
      return transitionPayment(tx, p, {
        to: 'cancelled',
        cause: 'person',
        actor: actor.username,
        set: {
          next_run_at: null,
          failure_code: 'CANCELLED_BY_USER',
          failure_message: `Cancelled by ${actor.username}`,
        },
      });
    });
  }

  private async act(
    id: string,
    actor: Actor,
    action: string,
    fn: (tx: import('../db.js').PoolClient, p: PaymentRow) => Promise<PaymentRow | null>,
  ) {
    const updated = await withTransaction(this.pool, async (tx) => {
      const p = await lockPayment(tx, id);
      if (!p) throw notFound('Payment', id);
      const row = await fn(tx, p);
      if (!row) throw new AppError('INVALID_STATE', 'The payment changed meanwhile; reload and try again');
      await recordAudit(tx, actor, action, 'payment', id, {
        from: p.status,
        to: row.status,
        batchId: p.batch_id,
        row: p.row_number,
      });
      return row;
    });
    return toPayment(updated);
  }
}
