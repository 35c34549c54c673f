// Batch use-cases: upload into a draft, read with summary, reject; the rules that span tables.
import type { Actor } from '../audit/audit.repository.js';
import { recordAudit } from '../audit/audit.repository.js';
import { type Pool, refreshStatistics, withTransaction } from '../db.js';
import { AppError } from '../errors.js';
import { IngestService } from '../ingest/ingest.service.js';
import { listPayments, type PaymentFilter } from '../payments/payments.service.js';
import type { Cipher } from '../secrets.js';
import { approveBatch } from './approval.js';
import {
  type Batch,
  type DraftLineFilter,
  getBatch,
  groupTotals,
  listBatches,
  listDraftLines,
  listWarnings,
  loadAggregates,
  loadSummary,
  lockBatch,
} from './batches.repository.js';
import { cancelBatch, setPaused } from './controls.js';

export interface BatchesDeps {
  pool: Pool;
  cipher: Cipher;
  annualLimitCents: number;
  /** LoanPay's throttle on payment creation (0 = none), for the run-time estimate. */
  paymentsPerMinute: number;
  requireSecondApprover: boolean;
  /** Called after a draft is committed (the review pre-flight); failures never fail the upload. */
  onDraftCreated?: (batchId: string) => void;
}

export class BatchesService {
  private readonly ingest: IngestService;

  constructor(private readonly deps: BatchesDeps) {
    this.ingest = new IngestService(deps);
  }

  async upload(input: {
    fileName: string;
    body: AsyncIterable<Buffer>;
    maxBytes: number;
    actor: Actor;
  }): Promise<Batch> {
    const { batchId } = await this.ingest.ingest(input);
    const batch = await this.get(batchId, { summary: true });
    // After the answer is ready: the ANALYZE of 50k new lines would otherwise compete with it for
    // the same two cores.
    void refreshStatistics(this.deps.pool, 'employees, loans, batch_lines');
    this.deps.onDraftCreated?.(batchId);
    return batch;
  }

  async get(id: string, opts: { summary: boolean }): Promise<Batch> {
    const b = await getBatch(this.deps.pool, id);
    const { _row, ...batch } = b;
    const cells = b.approvedAt ? await loadAggregates(this.deps.pool, id) : [];
    const result: Batch = { ...batch, ...groupTotals(cells), etaSeconds: await this.eta(b) };
    if (opts.summary) result.summary = await loadSummary(this.deps.pool, b, cells);
    return result;
  }

  async list(opts: { before?: [string, string]; limit: number }): Promise<Batch[]> {
    const rows = await listBatches(this.deps.pool, opts);
    return Promise.all(
      rows.map(async (b) => {
        const cells = b.approvedAt ? await loadAggregates(this.deps.pool, b.id) : [];
        return { ...b, ...groupTotals(cells), etaSeconds: await this.eta(b) };
      }),
    );
  }

  async approve(id: string, actor: Actor): Promise<Batch> {
    await getBatch(this.deps.pool, id);
    await withTransaction(this.deps.pool, (tx) =>
      approveBatch(tx, id, actor, { requireSecondApprover: this.deps.requireSecondApprover }),
    );
    void refreshStatistics(this.deps.pool, 'payments, payment_events, batch_aggregate_deltas');
    return this.get(id, { summary: false });
  }

  async pause(id: string, actor: Actor, paused: boolean): Promise<Batch> {
    await withTransaction(this.deps.pool, (tx) => setPaused(tx, id, paused, actor));
    return this.get(id, { summary: false });
  }

  async cancel(id: string, reason: string, actor: Actor): Promise<Batch> {
    await withTransaction(this.deps.pool, (tx) => cancelBatch(tx, id, reason, actor));
    return this.get(id, { summary: false });
  }

  async warnings(id: string, opts: { code?: string; afterSeq?: number; limit: number }) {
    await getBatch(this.deps.pool, id);
    return listWarnings(this.deps.pool, id, opts);
  }

  async payments(id: string, filter: DraftLineFilter & PaymentFilter) {
    const b = await getBatch(this.deps.pool, id);
    if (!b.approvedAt) {
      // Drafts have lines, not payments: every line is `draft`, in no status group.
      if ((filter.status && filter.status !== 'draft') || filter.group) return [];
      return listDraftLines(this.deps.pool, b, filter);
    }
    if (filter.status === 'draft') return [];
    return listPayments(this.deps.pool, { batchId: id }, filter);
  }

  async reject(id: string, reason: string, actor: Actor): Promise<Batch> {
    await withTransaction(this.deps.pool, async (tx) => {
      const b = await lockBatch(tx, id);
      if (b.status !== 'awaiting_approval') {
        throw new AppError(
          'INVALID_STATE',
          `Only a batch awaiting approval can be rejected; this one is ${b.status}`,
          { status: b.status },
        );
      }
      await tx.query(
        "UPDATE batches SET status = 'rejected', rejected_at = now(), rejected_by = $2, reject_reason = $3 WHERE id = $1",
        [id, actor.userId, reason],
      );
      await recordAudit(tx, actor, 'batch.reject', 'batch', id, { reason });
    });
    return this.get(id, { summary: false });
  }

  /**
   * How long the payments still to be created will take under LoanPay's throttle: before approval
   * the payable rows (all rows until the pre-flight knows), after it those not yet at Method.
   */
  private async eta(b: Batch): Promise<number | null> {
    const rate = this.deps.paymentsPerMinute;
    if (
      rate === 0 ||
      !['awaiting_approval', 'approved', 'executing', 'paused', 'cancelling'].includes(b.status)
    )
      return null;
    const { rows } = await this.deps.pool.query(
      b.approvedAt
        ? `SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status IN ('queued', 'retry_scheduled', 'submitting', 'unknown')`
        : `SELECT count(*)::int AS n FROM batch_lines l LEFT JOIN plaid_merchants m ON m.plaid_id = l.plaid_id
            WHERE l.batch_id = $1 AND m.payable IS DISTINCT FROM false`,
      [b.id],
    );
    return Math.ceil((rows[0].n / rate) * 60);
  }
}
