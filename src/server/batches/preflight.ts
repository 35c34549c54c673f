// The review pre-flight: each distinct Plaid id of a draft is resolved to a payable student-loan
// merchant at Method (cached across batches), so rows that cannot be paid are known before anyone
// approves. A Method outage leaves the draft usable with the check marked failed and retried.
import { type MethodClient, resolvePayableMerchant } from '../../method/client.js';
import type { Pool } from '../db.js';

/** How long a merchant look-up stays trusted before the next draft asks Method again. */
const CACHE_HOURS = 24;

export class Preflight {
  private readonly running = new Map<string, Promise<'complete' | 'failed'>>();

  constructor(
    private readonly pool: Pool,
    private readonly client: Pick<MethodClient, 'listMerchants'>,
    private readonly log: (obj: Record<string, unknown>, msg: string) => void = () => {},
  ) {}

  /** Runs (or joins) the check of one batch. */
  run(batchId: string): Promise<'complete' | 'failed'> {
    let p = this.running.get(batchId);
    if (!p) {
      p = this.check(batchId).finally(() => this.running.delete(batchId));
      this.running.set(batchId, p);
    }
    return p;
  }

  /** Drafts whose check is pending or failed: retried by the worker's sweep loop. */
  async retryIncomplete(): Promise<void> {
    const { rows } = await this.pool.query(
      `SELECT id FROM batches WHERE status = 'awaiting_approval' AND preflight_status <> 'complete'
        AND (preflight_checked_at IS NULL OR preflight_checked_at < now() - interval '2 seconds') LIMIT 20`,
    );
    for (const r of rows) await this.run(r.id);
  }

  private async check(batchId: string): Promise<'complete' | 'failed'> {
    const { rows } = await this.pool.query(
      `SELECT DISTINCT l.plaid_id FROM batch_lines l
         LEFT JOIN plaid_merchants m ON m.plaid_id = l.plaid_id AND m.checked_at > now() - make_interval(hours => $2)
        WHERE l.batch_id = $1 AND m.plaid_id IS NULL`,
      [batchId, CACHE_HOURS],
    );
    let failed = 0;
    for (const { plaid_id: plaidId } of rows) {
      // Reads are cheap and idempotent: a few quick tries before calling the check failed.
      let r = await resolvePayableMerchant(this.client, plaidId, { timeoutMs: 10_000 });
      for (let i = 1; i < 3 && r.kind === 'error'; i++) {
        await new Promise((res) => setTimeout(res, 200 * i));
        r = await resolvePayableMerchant(this.client, plaidId, { timeoutMs: 10_000 });
      }
      if (r.kind === 'error') {
        // Keep resolving the others: what is found is cached, so the next run has less to do.
        this.log({ batchId, plaidId, outcome: r.outcome }, 'pre-flight: Method look-up failed; will retry');
        failed++;
        continue;
      }
      await this.pool.query(
        `INSERT INTO plaid_merchants (plaid_id, payable, merchant_id, merchant_name, reason, checked_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (plaid_id) DO UPDATE SET payable = EXCLUDED.payable, merchant_id = EXCLUDED.merchant_id,
           merchant_name = EXCLUDED.merchant_name, reason = EXCLUDED.reason, checked_at = now()`,
        r.kind === 'payable'
          ? [plaidId, true, r.merchantId, r.name, null]
          : [plaidId, false, null, null, r.reason],
      );
    }
    if (failed > 0) {
      await this.pool.query(
        "UPDATE batches SET preflight_status = 'failed', preflight_checked_at = now() WHERE id = $1",
        [batchId],
      );
      return 'failed';
    }
    await this.pool.query(
      `UPDATE batches SET preflight_status = 'complete', preflight_checked_at = now()
        WHERE id = $1 AND status = 'awaiting_approval'`,
      [batchId],
    );
    return 'complete';
  }
}
