// Batch use-cases: upload into a draft, read with summary, reject; the rules that span tables.
import type { Actor } from '../audit/audit.repository.js';
import { recordAudit } from '../audit/audit.repository.js';
import { type Pool, withTransaction } from '../db.js';
import { AppError } from '../errors.js';
import { IngestService } from '../ingest/ingest.service.js';
import type { Cipher } from '../secrets.js';
import {
  type Batch,
  type DraftLineFilter,
  getBatch,
  listBatches,
  listDraftLines,
  listWarnings,
  loadSummary,
  lockBatch,
} from './batches.repository.js';

export interface BatchesDeps {
  pool: Pool;
  cipher: Cipher;
  annualLimitCents: number;
  /** LoanPay's throttle on payment creation (0 = none), for the run-time estimate. */
  paymentsPerMinute: number;
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
    this.deps.onDraftCreated?.(batchId);
    return this.get(batchId, { summary: true });
  }

  async get(id: string, opts: { summary: boolean }): Promise<Batch> {
    const b = await getBatch(this.deps.pool, id);
    const { _row, ...batch } = b;
    const result: Batch = { ...batch, etaSeconds: this.draftEta(b.status, b.rowCount) };
    if (opts.summary) result.summary = await loadSummary(this.deps.pool, b);
    return result;
  }

  async list(opts: { before?: [string, string]; limit: number }): Promise<Batch[]> {
    const rows = await listBatches(this.deps.pool, opts);
    return rows.map((b) => ({ ...b, etaSeconds: this.draftEta(b.status, b.rowCount) }));
  }

  async warnings(id: string, opts: { code?: string; afterSeq?: number; limit: number }) {
    await getBatch(this.deps.pool, id);
    return listWarnings(this.deps.pool, id, opts);
  }

  async payments(id: string, filter: DraftLineFilter & { status?: string; group?: string }) {
    const b = await getBatch(this.deps.pool, id);
    if (b.status === 'awaiting_approval' || b.status === 'rejected') {
      // Drafts have lines, not payments: every line is `draft`, in no status group.
      if ((filter.status && filter.status !== 'draft') || filter.group) return [];
      return listDraftLines(this.deps.pool, b, filter);
    }
    throw new AppError('INVALID_STATE', 'Payments of approved batches are not available yet in this version');
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

  /** Before approval: how long the payable rows will take under LoanPay's throttle. */
  private draftEta(status: string, rowCount: number): number | null {
    if (status !== 'awaiting_approval' || this.deps.paymentsPerMinute === 0) return null;
    return Math.ceil((rowCount / this.deps.paymentsPerMinute) * 60);
  }
}
