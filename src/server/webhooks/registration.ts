// Keeps LoanPay's webhooks registered at Method: one per payment event type, pointing at
// PUBLIC_URL, with our auth token and HMAC secret. Run at start-up and then periodically: it is
// idempotent (lists what exists, creates what is missing with a derived idempotency key), and it
// notices a webhook Method disabled after failed deliveries — recorded for the UI banner and the
// metric — and re-enables it.
import type { MethodClient } from '../../method/client.js';
import type { Webhook } from '../../method/types.js';
import type { Pool } from '../db.js';
import { derivedUuid, webhookCredentials } from './credentials.js';

/** The event types Method sends about payments and their reversals (method.md §6.2). */
export const PAYMENT_WEBHOOK_TYPES = [
  'payment.create',
  'payment.update',
  'payment_reversal.create',
  'payment_reversal.update',
] as const;

export interface WebhookSetup {
  /** `${PUBLIC_URL}/webhooks/method` */
  url: string;
  secret: string;
}

export interface EnsureResult {
  ok: boolean;
  created: string[];
  reenabled: string[];
  removed: string[];
  error?: string;
}

type Client = Pick<
  MethodClient,
  'listWebhooks' | 'getWebhook' | 'createWebhook' | 'updateWebhook' | 'deleteWebhook'
>;

const NOT_ACTIVE = new Set(['disabled', 'requires_attention']);

export async function ensureWebhooks(
  pool: Pool,
  client: Client,
  setup: WebhookSetup,
  log?: (obj: Record<string, unknown>, msg: string) => void,
): Promise<EnsureResult> {
  const creds = webhookCredentials(setup.secret);
  const result: EnsureResult = { ok: true, created: [], reenabled: [], removed: [] };
  const listed = await client.listWebhooks();
  if (listed.kind !== 'ok') {
    return { ...result, ok: false, error: `listing webhooks at Method failed (${listed.kind})` };
  }
  // Method lists only active and requires-attention webhooks: the ones we registered that are not
  // listed (a disabled one, typically) are fetched by id.
  const found = [...listed.data.items];
  const known = await pool.query<{ method_webhook_id: string }>(
    "SELECT method_webhook_id FROM method_webhooks WHERE url = $1 AND status <> 'deleted'",
    [setup.url],
  );
  for (const { method_webhook_id: id } of known.rows) {
    if (found.some((w) => w.id === id)) continue;
    const got = await client.getWebhook(id);
    if (got.kind === 'ok') found.push(got.data);
    else if (got.kind === 'definite_failure' && got.status === 404) {
      await pool.query(
        "UPDATE method_webhooks SET status = 'deleted', last_checked_at = now() WHERE method_webhook_id = $1",
        [id],
      );
    } else return { ...result, ok: false, error: `reading webhook ${id} at Method failed (${got.kind})` };
  }
  const existing = found.filter((w) => w.url === setup.url && w.status !== 'deleted');
  for (const type of PAYMENT_WEBHOOK_TYPES) {
    const ofType = existing.filter((w) => w.type === type);
    const mine = ofType.find((w) => w.metadata?.loanpay_secret_fp === creds.fingerprint);
    // Registered with another secret: its deliveries would all be refused, so it goes.
    for (const stale of ofType.filter((w) => w !== mine)) {
      const del = await client.deleteWebhook(stale.id);
      if (del.kind === 'ok') {
        result.removed.push(stale.id);
        await pool.query(
          "UPDATE method_webhooks SET status = 'deleted', last_checked_at = now() WHERE method_webhook_id = $1",
          [stale.id],
        );
      }
    }
    if (!mine) {
      const created = await client.createWebhook(
        {
          type,
          url: setup.url,
          auth_token: creds.authToken,
          hmac_secret: creds.hmacSecret,
          metadata: { loanpay_secret_fp: creds.fingerprint },
        },
        // Two processes starting at once send the same key (one webhook); a re-creation after
        // one was deleted names the deleted one, so Method does not replay the old answer.
        derivedUuid(
          `loanpay-webhook|${setup.url}|${type}|${creds.fingerprint}|${ofType
            .map((w) => w.id)
            .concat(await knownIds(pool, type))
            .sort()
            .join(',')}`,
        ),
      );
      if (created.kind !== 'ok') {
        result.ok = false;
        result.error = `creating the ${type} webhook failed (${created.kind})`;
        continue;
      }
      result.created.push(created.data.id);
      await record(pool, created.data, false);
      continue;
    }
    if (NOT_ACTIVE.has(mine.status)) {
      log?.(
        { webhookId: mine.id, type, status: mine.status, error: mine.error },
        'Method disabled a webhook; re-enabling it',
      );
      await record(pool, mine, false);
      const upd = await client.updateWebhook(mine.id, { status: 'active' });
      if (upd.kind !== 'ok') {
        result.ok = false;
        result.error = `re-enabling webhook ${mine.id} failed (${upd.kind})`;
        continue;
      }
      result.reenabled.push(mine.id);
      await record(pool, upd.data, true);
      continue;
    }
    await record(pool, mine, false);
  }
  return result;
}

async function knownIds(pool: Pool, type: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    'SELECT method_webhook_id AS id FROM method_webhooks WHERE type = $1',
    [type],
  );
  return rows.map((r) => r.id);
}

async function record(pool: Pool, w: Webhook, reenabled: boolean): Promise<void> {
  await pool.query(
    `INSERT INTO method_webhooks AS m (method_webhook_id, type, url, status, error, last_disabled_at)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 IN ('disabled', 'requires_attention') THEN now() END)
     ON CONFLICT (method_webhook_id) DO UPDATE SET status = EXCLUDED.status, url = EXCLUDED.url,
       error = coalesce(EXCLUDED.error, m.error), last_checked_at = now(),
       last_disabled_at = CASE WHEN EXCLUDED.status IN ('disabled', 'requires_attention')
                               AND m.status NOT IN ('disabled', 'requires_attention') THEN now() ELSE m.last_disabled_at END,
       last_reenabled_at = CASE WHEN $6 THEN now() ELSE m.last_reenabled_at END,
       reenable_count = m.reenable_count + CASE WHEN $6 THEN 1 ELSE 0 END`,
    [w.id, w.type, w.url, w.status, w.error ? JSON.stringify(w.error) : null, reenabled],
  );
}

export interface WebhookAlerts {
  webhookDisabled: boolean;
  webhookDisabledRecently: boolean;
  webhooks: {
    methodWebhookId: string;
    type: string;
    status: string;
    error: unknown;
    lastCheckedAt: string;
    lastDisabledAt: string | null;
    lastReenabledAt: string | null;
    reenableCount: number;
  }[];
  webhookEventsPending: number;
}

/** Banner data: is a webhook off now, or was one off in the last day (statuses then came from polling). */
export async function loadWebhookAlerts(pool: Pool): Promise<WebhookAlerts> {
  const { rows } = await pool.query(
    "SELECT * FROM method_webhooks WHERE status <> 'deleted' ORDER BY type, method_webhook_id",
  );
  const pending = await pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE state = 'pending'");
  const dayAgo = Date.now() - 24 * 3600_000;
  const webhooks = rows.map((r) => ({
    methodWebhookId: r.method_webhook_id as string,
    type: r.type as string,
    status: r.status as string,
    error: r.error,
    lastCheckedAt: (r.last_checked_at as Date).toISOString(),
    lastDisabledAt: r.last_disabled_at ? (r.last_disabled_at as Date).toISOString() : null,
    lastReenabledAt: r.last_reenabled_at ? (r.last_reenabled_at as Date).toISOString() : null,
    reenableCount: r.reenable_count as number,
  }));
  return {
    webhookDisabled: webhooks.some((w) => NOT_ACTIVE.has(w.status)),
    webhookDisabledRecently: webhooks.some(
      (w) => w.lastDisabledAt !== null && Date.parse(w.lastDisabledAt) > dayAgo,
    ),
    webhooks,
    webhookEventsPending: pending.rows[0].n,
  };
}
