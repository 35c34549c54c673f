// One throttle on payment creation shared by every worker process: a token bucket in PostgreSQL.
// A 429 that still comes blocks the bucket (every worker) for Method's block time.
import type { Queryable } from '../db.js';

export const PAYMENT_THROTTLE = 'method_payment_creates';

/**
 * Method allows 120 creations in any rolling 60 s; a bucket refilling at r per minute with capacity
 * C lets through at most C + r in a minute, so C = max(1, 120 - r) keeps the window under the limit.
 */
export function bucketShape(
  perMinute: number,
  methodLimitPerMinute = 120,
): { capacity: number; perSecond: number } {
  return {
    capacity: Math.max(1, Math.min(perMinute, methodLimitPerMinute - perMinute)),
    perSecond: perMinute / 60,
  };
}

export interface TakeResult {
  granted: boolean;
  /** When not granted: how long until a token (or the block) is expected to free up. */
  waitMs: number;
}

const shaped = new Set<string>();

export async function takeToken(
  db: Queryable,
  perMinute: number,
  name = PAYMENT_THROTTLE,
): Promise<TakeResult> {
  if (perMinute <= 0) return { granted: true, waitMs: 0 };
  const { capacity, perSecond } = bucketShape(perMinute);
  const shapeKey = `${name}:${perMinute}`;
  if (!shaped.has(shapeKey)) {
    await db.query(
      `INSERT INTO throttles (name, tokens, capacity, per_second) VALUES ($1, $2, $2, $3)
       ON CONFLICT (name) DO UPDATE SET capacity = $2, per_second = $3
        WHERE throttles.capacity <> $2 OR throttles.per_second <> $3`,
      [name, capacity, perSecond],
    );
    shaped.add(shapeKey);
  }
  const { rows } = await db.query(
    `WITH cur AS (
       SELECT least(capacity, tokens + extract(epoch FROM clock_timestamp() - updated_at) * per_second) AS avail,
              blocked_until, per_second
         FROM throttles WHERE name = $1 FOR UPDATE
     ), took AS (
       UPDATE throttles t SET tokens = cur.avail - 1, updated_at = clock_timestamp()
         FROM cur WHERE t.name = $1 AND cur.avail >= 1 AND (cur.blocked_until IS NULL OR cur.blocked_until <= clock_timestamp())
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM took)::int AS granted, cur.avail, cur.per_second,
            greatest(0, extract(epoch FROM cur.blocked_until - clock_timestamp())) AS blocked_s
       FROM cur`,
    [name],
  );
  const r = rows[0];
  if (!r) {
    shaped.delete(shapeKey);
    return { granted: false, waitMs: 50 };
  }
  if (r.granted === 1) return { granted: true, waitMs: 0 };
  const blockedMs = Number(r.blocked_s) * 1000;
  const refillMs = ((1 - Number(r.avail)) / Number(r.per_second)) * 1000;
  return { granted: false, waitMs: Math.max(10, Math.ceil(Math.max(blockedMs, refillMs))) };
}

/** Method answered 429: every worker stops creating payments until the block has passed. */
export async function blockThrottle(db: Queryable, ms: number, name = PAYMENT_THROTTLE): Promise<void> {
  await db.query(
    `UPDATE throttles SET blocked_until = greatest(coalesce(blocked_until, clock_timestamp()), clock_timestamp() + make_interval(secs => $2)),
            tokens = 0, updated_at = clock_timestamp()
      WHERE name = $1`,
    [name, ms / 1000],
  );
}
