// The simulator's two background loops: the payment lifecycle (moves due payments one status on,
// on SIMULATOR_STEP_MS) and the webhook dispatcher (delivers the outbox with Method's retry and
// auto-disable policy, applying the webhook drop/duplicate faults).
import type { Logger } from 'pino';
import { request } from 'undici';
import type { Payment } from '../method/types.js';
import { webhookHeaders } from '../method/webhook-signature.js';
import type { Queryable } from '../server/db.js';
import { type Pool, withTransaction } from '../server/db.js';
import type { FaultController } from './faults.js';
import { applyStatus, movesOnItsOwn, nextAutomaticStep, type Step } from './lifecycle.js';
import { buildReversal } from './resources.js';
import {
  claimDeliveries,
  finishDelivery,
  insertReversal,
  lockDuePayments,
  type NewEvent,
  type PaymentRow,
  type PaymentUpdate,
  recordEvents,
  recordWebhookAttempt,
  updatePayments,
} from './store.js';

export function paymentEvent(
  p: Payment,
  destinationHolderId: string,
  before: Payment | null,
  now: string,
): NewEvent {
  return {
    type: before ? 'payment.update' : 'payment.create',
    op: before ? 'update' : 'create',
    resourceId: p.id,
    resourceType: 'payment',
    path: `/payments/${p.id}`,
    refs: { entity: destinationHolderId },
    data: p,
    diff: before ? { before: { status: before.status }, after: { status: p.status } } : null,
    now,
  };
}

/**
 * Applies one status step to a locked payment: the new object, its update row, and the events
 * (payment.update, plus payment_reversal.create when a reversal is opened). Writes the reversal.
 */
export async function applyPaymentStep(
  tx: Queryable,
  row: PaymentRow,
  step: Step,
  opts: { now: string; stepMs: number },
): Promise<{ update: PaymentUpdate; events: NewEvent[] }> {
  const wasSent = row.wasSent || step.status === 'sent';
  const events: NewEvent[] = [];
  let reversalId = row.data.reversal_id;
  if (step.status === 'reversal_required') {
    const reversal = buildReversal(row.data, opts.now);
    await insertReversal(tx, reversal);
    reversalId = reversal.id;
    events.push({
      type: 'payment_reversal.create',
      op: 'create',
      resourceId: reversal.id,
      resourceType: 'payment_reversal',
      path: `/payments/${row.id}/reversals/${reversal.id}`,
      refs: { payment: row.id },
      data: reversal,
      diff: null,
      now: opts.now,
    });
  }
  const data = applyStatus(row.data, step, { wasSent: row.wasSent, reversalId, now: opts.now });
  events.unshift(paymentEvent(data, row.destinationHolderId, row.data, opts.now));
  return {
    update: {
      id: row.id,
      status: step.status,
      wasSent,
      nextStepAt: movesOnItsOwn(step.status) ? new Date(Date.parse(opts.now) + opts.stepMs) : null,
      reversalId,
      data,
    },
    events,
  };
}

/** Moves every due payment one step; returns how many it looked at. */
export async function tickLifecycle(pool: Pool, stepMs: number, limit = 500): Promise<number> {
  return withTransaction(pool, async (tx) => {
    const due = await lockDuePayments(tx, limit);
    if (due.length === 0) return 0;
    const now = new Date().toISOString();
    const updates: PaymentUpdate[] = [];
    const events: NewEvent[] = [];
    for (const row of due) {
      const step = nextAutomaticStep(row);
      if (!step) {
        updates.push({
          id: row.id,
          status: row.status,
          wasSent: row.wasSent,
          nextStepAt: null,
          reversalId: row.data.reversal_id,
          data: row.data,
        });
        continue;
      }
      const r = await applyPaymentStep(tx, row, step, { now, stepMs });
      updates.push(r.update);
      events.push(...r.events);
    }
    await updatePayments(tx, updates);
    await recordEvents(tx, events);
    return due.length;
  });
}

export interface DispatcherOptions {
  retryBaseMs: number;
  timeoutMs: number;
  disableAfter: number;
  maxAttempts: number;
  concurrency: number;
}

/** Delivers what is due; returns how many deliveries it handled. */
export async function dispatchWebhooks(
  pool: Pool,
  faults: FaultController,
  logger: Logger | undefined,
  opts: DispatcherOptions,
): Promise<number> {
  const batch = await claimDeliveries(pool, 100);
  let next = 0;
  const worker = async () => {
    while (next < batch.length) {
      const d = batch[next++];
      const now = new Date().toISOString();
      if (d.webhookStatus !== 'active') {
        await finishDelivery(pool, d.id, { status: 'skipped', sent: 0, statusCode: null });
        continue;
      }
      if (faults.fires('webhookDropRate')) {
        await finishDelivery(pool, d.id, { status: 'dropped', sent: 0, statusCode: null });
        continue;
      }
      const copies = faults.fires('webhookDuplicateRate') ? 2 : 1;
      let statusCode: number | null = null;
      let failure: 'timeout' | 'other' | null = null;
      let sent = 0;
      for (let i = 0; i < copies; i++) {
        const r = await post(d.url, JSON.stringify(d.payload), d.authToken, d.hmacSecret, opts.timeoutMs);
        sent++;
        if (i === 0) {
          statusCode = r.statusCode;
          failure = r.failure;
        }
      }
      const ok = statusCode === 200;
      if (ok) {
        await finishDelivery(pool, d.id, { status: 'delivered', sent, statusCode });
      } else if (d.attempts >= opts.maxAttempts) {
        await finishDelivery(pool, d.id, { status: 'failed', sent, statusCode });
      } else {
        const retryInMs = opts.retryBaseMs * 2 ** (d.attempts - 1);
        await finishDelivery(pool, d.id, { status: 'pending', sent, statusCode, retryInMs });
      }
      const disabled = await recordWebhookAttempt(
        pool,
        d.webhookId,
        ok,
        opts.disableAfter,
        ok ? null : disableError(statusCode, failure),
        now,
      );
      if (disabled) logger?.warn({ webhookId: d.webhookId }, 'webhook disabled after consecutive failures');
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, batch.length) }, worker));
  return batch.length;
}

function disableError(statusCode: number | null, failure: 'timeout' | 'other' | null) {
  if (statusCode !== null && statusCode >= 400 && statusCode < 500) {
    return {
      code: 25002,
      sub_type: 'WEBHOOK_DISABLED_RECEIVED_4XX_ERROR',
      message: 'Webhook disabled after 5 consecutive 4XX errors.',
    };
  }
  if (statusCode !== null && statusCode >= 500) {
    return {
      code: 25003,
      sub_type: 'WEBHOOK_DISABLED_RECEIVED_5XX_ERROR',
      message: 'Webhook disabled after 5 consecutive 5XX errors.',
    };
  }
  if (failure === 'timeout') {
    return {
      code: 25004,
      sub_type: 'WEBHOOK_DISABLED_TIMEOUT',
      message: 'Webhook disabled after 5 consecutive timeouts.',
    };
  }
  return {
    code: 25001,
    sub_type: 'WEBHOOK_DISABLED_FAILED_OTHER',
    message: 'Webhook disabled after 5 consecutive failures.',
  };
}

async function post(
  url: string,
  rawBody: string,
  authToken: string | null,
  hmacSecret: string | null,
  timeoutMs: number,
): Promise<{ statusCode: number | null; failure: 'timeout' | 'other' | null }> {
  try {
    const res = await request(url, {
      method: 'POST',
      body: rawBody,
      headers: webhookHeaders({ rawBody, authToken, hmacSecret }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body.dump();
    return { statusCode: res.statusCode, failure: null };
  } catch (err) {
    const name = (err as Error).name;
    return {
      statusCode: null,
      failure: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'other',
    };
  }
}
