// Provisioning: every Method object LoanPay needs (an individual per employee with its phone and
// identity verification, a corporation per payor, an ACH account per source bank account, a
// liability account per loan) is created once across all batches. Each step's idempotency key is
// committed before its call; a crash or an ambiguous answer replays the same key.
import type { MethodClient, MethodOutcome } from '../../method/client.js';
import { type Pool, type Queryable, withTransaction } from '../db.js';
import type { Cipher } from '../secrets.js';
import { backoffMs } from './method.js';

type Kind = 'individual' | 'corporation' | 'ach_account' | 'liability_account';

interface Job {
  id: string;
  kind: Kind;
  ref: string;
  step: string;
  idempotency_key: string;
  method_id: string | null;
  attempts: number;
  lease_token: string;
  /** Fixed for the job's life: request bodies must not change between replays of one key. */
  created_at: Date;
}

export interface ProvisionerOptions {
  pool: Pool;
  client: MethodClient;
  cipher: Cipher;
  leaseMs: number;
  retryBudget: number;
  backoff?: { baseMs: number; capMs: number };
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

/**
 * Plans the Method objects of one approved batch whose plan is not written yet: every person, loan,
 * payor and source account its queued payments need and Method does not have. Runs in a worker
 * right after the approval commits, in one transaction that also marks the batch planned, so a
 * crash mid-way leaves the batch unplanned for the next worker (SKIP LOCKED: two workers never plan
 * one batch; a batch row a person is pausing or cancelling this instant is taken next time).
 * Accounts whose holder is not at Method yet sleep ('infinity') until it is (wakeDependents).
 * Returns the batch planned, or null when none was waiting.
 */
export async function planProvisioning(pool: Pool): Promise<{ batchId: string; planned: number } | null> {
  return withTransaction(pool, async (tx) => {
    const b = await tx.query(
      `SELECT id FROM batches WHERE approved_at IS NOT NULL AND provisioning_planned_at IS NULL
        ORDER BY approved_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
    );
    if (b.rows.length === 0) return null;
    const batchId = b.rows[0].id as string;
    // A whole batch of rows written a moment ago: the statistics may not know them yet, and nested
    // loops over tens of thousands of rows would be wrong; hash joins are right.
    await tx.query("SET LOCAL work_mem = '64MB'");
    await tx.query('SET LOCAL enable_nestloop = off');
    const r = await tx.query(
      `WITH refs AS MATERIALIZED (
         SELECT employee_id, loan_id, source_bank_account_id, source_id FROM payments
          WHERE batch_id = $1 AND status = 'queued'
       )
       INSERT INTO provisioning (kind, ref, next_run_at)
       SELECT 'individual', e.employee_id, now() FROM employees e
        WHERE e.method_entity_id IS NULL AND e.employee_id IN (SELECT employee_id FROM refs)
       UNION ALL
       SELECT 'liability_account', l.id::text,
              CASE WHEN e.method_entity_id IS NULL THEN 'infinity'::timestamptz ELSE now() END
         FROM loans l JOIN employees e USING (employee_id)
        WHERE l.method_account_id IS NULL AND l.id IN (SELECT loan_id FROM refs)
       UNION ALL
       SELECT 'corporation', py.id::text, now() FROM payors py
        WHERE py.method_entity_id IS NULL
          AND py.id IN (SELECT s.payor_id FROM sources s WHERE s.source_id IN (SELECT source_id FROM refs))
       UNION ALL
       SELECT 'ach_account', a.id::text,
              CASE WHEN py.method_entity_id IS NULL THEN 'infinity'::timestamptz ELSE now() END
         FROM source_bank_accounts a JOIN sources s USING (source_id) JOIN payors py ON py.id = s.payor_id
        WHERE a.method_account_id IS NULL AND a.id IN (SELECT source_bank_account_id FROM refs)
       ON CONFLICT (kind, ref) DO NOTHING`,
      [batchId],
    );
    await tx.query('UPDATE batches SET provisioning_planned_at = now() WHERE id = $1', [batchId]);
    return { batchId, planned: r.rowCount ?? 0 };
  });
}

/**
 * Claims runnable jobs in due order. A job whose holder does not exist at Method yet waits with
 * next_run_at = 'infinity' and is woken when its holder is done (see `record`), so a claim never
 * has to look at the thousands of accounts still waiting for their entity.
 */
export async function claimProvisioning(pool: Pool, limit: number, leaseMs: number): Promise<Job[]> {
  const claim = async (n: number, kinds: string) =>
    (
      await pool.query(
        `UPDATE provisioning j SET status = 'in_progress', lease_token = gen_random_uuid(),
                lease_expires_at = now() + make_interval(secs => $2), attempts = attempts + 1, updated_at = now()
          WHERE j.id IN (
            SELECT p.id FROM provisioning p
             WHERE p.status IN ('pending', 'in_progress') AND p.next_run_at <= now() AND ${kinds}
               AND (p.lease_expires_at IS NULL OR p.lease_expires_at < now())
             ORDER BY p.next_run_at
             LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING j.id, j.kind, j.ref, j.step, j.idempotency_key, j.method_id, j.attempts, j.lease_token, j.created_at`,
        [n, leaseMs / 1000],
      )
    ).rows as Job[];
  // The payor side first (every payment needs its source account), then people and loans by due time.
  const first = await claim(limit, "p.kind IN ('corporation', 'ach_account')");
  if (first.length >= limit) return first;
  return [...first, ...(await claim(limit - first.length, "p.kind IN ('individual', 'liability_account')"))];
}

/** Wakes the jobs waiting for a holder that Method now has (an employee's loans, a payor's sources). */
export async function wakeDependents(db: Queryable, kind: Kind, ref: string): Promise<void> {
  if (kind === 'individual') {
    await db.query(
      `UPDATE provisioning SET next_run_at = now() WHERE kind = 'liability_account' AND status = 'pending'
          AND next_run_at = 'infinity' AND ref IN (SELECT id::text FROM loans WHERE employee_id = $1)`,
      [ref],
    );
  } else if (kind === 'corporation') {
    await db.query(
      `UPDATE provisioning SET next_run_at = now() WHERE kind = 'ach_account' AND status = 'pending'
          AND next_run_at = 'infinity'
          AND ref IN (SELECT a.id::text FROM source_bank_accounts a JOIN sources s USING (source_id) WHERE s.payor_id = $1::uuid)`,
      [ref],
    );
  }
}

type StepResult =
  | { kind: 'next'; step: string; methodId: string }
  | { kind: 'done'; methodId: string }
  | { kind: 'retry'; reason: string; delayMs?: number; newKey?: boolean }
  | { kind: 'failed'; reason: string }
  /** The holder entity is not at Method yet: sleep until it is (woken by wakeDependents). */
  | { kind: 'wait' };

export class Provisioner {
  constructor(private readonly opts: ProvisionerOptions) {}

  /** Runs a job's steps until it is done, must wait, or failed. */
  async process(job: Job): Promise<void> {
    let current = job;
    for (let i = 0; i < 5; i++) {
      let result: StepResult;
      try {
        result = await this.runStep(current);
      } catch (err) {
        this.opts.log?.({ err, job: current.id }, 'provisioning step crashed; retried after the lease');
        return;
      }
      const next = await this.record(current, result);
      if (!next) return;
      current = next;
    }
  }

  private async runStep(job: Job): Promise<StepResult> {
    const { client, pool, cipher } = this.opts;
    const key = job.idempotency_key;
    switch (`${job.kind}:${job.step}`) {
      case 'individual:create': {
        const { rows } = await pool.query(
          'SELECT first_name, last_name, phone, dob FROM employees WHERE employee_id = $1',
          [job.ref],
        );
        const e = rows[0];
        const dob = (e.dob as Date).toISOString().slice(0, 10);
        const out = await client.createEntity(
          {
            type: 'individual',
            individual: { first_name: e.first_name, last_name: e.last_name, phone: e.phone, dob },
            metadata: { loanpay_employee_id: job.ref },
          },
          key,
        );
        return this.after(out, (d) =>
          d.status === 'active'
            ? { kind: 'done', methodId: d.id }
            : { kind: 'next', step: 'verify_phone', methodId: d.id },
        );
      }
      case 'individual:verify_phone': {
        const out = await client.createEntityVerificationSession(
          job.method_id!,
          { type: 'phone', method: 'byo_sms', byo_sms: { timestamp: job.created_at.toISOString() } },
          key,
        );
        return this.after(out, () => ({ kind: 'next', step: 'verify_identity', methodId: job.method_id! }));
      }
      case 'individual:verify_identity': {
        const out = await client.createEntityVerificationSession(
          job.method_id!,
          { type: 'identity', method: 'kba', kba: {} },
          key,
        );
        if (out.kind !== 'ok') return this.after(out, () => ({ kind: 'done', methodId: job.method_id! }));
        const entity = await client.getEntity(job.method_id!);
        if (entity.kind === 'ok' && entity.data.status !== 'active') {
          return {
            kind: 'failed',
            reason: `Method left entity ${job.method_id} ${entity.data.status} after verification`,
          };
        }
        return this.after(entity, () => ({ kind: 'done', methodId: job.method_id! }));
      }
      case 'corporation:create': {
        const { rows } = await pool.query('SELECT * FROM payors WHERE id = $1', [job.ref]);
        const py = rows[0];
        const out = await client.createEntity(
          {
            type: 'corporation',
            corporation: { name: py.name, dba: py.dba, ein: py.ein, owners: [] },
            address: { line1: py.address_line1, line2: null, city: py.city, state: py.state, zip: py.zip },
            metadata: { loanpay_payor_id: job.ref },
          },
          key,
        );
        return this.after(out, (d) =>
          d.status === 'active'
            ? { kind: 'done', methodId: d.id }
            : { kind: 'failed', reason: `Method created corporation ${d.id} as ${d.status}` },
        );
      }
      case 'ach_account:create': {
        const { rows } = await pool.query(
          `SELECT a.routing, a.account_number_enc, py.method_entity_id FROM source_bank_accounts a JOIN sources s USING (source_id)
             JOIN payors py ON py.id = s.payor_id WHERE a.id = $1`,
          [job.ref],
        );
        const a = rows[0];
        if (!a.method_entity_id) return { kind: 'wait' };
        const out = await client.createAccount(
          {
            holder_id: a.method_entity_id,
            ach: { routing: a.routing, number: cipher.decrypt(a.account_number_enc), type: 'checking' },
            metadata: { loanpay_source_bank_account_id: job.ref },
          },
          key,
        );
        return this.after(out, (d) => ({ kind: 'done', methodId: d.id }));
      }
      case 'liability_account:create': {
        const { rows } = await pool.query(
          `SELECT l.loan_number_enc, e.method_entity_id, m.merchant_id FROM loans l JOIN employees e USING (employee_id)
             JOIN plaid_merchants m ON m.plaid_id = l.plaid_id WHERE l.id = $1`,
          [job.ref],
        );
        const l = rows[0];
        if (!l.method_entity_id) return { kind: 'wait' };
        if (!l.merchant_id)
          return { kind: 'failed', reason: `no payable student-loan merchant for this loan's Plaid id` };
        const out = await client.createAccount(
          {
            holder_id: l.method_entity_id,
            liability: { mch_id: l.merchant_id, account_number: cipher.decrypt(l.loan_number_enc) },
            metadata: { loanpay_loan_id: job.ref },
          },
          key,
        );
        return this.after(out, (d) => ({ kind: 'done', methodId: d.id }));
      }
      default:
        return { kind: 'failed', reason: `unknown provisioning step ${job.kind}:${job.step}` };
    }
  }

  private after<T>(out: MethodOutcome<T>, onOk: (data: T) => StepResult): StepResult {
    switch (out.kind) {
      case 'ok':
        return onOk(out.data);
      case 'definite_failure':
        return {
          kind: 'failed',
          reason: `${out.error.subType ?? out.error.type}: ${out.error.message} (HTTP ${out.status})`,
        };
      case 'retryable':
        // A stored 5xx replays forever for its key; creating an entity or account moves no money, so a
        // new key is safe once the old one is known to have failed at Method.
        return {
          kind: 'retry',
          reason: out.reason,
          delayMs: out.retryAfterMs,
          newKey: out.replayedFailure === true,
        };
      case 'ambiguous':
        return { kind: 'retry', reason: out.reason };
    }
  }

  /** Records a step's result; returns the job to continue with, or null when it rests. */
  private async record(job: Job, r: StepResult): Promise<Job | null> {
    return withTransaction(this.opts.pool, async (tx) => {
      const guard = 'id = $1 AND lease_token = $2';
      if (r.kind === 'next') {
        const { rows } = await tx.query(
          `UPDATE provisioning SET step = $3, method_id = $4, idempotency_key = gen_random_uuid(), last_error = NULL, updated_at = now()
            WHERE ${guard} RETURNING id, kind, ref, step, idempotency_key, method_id, attempts, lease_token, created_at`,
          [job.id, job.lease_token, r.step, r.methodId],
        );
        return (rows[0] as Job | undefined) ?? null;
      }
      if (r.kind === 'wait') {
        await tx.query(
          `UPDATE provisioning SET status = 'pending', next_run_at = 'infinity', attempts = greatest(attempts - 1, 0),
                  lease_token = NULL, lease_expires_at = NULL, updated_at = now() WHERE ${guard}`,
          [job.id, job.lease_token],
        );
        // The holder may have finished between our read and this write: wake again if so.
        await tx.query(
          `UPDATE provisioning j SET next_run_at = now() WHERE j.id = $1 AND EXISTS (
             SELECT 1 FROM loans l JOIN employees e USING (employee_id) WHERE j.kind = 'liability_account'
                AND l.id = j.ref::uuid AND e.method_entity_id IS NOT NULL
             UNION ALL
             SELECT 1 FROM source_bank_accounts a JOIN sources s USING (source_id) JOIN payors py ON py.id = s.payor_id
              WHERE j.kind = 'ach_account' AND a.id = j.ref::uuid AND py.method_entity_id IS NOT NULL)`,
          [job.id],
        );
        return null;
      }
      if (r.kind === 'done') {
        const { rowCount } = await tx.query(
          `UPDATE provisioning SET status = 'done', method_id = $3, lease_token = NULL, lease_expires_at = NULL, last_error = NULL,
                  updated_at = now() WHERE ${guard}`,
          [job.id, job.lease_token, r.methodId],
        );
        if (!rowCount) return null;
        const target: Record<Kind, string> = {
          individual: 'UPDATE employees SET method_entity_id = $2 WHERE employee_id = $1',
          corporation: 'UPDATE payors SET method_entity_id = $2 WHERE id = $1::uuid',
          ach_account: 'UPDATE source_bank_accounts SET method_account_id = $2 WHERE id = $1::uuid',
          liability_account: 'UPDATE loans SET method_account_id = $2 WHERE id = $1::uuid',
        };
        await tx.query(target[job.kind], [job.ref, r.methodId]);
        await wakeDependents(tx, job.kind, job.ref);
        return null;
      }
      if (r.kind === 'retry' && job.attempts < this.opts.retryBudget) {
        const b = this.opts.backoff ?? { baseMs: 1000, capMs: 5 * 60_000 };
        const delay = r.delayMs ?? backoffMs(job.attempts, b.baseMs, b.capMs);
        await tx.query(
          `UPDATE provisioning SET status = 'pending', next_run_at = now() + make_interval(secs => $3), last_error = $4,
                  idempotency_key = CASE WHEN $5 THEN gen_random_uuid() ELSE idempotency_key END,
                  lease_token = NULL, lease_expires_at = NULL, updated_at = now() WHERE ${guard}`,
          [job.id, job.lease_token, delay / 1000, r.reason, r.newKey === true],
        );
        return null;
      }
      const reason = r.kind === 'failed' ? r.reason : `gave up after ${job.attempts} tries: ${r.reason}`;
      await tx.query(
        `UPDATE provisioning SET status = 'failed', last_error = $3, lease_token = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE ${guard}`,
        [job.id, job.lease_token, reason],
      );
      this.opts.log?.(
        { job: job.id, kind: job.kind, ref: job.ref, reason },
        'provisioning failed; its payments go to needs review',
      );
      return null;
    });
  }
}
