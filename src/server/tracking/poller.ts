// The polling reconciler: webhooks are hints and may never come, so every payment Method may still
// move (its status at Method not final) that nobody looked at for a while is asked about directly.
// A day without a single webhook still ends with every status right. `unknown` payments are the
// submitter's (it looks them up itself), so they are left alone here.
import type { MethodClient } from '../../method/client.js';
import type { Pool } from '../db.js';
import { refreshBatchStatuses } from '../execution/sweeper.js';
import { applyMethodPayment } from './apply.js';

export interface PollOptions {
  /** A payment is asked about when neither we nor the poller touched it for this long. */
  staleMs: number;
  limit?: number;
  concurrency?: number;
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

export interface PollResult {
  checked: number;
  applied: number;
  errors: number;
}

/** One pass. Claiming bumps `method_checked_at`, so parallel workers split the work. */
export async function pollMethodStatuses(
  pool: Pool,
  client: Pick<MethodClient, 'getPayment'>,
  opts: PollOptions,
): Promise<PollResult> {
  const { rows } = await pool.query<{ id: string; method_payment_id: string }>(
    `UPDATE payments p SET method_checked_at = now()
      WHERE p.id IN (
        SELECT id FROM payments
         WHERE method_payment_id IS NOT NULL
           AND coalesce(method_status, '') NOT IN ('posted', 'cashed', 'canceled', 'failed', 'reversed', 'settled')
           AND status IN ('submitted', 'processing', 'paid', 'needs_review')
           AND coalesce(method_checked_at, '-infinity') < now() - make_interval(secs => $1)
           AND updated_at < now() - make_interval(secs => $1)
         ORDER BY method_checked_at NULLS FIRST
         LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING p.id, p.method_payment_id`,
    [opts.staleMs / 1000, opts.limit ?? 500],
  );
  const result: PollResult = { checked: rows.length, applied: 0, errors: 0 };
  const batches = new Set<string>();
  let next = 0;
  const run = async () => {
    while (next < rows.length) {
      const p = rows[next++];
      const got = await client.getPayment(p.method_payment_id, { timeoutMs: 10_000 });
      if (got.kind !== 'ok') {
        result.errors++;
        continue;
      }
      const r = await applyMethodPayment(pool, got.data, {
        cause: 'reconciler',
        paymentId: p.id,
        detail: { via: 'poll' },
        log: opts.log,
        refreshBatch: false,
      });
      if (r.outcome === 'applied') {
        result.applied++;
        if (r.batchId) batches.add(r.batchId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, rows.length) }, run));
  for (const b of batches) await refreshBatchStatuses(pool, b);
  if (result.errors > 0) opts.log?.({ ...result }, 'poll: some Method look-ups failed; retried next pass');
  return result;
}
