// Reconciliation runs and their findings (append-only), as api.md shows them.
import type { Queryable } from '../db.js';

export type CheckName = 'aggregates' | 'ledger' | 'method';

export interface Finding {
  check: CheckName;
  entityType: string;
  entityId: string;
  /** What the reference implies: payments for aggregates and ledger, Method's record for `method`. */
  expected: unknown;
  /** What the checked side holds. */
  actual: unknown;
  /** actual − expected, in cents (0 when the difference is a status, not money). */
  differenceCents: number;
  repaired: boolean;
  detail?: Record<string, unknown>;
}

export interface RunRow {
  id: string;
  trigger: 'manual' | 'nightly';
  run_date: Date | null;
  status: 'running' | 'done' | 'failed';
  started_at: Date;
  finished_at: Date | null;
  started_by: string | null;
  error: string | null;
  summary: Record<string, unknown>;
}

export async function insertRun(
  db: Queryable,
  run: { trigger: 'manual' | 'nightly'; runDate?: string; startedBy?: string | null },
): Promise<RunRow | null> {
  const { rows } = await db.query<RunRow>(
    run.trigger === 'nightly'
      ? `INSERT INTO reconciliation_runs (trigger, run_date, started_by) VALUES ($1, $2, $3)
         ON CONFLICT (run_date) WHERE trigger = 'nightly' DO NOTHING RETURNING *`
      : 'INSERT INTO reconciliation_runs (trigger, run_date, started_by) VALUES ($1, $2, $3) RETURNING *',
    [run.trigger, run.runDate ?? null, run.startedBy ?? null],
  );
  return rows[0] ?? null;
}

export async function insertFindings(db: Queryable, runId: string, findings: Finding[]): Promise<void> {
  for (let i = 0; i < findings.length; i += 1000) {
    const chunk = findings.slice(i, i + 1000);
    await db.query(
      `INSERT INTO reconciliation_findings (run_id, check_name, entity_type, entity_id, expected, actual,
         difference_cents, repaired, detail)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::bigint[],
         $8::boolean[], $9::jsonb[])`,
      [
        runId,
        chunk.map((f) => f.check),
        chunk.map((f) => f.entityType),
        chunk.map((f) => f.entityId),
        chunk.map((f) => JSON.stringify(f.expected ?? null)),
        chunk.map((f) => JSON.stringify(f.actual ?? null)),
        chunk.map((f) => f.differenceCents),
        chunk.map((f) => f.repaired),
        chunk.map((f) => JSON.stringify(f.detail ?? {})),
      ],
    );
  }
}

export async function finishRun(
  db: Queryable,
  id: string,
  outcome: { status: 'done' | 'failed'; summary?: Record<string, unknown>; error?: string },
): Promise<void> {
  await db.query(
    `UPDATE reconciliation_runs SET status = $2, finished_at = now(), summary = coalesce($3, summary), error = $4
      WHERE id = $1 AND status = 'running'`,
    [id, outcome.status, outcome.summary ? JSON.stringify(outcome.summary) : null, outcome.error ?? null],
  );
}

/** Runs whose process died: marked failed so nobody waits on them. */
export async function failAbandonedRuns(db: Queryable, olderThanMinutes: number): Promise<number> {
  const r = await db.query(
    `UPDATE reconciliation_runs SET status = 'failed', finished_at = now(),
            error = 'abandoned: the process running it stopped before it finished'
      WHERE status = 'running' AND started_at < now() - make_interval(mins => $1)`,
    [olderThanMinutes],
  );
  return r.rowCount ?? 0;
}

export function toRun(r: RunRow & { finding_count?: number }) {
  return {
    id: r.id,
    status: r.status,
    trigger: r.trigger,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at ? r.finished_at.toISOString() : null,
    startedBy: r.started_by,
    error: r.error,
    summary: r.summary,
    ...(r.finding_count !== undefined ? { findingCount: r.finding_count } : {}),
  };
}

export async function listRuns(db: Queryable, limit: number, after?: { at: string; id: string }) {
  // The cursor keeps microseconds (a JS Date would drop them and skip runs of the same millisecond).
  const { rows } = await db.query<RunRow & { finding_count: number; at_us: string }>(
    `SELECT r.*, (SELECT count(*)::int FROM reconciliation_findings f WHERE f.run_id = r.id) AS finding_count,
            ((extract(epoch FROM r.started_at) * 1000000)::bigint)::text AS at_us
       FROM reconciliation_runs r
      WHERE $2::bigint IS NULL OR ((extract(epoch FROM r.started_at) * 1000000)::bigint, r.id) < ($2::bigint, $3::uuid)
      ORDER BY r.started_at DESC, r.id DESC LIMIT $1`,
    [limit + 1, after?.at ?? null, after?.id ?? null],
  );
  return rows;
}

export async function findRun(db: Queryable, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<RunRow>('SELECT * FROM reconciliation_runs WHERE id = $1', [id]);
  if (!rows[0]) return null;
  const f = await db.query(
    `SELECT check_name, entity_type, entity_id, expected, actual, difference_cents, repaired, detail
       FROM reconciliation_findings WHERE run_id = $1 ORDER BY id`,
    [id],
  );
  return {
    ...toRun(rows[0]),
    findings: f.rows.map((x) => ({
      check: x.check_name as CheckName,
      entityType: x.entity_type as string,
      entityId: x.entity_id as string,
      expected: x.expected,
      actual: x.actual,
      differenceCents: Number(x.difference_cents),
      repaired: x.repaired as boolean,
      detail: x.detail,
    })),
  };
}
