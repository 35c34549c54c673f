// Works the webhook inbox: claims due events (SKIP LOCKED, so any number of workers share it),
// fetches each named payment from Method once — a webhook is a hint, the object is the truth —
// and applies its status forward only. Failures back off; after the last try the poller covers it.
import type { MethodClient } from '../../method/client.js';
import type { Pool } from '../db.js';
import { backoffMs } from '../execution/method.js';
import { refreshBatchStatuses } from '../execution/sweeper.js';
import { type ApplyResult, applyMethodPayment } from '../tracking/apply.js';

interface EventRow {
  id: number;
  event_id: string;
  type: string;
  resource_id: string;
  path: string | null;
  payload: { refs?: Record<string, unknown> };
  attempts: number;
}

export interface WebhookProcessorOptions {
  pool: Pool;
  client: Pick<MethodClient, 'getPayment'>;
  log?: (obj: Record<string, unknown>, msg: string) => void;
  /** Tries per event before it is left to the poller. */
  maxAttempts?: number;
  concurrency?: number;
}

/** The Method payment an event is about, or null for event types LoanPay does not track. */
export function paymentIdOf(e: Pick<EventRow, 'type' | 'resource_id' | 'path' | 'payload'>): string | null {
  const fromPath = e.path ? /^\/payments\/([A-Za-z0-9_-]+)(?:\/|$)/.exec(e.path)?.[1] : undefined;
  if (e.type === 'payment.create' || e.type === 'payment.update') return fromPath ?? e.resource_id;
  if (e.type.startsWith('payment_reversal.')) {
    const ref = e.payload.refs?.payment;
    return fromPath ?? (typeof ref === 'string' ? ref : null);
  }
  return null;
}

export class WebhookProcessor {
  private readonly maxAttempts: number;
  private readonly concurrency: number;

  constructor(private readonly opts: WebhookProcessorOptions) {
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.concurrency = opts.concurrency ?? 8;
  }

  /** Processes up to `limit` due events; returns how many it took. */
  async processDue(limit = 100): Promise<number> {
    const { rows } = await this.opts.pool.query<EventRow>(
      `UPDATE webhook_events e SET attempts = e.attempts + 1, next_attempt_at = now() + interval '60 seconds'
        WHERE e.id IN (SELECT id FROM webhook_events WHERE state = 'pending' AND next_attempt_at <= now()
                        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING e.id, e.event_id, e.type, e.resource_id, e.path, e.payload, e.attempts`,
      [limit],
    );
    if (rows.length === 0) return 0;
    // Several events about one payment (create, updates, redeliveries): one fetch answers them all.
    const byPayment = new Map<string, EventRow[]>();
    const ignored: EventRow[] = [];
    for (const e of rows) {
      const pmt = paymentIdOf(e);
      if (!pmt) ignored.push(e);
      else byPayment.set(pmt, [...(byPayment.get(pmt) ?? []), e]);
    }
    if (ignored.length) await this.finish(ignored, 'done', 'ignored_type');
    const batches = new Set<string>();
    const work = [...byPayment.entries()];
    let next = 0;
    const run = async () => {
      while (next < work.length) {
        const [pmt, events] = work[next++];
        const r = await this.handle(pmt, events).catch((err: Error) => {
          this.opts.log?.({ err, methodPaymentId: pmt }, 'webhook processing failed; will retry');
          return this.retry(events, `error: ${err.message}`).then(() => null);
        });
        if (r?.outcome === 'applied' && r.batchId) batches.add(r.batchId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, work.length) }, run));
    for (const b of batches) await refreshBatchStatuses(this.opts.pool, b);
    return rows.length;
  }

  private async handle(methodPaymentId: string, events: EventRow[]): Promise<ApplyResult | null> {
    const got = await this.opts.client.getPayment(methodPaymentId, { timeoutMs: 10_000 });
    if (got.kind === 'definite_failure') {
      await this.finish(events, 'done', `method_${got.status}`, got.error.message);
      return null;
    }
    if (got.kind !== 'ok') {
      await this.retry(events, `method ${got.kind}: ${got.reason}`);
      return null;
    }
    const r = await applyMethodPayment(this.opts.pool, got.data, {
      cause: 'webhook',
      detail: {
        eventIds: events.map((e) => e.event_id),
        eventTypes: [...new Set(events.map((e) => e.type))],
      },
      log: this.opts.log,
      refreshBatch: false,
    });
    if (r.outcome === 'unmatched') {
      // Often a payment.create that beat the worker's commit: try again shortly, then leave it to
      // the poller (which finds every payment of ours by its own id).
      await this.retry(events, 'no LoanPay payment holds this Method payment (yet)');
      return r;
    }
    await this.finish(events, 'done', r.outcome);
    return r;
  }

  private async retry(events: EventRow[], why: string): Promise<void> {
    const attempts = Math.max(...events.map((e) => e.attempts));
    if (attempts >= this.maxAttempts) {
      await this.finish(events, 'given_up', 'given_up', why);
      return;
    }
    await this.opts.pool.query(
      `UPDATE webhook_events SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
        WHERE id = ANY ($1::bigint[]) AND state = 'pending'`,
      [events.map((e) => e.id), backoffMs(attempts - 1, 500, 60_000) / 1000, why],
    );
  }

  private async finish(events: EventRow[], state: 'done' | 'given_up', outcome: string, error?: string) {
    await this.opts.pool.query(
      `UPDATE webhook_events SET state = $2, outcome = $3, processed_at = now(), last_error = coalesce($4, last_error)
        WHERE id = ANY ($1::bigint[])`,
      [events.map((e) => e.id), state, outcome, error ?? null],
    );
  }
}
