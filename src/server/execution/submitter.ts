// Submission: workers claim runnable payments (SKIP LOCKED, with a lease), call Method with the
// attempt's idempotency key — written before the call —, and record the outcome in one
// transaction. An ambiguous outcome is resolved by looking the payment up at Method, then by
// replaying the same key; a new attempt (and key) only when Method proves the old one absent.
import type { MethodClient, MethodOutcome } from '../../method/client.js';
import { mapMethodPaymentStatus, methodShowsSent } from '../../method/client.js';
import type { Payment as MethodPayment } from '../../method/types.js';
import { assertTransition } from '../../shared/payment-state.js';
import type { PaymentStatus } from '../../shared/statuses.js';
import { type Pool, withTransaction } from '../db.js';
import { GroupWriter } from '../group-commit.js';
import { type PaymentRow, transitionPayment } from '../payments/payments.repository.js';
import { methodOutcomeFields } from '../tracking/apply.js';
import { backoffMs } from './method.js';
import { blockThrottle } from './throttle.js';

export interface SubmitterOptions {
  pool: Pool;
  client: MethodClient;
  leaseMs: number;
  /** Retryable failures before a person has to look (needs_review). */
  retryBudget: number;
  /** Capped exponential backoff between retries of one attempt. */
  backoff?: { baseMs: number; capMs: number };
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

export interface ClaimedPayment extends PaymentRow {
  prev_status: PaymentStatus;
  attempt_id: string;
  idempotency_key: string;
  /** Calls already made with this attempt's key: if any, Method may hold the payment. */
  attempt_calls: number;
  source_account: string | null;
  destination_account: string | null;
}

export const PAYMENT_DESCRIPTION = 'LoanPay';

/**
 * Claims up to `limit` runnable payments in one transaction: lease, history row, and the attempt
 * (a new one with a new key only when there is none or the last one is proven not to move money).
 */
export async function claimPayments(
  pool: Pool,
  limit: number,
  leaseMs: number,
  workerId: string,
): Promise<ClaimedPayment[]> {
  return withTransaction(pool, async (tx) => {
    // Candidates in due order, straight off the index (no join, so the scan stops at LIMIT); those
    // whose Method accounts are not ready yet go to the back of the queue for a few seconds.
    // Named (prepared once per connection): the hot statements of submission are not re-planned
    // for every claim.
    const cand = await tx.query({
      name: 'claim_candidates',
      text: `SELECT p.id, p.status, (b.paused OR b.cancel_requested_at IS NOT NULL) AS held,
              (l.method_account_id IS NOT NULL AND s.method_account_id IS NOT NULL) AS ready
         FROM (SELECT id, status, batch_id, loan_id, source_bank_account_id FROM payments
                WHERE status IN ('queued', 'retry_scheduled', 'unknown') AND next_run_at <= now()
                ORDER BY next_run_at LIMIT $1 FOR UPDATE SKIP LOCKED) p
         JOIN batches b ON b.id = p.batch_id
         JOIN loans l ON l.id = p.loan_id
         JOIN source_bank_accounts s ON s.id = p.source_bank_account_id`,
      values: [limit * 4],
    });
    const take: string[] = [];
    const notReady: string[] = [];
    const held: string[] = [];
    for (const r of cand.rows) {
      if (r.status === 'unknown' || (!r.held && r.ready)) {
        if (take.length < limit) take.push(r.id);
      } else if (r.held) held.push(r.id);
      else notReady.push(r.id);
    }
    // Scheduling only (no status change): paused/cancelling batches step aside longer (resume wakes them).
    for (const [ids, secs] of [
      [notReady, 3],
      [held, 30],
    ] as const) {
      if (ids.length) {
        await tx.query(
          'UPDATE payments SET next_run_at = now() + make_interval(secs => $2) WHERE id = ANY ($1::uuid[])',
          [ids, secs],
        );
      }
    }
    if (take.length === 0) return [];
    // One statement: the attempt (a new one with a new key where there is none or the current one is
    // proven not to have moved money; else the current one, its call counted), the lease, the
    // history row, and the Method accounts. `calls` is counted here, in the claim's commit, rather
    // than once more per call: each claim makes at most one create call per attempt key, and
    // `calls > 0` only has to mean "may have reached Method"; attempt_calls is the count before.
    const { rows } = await tx.query({
      name: 'claim_take',
      text: `WITH c AS (
         SELECT p.id, p.status AS prev_status, p.attempts, a.id AS current_attempt,
                (a.id IS NULL OR a.state IN ('absent', 'failed', 'cancelled')) AS need_new
           FROM payments p LEFT JOIN payment_attempts a ON a.id = p.current_attempt_id
          WHERE p.id = ANY ($1::uuid[])
       ), fresh AS (
         INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, calls)
         SELECT id, attempts + 1, gen_random_uuid(), 1 FROM c WHERE need_new
         RETURNING id, payment_id, attempt_no, idempotency_key, calls
       ), reused AS (
         UPDATE payment_attempts a SET calls = a.calls + 1 FROM c
          WHERE a.id = c.current_attempt AND NOT c.need_new
         RETURNING a.id, a.payment_id, a.attempt_no, a.idempotency_key, a.calls
       ), att AS (
         SELECT *, true AS is_new FROM fresh UNION ALL SELECT *, false FROM reused
       ), u AS (
         UPDATE payments p SET status = 'submitting', lease_token = gen_random_uuid(),
                lease_expires_at = now() + make_interval(secs => $2), updated_at = now(), version = p.version + 1,
                current_attempt_id = att.id, attempts = att.attempt_no,
                retry_count = CASE WHEN att.is_new THEN 0 ELSE p.retry_count END
           FROM c JOIN att ON att.payment_id = c.id
          WHERE p.id = c.id
         RETURNING p.*, c.prev_status, att.id AS attempt_id, att.idempotency_key, att.calls - 1 AS attempt_calls
       ), ev AS (
         INSERT INTO payment_events (payment_id, from_status, to_status, cause, actor)
         SELECT id, prev_status, 'submitting', 'worker', $3 FROM u
       )
       SELECT u.*, s.method_account_id AS source_account, l.method_account_id AS destination_account
         FROM u JOIN loans l ON l.id = u.loan_id JOIN source_bank_accounts s ON s.id = u.source_bank_account_id`,
      values: [take, leaseMs / 1000, workerId],
    });
    return rows as ClaimedPayment[];
  });
}

type Resolution = {
  to: PaymentStatus;
  set?: Parameters<typeof transitionPayment>[2]['set'];
  methodStatus?: string | null;
  attemptState?: string;
  detail?: Record<string, unknown>;
};

interface Accepted {
  id: string;
  lease: string;
  attemptId: string;
  methodPaymentId: string;
  methodStatus: string;
  wasSent: boolean;
}

/**
 * Writes many `submitting → submitted` outcomes in one statement — the same guarded update, history
 * row and attempt update as `transitionPayment`, for the one transition that needs no ledger or
 * aggregate change. The submitter's GroupWriter calls it with whatever arrived together.
 */
async function writeAccepted(pool: Pool, items: Accepted[]): Promise<undefined[]> {
  assertTransition('submitting', 'submitted');
  await pool.query({
    name: 'accepted_flush',
    text: `WITH v AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::boolean[])
         AS v (id, lease, attempt_id, mid, mstatus, was_sent)
     ), u AS (
       UPDATE payments p SET status = 'submitted', method_payment_id = v.mid, method_status = v.mstatus,
              method_was_sent = p.method_was_sent OR v.was_sent, lease_token = NULL, lease_expires_at = NULL,
              next_run_at = NULL, retry_count = 0, updated_at = now(), version = version + 1
         FROM v WHERE p.id = v.id AND p.status = 'submitting' AND p.lease_token = v.lease
       RETURNING p.id, v.attempt_id, v.mid, v.mstatus
     ), ev AS (
       INSERT INTO payment_events (payment_id, from_status, to_status, cause, method_status, detail)
       SELECT id, 'submitting', 'submitted', 'worker', mstatus, '{}'::jsonb FROM u
     )
     UPDATE payment_attempts a SET last_outcome = 'submitted', state = 'accepted', method_payment_id = u.mid
       FROM u WHERE a.id = u.attempt_id`,
    values: [
      items.map((i) => i.id),
      items.map((i) => i.lease),
      items.map((i) => i.attemptId),
      items.map((i) => i.methodPaymentId),
      items.map((i) => i.methodStatus),
      items.map((i) => i.wasSent),
    ],
  });
  return items.map(() => undefined);
}

export class Submitter {
  private readonly accepted: GroupWriter<Accepted, undefined>;

  constructor(private readonly opts: SubmitterOptions) {
    this.accepted = new GroupWriter((items) => writeAccepted(opts.pool, items), {
      maxBatch: 500,
      maxInFlight: 2,
    });
  }

  /** Runs one claimed payment to its next resting status. */
  async process(p: ClaimedPayment): Promise<void> {
    let resolution: Resolution;
    try {
      resolution =
        p.prev_status === 'unknown' || !p.source_account || !p.destination_account
          ? await this.resolveUnknown(p)
          : await this.submit(p);
    } catch (err) {
      // A bug or a database hiccup: leave the lease to expire; the sweeper moves it to unknown.
      this.opts.log?.({ err, paymentId: p.id }, 'payment processing failed; the sweeper will pick it up');
      return;
    }
    await this.record(p, resolution);
  }

  private backoff(retry: number, divisor = 1): number {
    const b = this.opts.backoff ?? { baseMs: 1000, capMs: 5 * 60_000 };
    return backoffMs(retry, b.baseMs / divisor, b.capMs / divisor);
  }

  private metadata(p: ClaimedPayment) {
    return {
      loanpay_payment_id: p.id,
      loanpay_attempt_id: p.attempt_id,
      loanpay_batch_id: p.batch_id,
      row: p.row_number,
    };
  }

  private async submit(p: ClaimedPayment): Promise<Resolution> {
    const outcome = await this.opts.client.createPayment(
      {
        amount: p.amount_cents,
        source: p.source_account!,
        destination: p.destination_account!,
        description: PAYMENT_DESCRIPTION,
        metadata: this.metadata(p),
      },
      p.idempotency_key,
    );
    return this.fromCreateOutcome(p, outcome);
  }

  private async fromCreateOutcome(
    p: ClaimedPayment,
    outcome: MethodOutcome<MethodPayment>,
  ): Promise<Resolution> {
    switch (outcome.kind) {
      case 'ok':
        return this.fromMethodPayment(p, outcome.data, { idemStatus: outcome.idemStatus });
      case 'definite_failure': {
        const e = outcome.error;
        const detail = { httpStatus: outcome.status, type: e.type, code: e.code, subType: e.subType };
        if (outcome.status === 400 || outcome.status === 422) {
          return {
            to: 'failed',
            attemptState: 'failed',
            set: {
              failure_code: e.subType ?? e.type ?? `HTTP_${outcome.status}`,
              failure_message: `${e.message} (${e.code})`,
            },
            detail,
          };
        }
        return {
          to: 'needs_review',
          attemptState: 'failed',
          set: { review_reason: `Method refused the payment: ${e.message} (HTTP ${outcome.status})` },
          detail,
        };
      }
      case 'retryable': {
        if (outcome.replayedFailure) {
          // The key's stored 500 will replay forever: find out whether Method holds a payment.
          return {
            to: 'unknown',
            set: { next_run_at: new Date() },
            detail: { reason: 'replayed_failure', httpStatus: outcome.status },
          };
        }
        if (outcome.reason === 'rate_limited') {
          const wait = outcome.retryAfterMs ?? 60_000;
          await blockThrottle(this.opts.pool, wait).catch(() => {});
          return {
            to: 'retry_scheduled',
            set: { next_run_at: new Date(Date.now() + wait) },
            detail: { reason: 'rate_limited', retryAfterMs: wait },
          };
        }
        return this.retryLater(p, { reason: outcome.reason, httpStatus: outcome.status });
      }
      case 'ambiguous':
        return {
          to: 'unknown',
          set: {
            next_run_at: new Date(Date.now() + this.backoff(p.retry_count, 2)),
            retry_count: p.retry_count + 1,
          },
          detail: { reason: outcome.reason },
        };
    }
  }

  private retryLater(p: ClaimedPayment, detail: Record<string, unknown>): Resolution {
    if (p.retry_count + 1 > this.opts.retryBudget) {
      return {
        to: 'needs_review',
        set: {
          review_reason: `Method kept failing (${String(detail.reason)}) after ${p.retry_count + 1} tries; retry when Method is healthy`,
          next_run_at: null,
        },
        detail,
      };
    }
    return {
      to: 'retry_scheduled',
      set: {
        next_run_at: new Date(Date.now() + this.backoff(p.retry_count)),
        retry_count: p.retry_count + 1,
      },
      detail,
    };
  }

  private fromMethodPayment(
    p: ClaimedPayment,
    mp: MethodPayment,
    detail: Record<string, unknown>,
  ): Resolution {
    // A `failed` whose source side was sent is a return, even when we never saw it sent: an attempt
    // resolved late (a lost answer looked up after Method had moved on) must not call it a failure.
    const wasSent = p.method_was_sent || methodShowsSent(mp);
    const mapped = mapMethodPaymentStatus(mp.status, { wasSent });
    const base = {
      method_payment_id: mp.id,
      method_status: mp.status,
      method_was_sent: wasSent,
      next_run_at: null,
      retry_count: 0,
    };
    if (mapped === null) {
      this.opts.log?.(
        { paymentId: p.id, methodStatus: mp.status },
        'unknown Method payment status; tracking continues',
      );
      return {
        to: 'submitted',
        methodStatus: mp.status,
        attemptState: 'accepted',
        set: base,
        detail: { ...detail, unknownMethodStatus: mp.status },
      };
    }
    const set: Resolution['set'] = { ...base, ...methodOutcomeFields(mp, mapped) };
    return { to: mapped, methodStatus: mp.status, attemptState: 'accepted', set, detail };
  }

  /**
   * Where did an ambiguous attempt go? Look for any payment of ours at Method (metadata names our
   * payment id); if there is none, replay the same key — Method either applies it now or replays
   * what it stored. A replayed 500 with no payment at Method proves the attempt absent.
   */
  private async resolveUnknown(p: ClaimedPayment): Promise<Resolution> {
    const found = await this.lookup(p);
    if (found.kind === 'error') return this.retryLater(p, { reason: 'lookup_failed' });
    if (found.kind === 'found') return this.fromMethodPayment(p, found.payment, { resolvedBy: 'lookup' });
    if (!p.source_account || !p.destination_account) {
      return {
        to: 'needs_review',
        set: { review_reason: 'The loan or source account is missing at Method' },
      };
    }
    const outcome = await this.opts.client.createPayment(
      {
        amount: p.amount_cents,
        source: p.source_account,
        destination: p.destination_account,
        description: PAYMENT_DESCRIPTION,
        metadata: this.metadata(p),
      },
      p.idempotency_key,
    );
    if (outcome.kind === 'retryable' && outcome.replayedFailure) {
      // Method stored a failure for this key and holds no payment of ours: the attempt is absent.
      return {
        to: 'retry_scheduled',
        attemptState: 'absent',
        set: { next_run_at: new Date(Date.now() + this.backoff(0)) },
        detail: { reason: 'attempt_absent_after_replayed_failure' },
      };
    }
    return this.fromCreateOutcome(p, outcome);
  }

  private async lookup(
    p: ClaimedPayment,
  ): Promise<{ kind: 'found'; payment: MethodPayment } | { kind: 'absent' } | { kind: 'error' }> {
    if (!p.destination_account) return { kind: 'absent' };
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await this.opts.client.listPayments({
        destination: p.destination_account,
        page_limit: 100,
        page_cursor: cursor,
      });
      if (r.kind !== 'ok') return { kind: 'error' };
      // This attempt's payment, or a live one of an earlier attempt; an earlier attempt's payment
      // that failed or was canceled at Method is settled history, not this attempt's answer.
      const ours = r.data.items.filter(
        (mp) => (mp.metadata as Record<string, unknown> | null)?.loanpay_payment_id === p.id,
      );
      const hit =
        ours.find((mp) => (mp.metadata as Record<string, unknown>).loanpay_attempt_id === p.attempt_id) ??
        ours.find((mp) => mp.status !== 'failed' && mp.status !== 'canceled');
      if (hit) return { kind: 'found', payment: hit };
      cursor = r.data.pagination.pageCursorNext ?? undefined;
      if (!cursor) return { kind: 'absent' };
    }
    return { kind: 'error' };
  }

  /** One transaction: status (only if we still hold the lease), history, attempt, ledger, aggregates. */
  private async record(p: ClaimedPayment, r: Resolution): Promise<void> {
    // The common case (Method accepted it, pending) is written with others in one statement.
    if (r.to === 'submitted' && r.set?.method_payment_id && !r.detail?.unknownMethodStatus) {
      await this.accepted.add({
        id: p.id,
        lease: p.lease_token!,
        attemptId: p.attempt_id,
        methodPaymentId: r.set.method_payment_id,
        methodStatus: r.methodStatus ?? 'pending',
        wasSent: r.set.method_was_sent === true,
      });
      return;
    }
    await withTransaction(this.opts.pool, async (tx) => {
      const moved = await transitionPayment(tx, p, {
        to: r.to,
        cause: 'worker',
        methodStatus: r.methodStatus ?? null,
        detail: r.detail,
        leaseToken: p.lease_token,
        set: { lease_token: null, lease_expires_at: null, ...(r.set ?? {}) },
      });
      if (!moved) return; // lease lost: a later owner decides; our result changes nothing
      await tx.query(
        `UPDATE payment_attempts SET last_outcome = $2, state = coalesce($3, state),
                method_payment_id = coalesce($4, method_payment_id), last_error = $5 WHERE id = $1`,
        [
          p.attempt_id,
          r.to,
          r.attemptState ?? null,
          r.set?.method_payment_id ?? null,
          r.detail ? JSON.stringify(r.detail) : null,
        ],
      );
    });
  }
}
