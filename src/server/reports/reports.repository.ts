// The rows behind the CSV reports, read inside one read-only snapshot so a report is consistent
// with itself while payments keep moving: payments (or a draft's lines) as one COPY … TO STDOUT
// streamed in batches, per-source and per-branch figures from the aggregate delta rows kept on
// the fly.
import { centsToDecimal } from '../../shared/money.js';
import { STATUS_GROUPS, type StatusGroup } from '../../shared/statuses.js';
import { loadAggregates } from '../batches/batches.repository.js';
import type { Pool, PoolClient } from '../db.js';
import { copyInFlight, copyOut } from './copy-out.js';

export const PAYMENT_COLUMNS = [
  'payment_id',
  'batch_id',
  'row_number',
  'employee_id',
  'employee_name',
  'branch_id',
  'source_id',
  'source_name',
  'amount',
  'status',
  'method_payment_id',
  'method_status',
  'failure_code',
  'failure_message',
  'created_at',
  'updated_at',
] as const;

// api.md's order: paid first, then pending, failed, returned, cancelled.
const REPORT_GROUPS: readonly StatusGroup[] = ['paid', 'pending', 'failed', 'returned', 'cancelled'];
const ORDERED_GROUP_COLUMNS = REPORT_GROUPS.flatMap((g) => [`${g}_count`, `${g}_amount`]);

export const SOURCE_COLUMNS = [
  'batch_id',
  'source_id',
  'source_name',
  'payment_count',
  'total_amount',
  ...ORDERED_GROUP_COLUMNS,
] as const;
export const BRANCH_COLUMNS = [
  'batch_id',
  'branch_id',
  'employee_count',
  'payment_count',
  'total_amount',
  ...ORDERED_GROUP_COLUMNS,
] as const;

export type CsvRow = (string | number)[];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A batch id as an SQL literal: COPY takes no parameters, so only a well-formed UUID gets in. */
function uuidLiteral(id: string): string {
  if (!UUID.test(id)) throw new Error(`not a batch id: ${JSON.stringify(id)}`);
  return `'${id}'::uuid`;
}

/**
 * `2026-11-25 14:51:26.571234` (a UTC timestamp in DateStyle ISO, fraction trimmed or absent) →
 * `2026-11-25T14:51:26.571Z`, milliseconds truncated as to_char's MS does. Formatting here rather
 * than with to_char in PostgreSQL: to_char on two columns cost PostgreSQL more than the whole rest
 * of the row's output, while this is a few slices.
 */
export function isoFromPgTimestamp(ts: string): string {
  if (ts.length < 19 || ts[10] !== ' ' || ts.length > 26) {
    throw new Error(`unexpected timestamp from PostgreSQL: ${JSON.stringify(ts)}`);
  }
  const ms = ts.length > 20 ? `${ts.slice(20, 23)}00`.slice(0, 3) : '000';
  return `${ts.slice(0, 10)}T${ts.slice(11, 19)}.${ms}Z`;
}

/** Cents as PostgreSQL prints a bigint → dollars with two decimals, by integer arithmetic only. */
function dollarsFromText(cents: string | null): string {
  if (cents === null) throw new Error('amount_cents is NULL');
  return centsToDecimal(Number(cents));
}

/**
 * Runs `rows` inside a REPEATABLE READ READ ONLY transaction on its own connection, released when
 * the generator ends — including when the client goes away mid-download (the stream pipeline then
 * calls return() on it). A download left midway (or failed) with its COPY still running has the
 * COPY cancelled, and that connection is closed rather than given back to the pool.
 */
export async function* inSnapshot<T>(
  pool: Pool,
  rows: (db: PoolClient) => AsyncGenerator<T>,
): AsyncGenerator<T> {
  const client = await pool.connect();
  let failed = false;
  let completed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    yield* rows(client);
    completed = true;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // Left midway (client gone) or failed (a row that would not convert) with its COPY still
    // running: cancelled rather than read to its end before the ROLLBACK can run, and the
    // connection is then closed, never given back to the pool (a late cancel must not reach the
    // next user's query). A cancel reaching an idle session is ignored.
    if (!completed && copyInFlight(client)) {
      failed = true;
      const pid = (client as unknown as { processID?: number }).processID;
      if (pid) pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {});
    }
    await client.query(failed ? 'ROLLBACK' : 'COMMIT').catch(() => {
      failed = true;
    });
    // A connection that failed mid-transaction is not trusted back into the pool.
    client.release(failed ? true : undefined);
  }
}

/**
 * Read inside inSnapshot: the session's DateStyle is pinned for this transaction, so timestamps
 * come out as `YYYY-MM-DD HH:MI:SS[.ffffff]` whatever the server's configuration.
 */
async function pinDateStyle(db: PoolClient): Promise<void> {
  await db.query("SET LOCAL DateStyle = 'ISO, MDY'");
}

/**
 * payments.csv of a booked batch: every payment with its current status, in row order, in batches.
 * One COPY of one index scan on (batch_id, row_number): no sort, no pages. Account numbers are
 * not selected at all.
 */
export async function* paymentRows(db: PoolClient, batchId: string): AsyncGenerator<CsvRow[]> {
  await pinDateStyle(db);
  const sql = `COPY (
      SELECT p.id, p.row_number, p.employee_id, p.employee_name, p.branch_id, p.source_id, s.name,
             p.amount_cents, p.status, coalesce(p.method_payment_id, ''), coalesce(p.method_status, ''),
             coalesce(p.failure_code, ''), coalesce(p.failure_message, ''),
             p.created_at AT TIME ZONE 'UTC', p.updated_at AT TIME ZONE 'UTC'
        FROM payments p JOIN sources s ON s.source_id = p.source_id
       WHERE p.batch_id = ${uuidLiteral(batchId)}
       ORDER BY p.row_number) TO STDOUT`;
  yield* copyOut(
    db,
    sql,
    (f): CsvRow => [
      f[0] as string,
      batchId,
      f[1] as string,
      f[2] as string,
      f[3] as string,
      f[4] as string,
      f[5] as string,
      f[6] as string,
      dollarsFromText(f[7]),
      f[8] as string,
      f[9] ?? '',
      f[10] ?? '',
      f[11] ?? '',
      f[12] ?? '',
      isoFromPgTimestamp(f[13] as string),
      isoFromPgTimestamp(f[14] as string),
    ],
  );
}

/** payments.csv of a draft: its lines, status `draft`, no Method fields (api.md). */
export async function* draftLineRows(
  db: PoolClient,
  batchId: string,
  uploadedAt: string,
): AsyncGenerator<CsvRow[]> {
  const sql = `COPY (
      SELECT l.row_number, l.employee_id, l.first_name || ' ' || l.last_name, l.branch_id, l.source_id,
             s.name, l.amount_cents
        FROM batch_lines l JOIN sources s ON s.source_id = l.source_id
       WHERE l.batch_id = ${uuidLiteral(batchId)}
       ORDER BY l.row_number) TO STDOUT`;
  yield* copyOut(
    db,
    sql,
    (f): CsvRow => [
      '',
      batchId,
      f[0] as string,
      f[1] as string,
      f[2] as string,
      f[3] as string,
      f[4] as string,
      f[5] as string,
      dollarsFromText(f[6]),
      'draft',
      '',
      '',
      '',
      '',
      uploadedAt,
      uploadedAt,
    ],
  );
}

interface GroupLine {
  key: string;
  name: string;
  employeeCount: number;
  paymentCount: number;
  totalCents: number;
  groups: Record<StatusGroup, { count: number; cents: number }>;
}

/**
 * Per source or per branch: the file's lines (review totals) with, once booked, the group figures
 * summed from the aggregate delta rows — never a scan of the payments. Ordered by id, byte-wise.
 */
export async function groupLines(
  db: PoolClient,
  batchId: string,
  dimension: 'source' | 'branch',
  booked: boolean,
): Promise<GroupLine[]> {
  const { rows } = await db.query(
    `SELECT t.key, t.employee_count, t.payment_count, t.total_cents, s.name
       FROM batch_totals t LEFT JOIN sources s ON $2 = 'source' AND s.source_id = t.key
      WHERE t.batch_id = $1 AND t.dimension = $2`,
    [batchId, dimension],
  );
  const emptyGroups = () =>
    Object.fromEntries(STATUS_GROUPS.map((g) => [g, { count: 0, cents: 0 }])) as GroupLine['groups'];
  const lines = new Map<string, GroupLine>();
  for (const r of rows) {
    lines.set(r.key, {
      key: r.key,
      name: r.name ?? '',
      employeeCount: r.employee_count,
      paymentCount: booked ? 0 : r.payment_count,
      totalCents: booked ? 0 : Number(r.total_cents),
      groups: emptyGroups(),
    });
  }
  if (booked) {
    for (const cell of await loadAggregates(db, batchId)) {
      const key = dimension === 'source' ? cell.sourceId : cell.branchId;
      let line = lines.get(key);
      if (!line) {
        // Not reachable while approval books exactly the file's lines; kept visible rather than lost.
        line = { key, name: '', employeeCount: 0, paymentCount: 0, totalCents: 0, groups: emptyGroups() };
        lines.set(key, line);
      }
      line.groups[cell.grp].count += cell.count;
      line.groups[cell.grp].cents += cell.cents;
      line.paymentCount += cell.count;
      line.totalCents += cell.cents;
    }
  }
  return [...lines.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function groupColumns(line: GroupLine): CsvRow {
  return REPORT_GROUPS.flatMap((g) => [line.groups[g].count, centsToDecimal(line.groups[g].cents)]);
}
