// The simulator's PostgreSQL repository: every read and write of sim_* tables, including the
// idempotency store and the webhook outbox. Every change is committed before the caller answers.
import type pg from 'pg';
import type { Account, Entity, Payment, Reversal, Webhook } from '../method/types.js';
import type { Pool, Queryable } from '../server/db.js';
import type { Fate } from './lifecycle.js';
import { newId } from './resources.js';

export const IDEMPOTENCY_TTL = "interval '24 hours'";

export interface StoredResponse {
  requestHash: string;
  statusCode: number;
  body: unknown;
  requestId: string;
}

export interface NewEvent {
  type: string;
  op: string;
  resourceId: string;
  resourceType: string;
  path: string;
  refs: Record<string, string>;
  data: unknown;
  diff: { before: unknown; after: unknown } | null;
  now: string;
}

export interface PaymentRow {
  id: string;
  status: string;
  fate: Fate;
  wasSent: boolean;
  destinationType: string;
  destinationHolderId: string;
  data: Payment;
}

/** A query result's rows typed by the caller; the SQL decides their shape. */
async function rows<T>(db: Queryable, text: string, values: unknown[] = [], name?: string): Promise<T[]> {
  const r = await db.query(name ? { name, text, values } : { text, values });
  return r.rows as T[];
}

// ---- idempotency ------------------------------------------------------------------------------------

export async function findStoredResponse(
  db: Queryable,
  apiKey: string,
  key: string,
): Promise<StoredResponse | null> {
  const [row] = await rows<{ request_hash: string; status_code: number; body: unknown; request_id: string }>(
    db,
    `SELECT request_hash, status_code, body, request_id FROM sim_idempotency_keys
      WHERE api_key = $1 AND key = $2 AND created_at > now() - ${IDEMPOTENCY_TTL}`,
    [apiKey, key],
    'sim_find_key',
  );
  return row
    ? {
        requestHash: row.request_hash,
        statusCode: row.status_code,
        body: row.body,
        requestId: row.request_id,
      }
    : null;
}

/** Claims a key inside a transaction: true when it is ours (new, or expired and taken over). */
export async function claimKey(
  db: Queryable,
  apiKey: string,
  key: string,
  hash: string,
  requestId: string,
): Promise<boolean> {
  const r = await db.query({
    name: 'sim_claim_key',
    text: `INSERT INTO sim_idempotency_keys (api_key, key, request_hash, status_code, body, request_id)
           VALUES ($1, $2, $3, 0, 'null', $4)
           ON CONFLICT (api_key, key) DO UPDATE
             SET request_hash = EXCLUDED.request_hash, status_code = 0, body = 'null',
                 request_id = EXCLUDED.request_id, replays = 0, created_at = now()
           WHERE sim_idempotency_keys.created_at <= now() - ${IDEMPOTENCY_TTL}
           RETURNING 1`,
    values: [apiKey, key, hash, requestId],
  });
  return r.rowCount === 1;
}

export async function saveResponse(
  db: Queryable,
  apiKey: string,
  key: string,
  status: number,
  body: unknown,
) {
  await db.query({
    name: 'sim_save_key',
    text: 'UPDATE sim_idempotency_keys SET status_code = $3, body = $4 WHERE api_key = $1 AND key = $2',
    values: [apiKey, key, status, JSON.stringify(body)],
  });
}

export async function countReplay(db: Queryable, apiKey: string, key: string): Promise<void> {
  await db.query('UPDATE sim_idempotency_keys SET replays = replays + 1 WHERE api_key = $1 AND key = $2', [
    apiKey,
    key,
  ]);
}

export async function purgeExpiredKeys(db: Queryable): Promise<number> {
  const r = await db.query(`DELETE FROM sim_idempotency_keys WHERE created_at <= now() - ${IDEMPOTENCY_TTL}`);
  return r.rowCount ?? 0;
}

// ---- events and the webhook outbox ------------------------------------------------------------------

function eventObject(id: string, e: NewEvent) {
  return {
    id,
    type: e.type,
    resource_id: e.resourceId,
    resource_type: e.resourceType,
    related_ids: Object.values(e.refs),
    data: e.data,
    diff: e.diff,
    created_at: e.now,
    updated_at: e.now,
  };
}

const DELIVERIES_FROM_EVENTS = `
  INSERT INTO sim_webhook_deliveries (webhook_id, event_id, payload)
  SELECT w.id, ev.id, jsonb_build_object('webhook_id', w.id, 'id', ev.resource_id, 'type', ev.type, 'op', ev.op,
                                         'path', ev.path, 'event', ev.id, 'refs', ev.refs)
    FROM ev JOIN sim_webhooks w ON w.type = ev.type AND w.status = 'active'`;

/** Records events and queues one delivery per active webhook of each event's type. */
export async function recordEvents(db: Queryable, events: NewEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const ids = events.map(() => newId('evt'));
  const r = await db.query({
    name: 'sim_record_events',
    text: `WITH ev AS (
             INSERT INTO sim_events (id, type, op, resource_id, resource_type, path, refs, data)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[])
             RETURNING id, type, op, resource_id, path, refs)
           ${DELIVERIES_FROM_EVENTS}`,
    values: [
      ids,
      events.map((e) => e.type),
      events.map((e) => e.op),
      events.map((e) => e.resourceId),
      events.map((e) => e.resourceType),
      events.map((e) => e.path),
      events.map((e) => JSON.stringify(e.refs)),
      events.map((e, i) => JSON.stringify(eventObject(ids[i], e))),
    ],
  });
  return r.rowCount ?? 0;
}

export async function getEvent(db: Queryable, id: string): Promise<unknown | null> {
  const [row] = await rows<{ data: unknown }>(db, 'SELECT data FROM sim_events WHERE id = $1', [id]);
  return row ? row.data : null;
}

// ---- payment creation: one statement ------------------------------------------------------------------

export interface PaymentCreateWrite {
  apiKey: string;
  key: string | null;
  hash: string;
  requestId: string;
  status: number;
  body: unknown;
  payment: {
    data: Payment;
    fate: Fate;
    sourceHolderId: string;
    destinationHolderId: string;
    destinationType: string;
    nextStepAt: Date;
    event: NewEvent;
  } | null;
}

/** The payment, its event and deliveries; parameters numbered from `base + 1`. */
function paymentInsert(base: number, gate: string): string {
  const $ = (i: number) => `$${base + i}`;
  return `
  p AS (
    INSERT INTO sim_payments (id, status, fate, next_step_at, source, destination, destination_type,
                              source_holder_id, destination_holder_id, data, created_at)
    SELECT ${$(1)}, 'pending', ${$(2)}, ${$(3)}, ${$(4)}, ${$(5)}, ${$(6)}, ${$(7)}, ${$(8)}, ${$(9)}::jsonb,
           ${$(10)}::timestamptz ${gate}
    RETURNING id),
  ev AS (
    INSERT INTO sim_events (id, type, op, resource_id, resource_type, path, refs, data)
    SELECT ${$(11)}, 'payment.create', 'create', p.id, 'payment', '/payments/' || p.id, ${$(12)}::jsonb, ${$(13)}::jsonb
      FROM p
    RETURNING id, type, op, resource_id, path, refs),
  d AS (${DELIVERIES_FROM_EVENTS} RETURNING 1)`;
}

/**
 * Stores a payment-creation answer and (when it created one) the payment, its event and its
 * webhook deliveries, in ONE statement: one round trip, atomic, durable once it returns.
 * Returns false when the key was taken meanwhile by a concurrent request (the caller replays it).
 */
export async function writePaymentCreate(db: Queryable, w: PaymentCreateWrite): Promise<boolean> {
  const keyCte = `k AS (
    INSERT INTO sim_idempotency_keys (api_key, key, request_hash, status_code, body, request_id)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6)
    ON CONFLICT (api_key, key) DO UPDATE
      SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code, body = EXCLUDED.body,
          request_id = EXCLUDED.request_id, replays = 0, created_at = now()
    WHERE sim_idempotency_keys.created_at <= now() - ${IDEMPOTENCY_TTL}
    RETURNING 1)`;
  const keyValues = [w.apiKey, w.key, w.hash, w.status, JSON.stringify(w.body), w.requestId];
  if (!w.payment) {
    if (w.key === null) return true;
    const r = await db.query({
      name: 'sim_pc_key',
      text: `WITH ${keyCte} SELECT count(*)::int AS n FROM k`,
      values: keyValues,
    });
    return r.rows[0].n === 1;
  }
  const p = w.payment;
  const eventId = newId('evt');
  const paymentValues = [
    p.data.id,
    p.fate,
    p.nextStepAt,
    p.data.source,
    p.data.destination,
    p.destinationType,
    p.sourceHolderId,
    p.destinationHolderId,
    JSON.stringify(p.data),
    p.data.created_at,
    eventId,
    JSON.stringify(p.event.refs),
    JSON.stringify(eventObject(eventId, p.event)),
  ];
  if (w.key === null) {
    await db.query({
      name: 'sim_pc_nokey',
      text: `WITH ${paymentInsert(0, '')} SELECT 1`,
      values: paymentValues,
    });
    return true;
  }
  const r = await db.query({
    name: 'sim_pc_key_payment',
    text: `WITH ${keyCte}, ${paymentInsert(6, 'WHERE EXISTS (SELECT 1 FROM k)')} SELECT count(*)::int AS n FROM k`,
    values: [...keyValues, ...paymentValues],
  });
  return r.rows[0].n === 1;
}

// ---- entities and accounts ----------------------------------------------------------------------------

export async function insertEntity(db: Queryable, e: Entity): Promise<void> {
  await db.query('INSERT INTO sim_entities (id, status, data, created_at) VALUES ($1, $2, $3, $4)', [
    e.id,
    e.status,
    JSON.stringify(e),
    e.created_at,
  ]);
}

export async function updateEntity(db: Queryable, e: Entity): Promise<void> {
  await db.query('UPDATE sim_entities SET status = $2, data = $3 WHERE id = $1', [
    e.id,
    e.status,
    JSON.stringify(e),
  ]);
}

export async function findEntity(db: Queryable, id: string, lock = false): Promise<Entity | null> {
  const [row] = await rows<{ data: Entity }>(
    db,
    `SELECT data FROM sim_entities WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return row ? row.data : null;
}

export async function insertEntitySession(
  db: Queryable,
  s: { id: string; entity_id: string; created_at: string },
) {
  await db.query(
    'INSERT INTO sim_entity_verification_sessions (id, entity_id, data, created_at) VALUES ($1, $2, $3, $4)',
    [s.id, s.entity_id, JSON.stringify(s), s.created_at],
  );
}

export async function findEntitySession(
  db: Queryable,
  entityId: string,
  id: string,
): Promise<unknown | null> {
  const [row] = await rows<{ data: unknown }>(
    db,
    'SELECT data FROM sim_entity_verification_sessions WHERE id = $1 AND entity_id = $2',
    [id, entityId],
  );
  return row ? row.data : null;
}

export async function insertAccount(db: Queryable, a: Account): Promise<void> {
  await db.query(
    'INSERT INTO sim_accounts (id, holder_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5)',
    [a.id, a.holder_id, a.type, JSON.stringify(a), a.created_at],
  );
}

export async function updateAccount(db: Queryable, a: Account): Promise<void> {
  await db.query('UPDATE sim_accounts SET data = $2 WHERE id = $1', [a.id, JSON.stringify(a)]);
}

export async function findAccount(db: Queryable, id: string, lock = false): Promise<Account | null> {
  const [row] = await rows<{ data: Account }>(
    db,
    `SELECT data FROM sim_accounts WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return row ? row.data : null;
}

export async function insertAccountSession(
  db: Queryable,
  s: { id: string; account_id: string; created_at: string },
) {
  await db.query(
    'INSERT INTO sim_account_verification_sessions (id, account_id, data, created_at) VALUES ($1, $2, $3, $4)',
    [s.id, s.account_id, JSON.stringify(s), s.created_at],
  );
}

// ---- lists with Method's pagination -------------------------------------------------------------------

export interface ListPage<T> {
  items: T[];
  page: number;
  pageLimit: number;
  totalCount: number;
  pageCount: number;
  cursorNext: string | null;
  cursorPrev: string | null;
}

export interface ListSpec {
  table: 'sim_entities' | 'sim_accounts' | 'sim_payments' | 'sim_webhooks' | 'sim_events';
  /** SQL conditions with $n placeholders numbered from 1, and their values. */
  where: string[];
  values: unknown[];
  page: number;
  pageLimit: number;
  cursor: string | null;
}

/** Newest first; `page_cursor` names the last id seen (Method: mutually exclusive with `page`). */
export async function listPage<T>(db: Queryable, spec: ListSpec): Promise<ListPage<T>> {
  const where = spec.where.length ? `WHERE ${spec.where.join(' AND ')}` : '';
  const [{ n }] = await rows<{ n: number }>(
    db,
    `SELECT count(*)::int AS n FROM ${spec.table} t ${where}`,
    spec.values,
  );
  const values = [...spec.values];
  const conds = [...spec.where];
  let offset = (spec.page - 1) * spec.pageLimit;
  if (spec.cursor) {
    values.push(spec.cursor);
    conds.push(`t.seq < (SELECT seq FROM ${spec.table} WHERE id = $${values.length})`);
    offset = 0;
  }
  values.push(spec.pageLimit + 1, offset);
  const items = await rows<{ id: string; data: T }>(
    db,
    `SELECT t.id, t.data FROM ${spec.table} t ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''}
      ORDER BY t.seq DESC LIMIT $${values.length - 1} OFFSET $${values.length}`,
    values,
  );
  const more = items.length > spec.pageLimit;
  const page = items.slice(0, spec.pageLimit);
  return {
    items: page.map((r) => r.data),
    page: spec.cursor ? 1 : spec.page,
    pageLimit: spec.pageLimit,
    totalCount: n,
    pageCount: Math.max(1, Math.ceil(n / spec.pageLimit)),
    cursorNext: more && page.length ? page[page.length - 1].id : null,
    cursorPrev: spec.cursor && page.length ? page[0].id : null,
  };
}

// ---- payments and reversals ----------------------------------------------------------------------------

const PAYMENT_COLUMNS = 'id, status, fate, was_sent, destination_type, destination_holder_id, data';

function toPaymentRow(r: {
  id: string;
  status: string;
  fate: Fate;
  was_sent: boolean;
  destination_type: string;
  destination_holder_id: string;
  data: Payment;
}): PaymentRow {
  return {
    id: r.id,
    status: r.status,
    fate: r.fate,
    wasSent: r.was_sent,
    destinationType: r.destination_type,
    destinationHolderId: r.destination_holder_id,
    data: r.data,
  };
}

export async function findPayment(db: Queryable, id: string, lock = false): Promise<PaymentRow | null> {
  const [row] = await rows<Parameters<typeof toPaymentRow>[0]>(
    db,
    `SELECT ${PAYMENT_COLUMNS} FROM sim_payments WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return row ? toPaymentRow(row) : null;
}

/** Due payments, locked; skipped by a concurrent tick. */
export async function lockDuePayments(db: Queryable, limit: number): Promise<PaymentRow[]> {
  const r = await rows<Parameters<typeof toPaymentRow>[0]>(
    db,
    `SELECT ${PAYMENT_COLUMNS} FROM sim_payments
      WHERE next_step_at <= now() ORDER BY next_step_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
    'sim_due_payments',
  );
  return r.map(toPaymentRow);
}

export interface PaymentUpdate {
  id: string;
  status: string;
  wasSent: boolean;
  nextStepAt: Date | null;
  reversalId: string | null;
  data: Payment;
}

export async function updatePayments(db: Queryable, updates: PaymentUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await db.query({
    name: 'sim_update_payments',
    text: `UPDATE sim_payments p
              SET status = u.status, was_sent = u.was_sent, next_step_at = u.next_step_at,
                  reversal_id = u.reversal_id, data = u.data
             FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[], $5::text[], $6::jsonb[])
                  AS u(id, status, was_sent, next_step_at, reversal_id, data)
            WHERE p.id = u.id`,
    values: [
      updates.map((u) => u.id),
      updates.map((u) => u.status),
      updates.map((u) => u.wasSent),
      updates.map((u) => u.nextStepAt),
      updates.map((u) => u.reversalId),
      updates.map((u) => JSON.stringify(u.data)),
    ],
  });
}

export async function insertReversal(db: Queryable, r: Reversal): Promise<void> {
  await db.query(
    'INSERT INTO sim_reversals (id, pmt_id, status, data, created_at) VALUES ($1, $2, $3, $4, $5)',
    [r.id, r.pmt_id, r.status, JSON.stringify(r), r.created_at],
  );
}

export async function updateReversal(db: Queryable, r: Reversal): Promise<void> {
  await db.query('UPDATE sim_reversals SET status = $2, data = $3 WHERE id = $1', [
    r.id,
    r.status,
    JSON.stringify(r),
  ]);
}

export async function findReversal(
  db: Queryable,
  pmtId: string,
  id: string,
  lock = false,
): Promise<Reversal | null> {
  const [row] = await rows<{ data: Reversal }>(
    db,
    `SELECT data FROM sim_reversals WHERE id = $1 AND pmt_id = $2${lock ? ' FOR UPDATE' : ''}`,
    [id, pmtId],
  );
  return row ? row.data : null;
}

export async function findReversalsOfPayments(db: Queryable, pmtIds: string[]): Promise<Reversal[]> {
  const r = await rows<{ data: Reversal }>(
    db,
    'SELECT data FROM sim_reversals WHERE pmt_id = ANY($1::text[]) ORDER BY created_at DESC',
    [pmtIds],
  );
  return r.map((x) => x.data);
}

// ---- webhooks and deliveries ------------------------------------------------------------------------

export interface WebhookRow {
  webhook: Webhook;
  authToken: string | null;
  hmacSecret: string | null;
  consecutiveFailures: number;
}

export async function insertWebhook(db: Queryable, w: WebhookRow): Promise<void> {
  await db.query(
    'INSERT INTO sim_webhooks (id, type, url, auth_token, hmac_secret, status, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
    [
      w.webhook.id,
      w.webhook.type,
      w.webhook.url,
      w.authToken,
      w.hmacSecret,
      w.webhook.status,
      JSON.stringify(w.webhook),
      w.webhook.created_at,
    ],
  );
}

export async function findWebhook(db: Queryable, id: string, lock = false): Promise<Webhook | null> {
  const [row] = await rows<{ data: Webhook }>(
    db,
    `SELECT data FROM sim_webhooks WHERE id = $1 AND status <> 'deleted'${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return row ? row.data : null;
}

export async function setWebhookStatus(db: Queryable, w: Webhook, resetFailures: boolean): Promise<void> {
  await db.query(
    `UPDATE sim_webhooks SET status = $2, data = $3,
            consecutive_failures = CASE WHEN $4 THEN 0 ELSE consecutive_failures END
      WHERE id = $1`,
    [w.id, w.status, JSON.stringify(w), resetFailures],
  );
}

export interface ClaimedDelivery {
  id: number;
  webhookId: string;
  payload: Record<string, unknown>;
  attempts: number;
  url: string;
  authToken: string | null;
  hmacSecret: string | null;
  webhookStatus: string;
}

/** Takes due deliveries with a lease (pushes their next attempt 60 s out) so no HTTP call runs in a transaction. */
export async function claimDeliveries(db: Queryable, limit: number): Promise<ClaimedDelivery[]> {
  const r = await rows<{
    id: number;
    webhook_id: string;
    payload: Record<string, unknown>;
    attempts: number;
    url: string;
    auth_token: string | null;
    hmac_secret: string | null;
    status: string;
  }>(
    db,
    `WITH c AS (
       UPDATE sim_webhook_deliveries d SET next_attempt_at = now() + interval '60 seconds', attempts = d.attempts + 1
        WHERE d.id IN (SELECT id FROM sim_webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
                        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING d.id, d.webhook_id, d.payload, d.attempts)
     SELECT c.*, w.url, w.auth_token, w.hmac_secret, w.status FROM c JOIN sim_webhooks w ON w.id = c.webhook_id
      ORDER BY c.id`,
    [limit],
    'sim_claim_deliveries',
  );
  return r.map((x) => ({
    id: x.id,
    webhookId: x.webhook_id,
    payload: x.payload,
    attempts: x.attempts,
    url: x.url,
    authToken: x.auth_token,
    hmacSecret: x.hmac_secret,
    webhookStatus: x.status,
  }));
}

export async function finishDelivery(
  db: Queryable,
  id: number,
  outcome: {
    status: 'delivered' | 'failed' | 'dropped' | 'skipped' | 'pending';
    sent: number;
    statusCode: number | null;
    retryInMs?: number;
  },
): Promise<void> {
  await db.query(
    `UPDATE sim_webhook_deliveries
        SET status = $2, sent_count = sent_count + $3, last_status_code = $4,
            next_attempt_at = now() + make_interval(secs => $5::double precision / 1000)
      WHERE id = $1`,
    [id, outcome.status, outcome.sent, outcome.statusCode, outcome.retryInMs ?? 0],
  );
}

/**
 * Counts a delivery attempt against its webhook: success resets the run of failures; the
 * `disableAfter`-th consecutive failure disables the webhook (method.md §6.4) and returns true.
 */
export async function recordWebhookAttempt(
  pool: Pool,
  webhookId: string,
  ok: boolean,
  disableAfter: number,
  error: { code: number; sub_type: string; message: string } | null,
  now: string,
): Promise<boolean> {
  if (ok) {
    await pool.query(
      'UPDATE sim_webhooks SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0',
      [webhookId],
    );
    return false;
  }
  const r = await pool.query(
    `UPDATE sim_webhooks
        SET consecutive_failures = consecutive_failures + 1,
            status = CASE WHEN consecutive_failures + 1 >= $2 AND status = 'active' THEN 'disabled' ELSE status END,
            data = CASE WHEN consecutive_failures + 1 >= $2 AND status = 'active'
                        THEN data || jsonb_build_object('status', 'disabled', 'updated_at', $4::text,
                               'error', jsonb_build_object('type', 'WEBHOOK_FAILED', 'code', $3::int,
                                 'sub_type', $5::text, 'message', $6::text))
                        ELSE data END
      WHERE id = $1
      RETURNING status, consecutive_failures`,
    [
      webhookId,
      disableAfter,
      error?.code ?? 25001,
      now,
      error?.sub_type ?? 'WEBHOOK_DISABLED_FAILED_OTHER',
      error?.message ?? '',
    ],
  );
  const row = r.rows[0] as { status: string; consecutive_failures: number } | undefined;
  const disabled = row?.status === 'disabled' && row.consecutive_failures === disableAfter;
  if (disabled) {
    await pool.query(
      "UPDATE sim_webhook_deliveries SET status = 'skipped' WHERE webhook_id = $1 AND status = 'pending'",
      [webhookId],
    );
  }
  return disabled;
}

// ---- counters and stats --------------------------------------------------------------------------------

export async function addCounters(db: Queryable, counts: Record<string, number>): Promise<void> {
  const names = Object.keys(counts).filter((k) => counts[k] !== 0);
  if (names.length === 0) return;
  await db.query(
    `INSERT INTO sim_counters (name, value) SELECT * FROM unnest($1::text[], $2::bigint[])
     ON CONFLICT (name) DO UPDATE SET value = sim_counters.value + EXCLUDED.value`,
    [names, names.map((n) => counts[n])],
  );
}

export async function readStats(db: Queryable): Promise<{
  entities: number;
  accounts: number;
  payments: number;
  paymentsByStatus: Record<string, number>;
  counters: Record<string, number>;
}> {
  const [row] = await rows<{
    entities: number;
    accounts: number;
    payments: number;
    by_status: Record<string, number> | null;
    counters: Record<string, number> | null;
  }>(
    db,
    `SELECT (SELECT count(*)::int FROM sim_entities) AS entities,
            (SELECT count(*)::int FROM sim_accounts) AS accounts,
            (SELECT count(*)::int FROM sim_payments) AS payments,
            (SELECT json_object_agg(status, n) FROM (SELECT status, count(*)::int AS n FROM sim_payments GROUP BY status) s) AS by_status,
            (SELECT json_object_agg(name, value) FROM sim_counters) AS counters`,
  );
  return {
    entities: row.entities,
    accounts: row.accounts,
    payments: row.payments,
    paymentsByStatus: row.by_status ?? {},
    counters: row.counters ?? {},
  };
}

export type Tx = pg.PoolClient;
