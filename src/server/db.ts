// The PostgreSQL pool and the one way to run work in a transaction.
import pg from 'pg';

// bigint (int8) columns hold cents: parse them as JS numbers, refusing anything beyond 2^53.
pg.types.setTypeParser(20, (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint value ${v} exceeds the safe integer range`);
  return n;
});
// numeric is used for sums of cents: same rule.
pg.types.setTypeParser(1700, (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`numeric value ${v} is not a safe integer`);
  return n;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that can run a query: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  // A connection dying while checked out emits 'error' on the client, possibly after release; the
  // query that was running has already failed with it, so the event itself needs no handling.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A write that adds tens of thousands of rows at once (an upload, an approval, a provisioning plan):
 * until autovacuum's next ANALYZE (a minute or more later) the planner still sees the tables as they
 * were, and a query planned then — the sweeper's wake-up of sleeping accounts was seen running for
 * minutes in the 50k drill as a nested loop of sequential scans — keeps that plan to its end. So the
 * tables the write filled are analysed right after its commit (callers may await it or not): an optimisation
 * (autovacuum does it eventually), so a failure (the pool closing, say) is ignored.
 */
export function refreshStatistics(pool: Pool, tables: string): Promise<void> {
  return pool.query(`ANALYZE ${tables}`).then(
    () => undefined,
    () => undefined,
  );
}
