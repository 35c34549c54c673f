// The rows behind the CSV reports, read inside one read-only snapshot so a report is consistent
// with itself while payments keep moving: payments page by page (keyset on row_number), per-source
// and per-branch figures from the aggregate delta rows kept on the fly.
import { centsToDecimal } from '../../shared/money.js';
import { STATUS_GROUPS, type StatusGroup } from '../../shared/statuses.js';
import { loadAggregates } from '../batches/batches.repository.js';
import type { Pool, PoolClient } from '../db.js';

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

const PAGE = 5000;
// Text straight from PostgreSQL: parsing 100k timestamps into Date objects only to print them
// again costs more than the rest of a row.
const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Runs `rows` inside a REPEATABLE READ READ ONLY transaction on its own connection, released when
 * the generator ends — including when the client goes away mid-download (the stream pipeline then
 * calls return() on it).
 */
export async function* inSnapshot<T>(
  pool: Pool,
  rows: (db: PoolClient) => AsyncGenerator<T>,
): AsyncGenerator<T> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    yield* rows(client);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await client.query(failed ? 'ROLLBACK' : 'COMMIT').catch(() => {
      failed = true;
    });
    // A connection that failed mid-transaction is not trusted back into the pool.
    client.release(failed ? true : undefined);
  }
}

/** payments.csv of a booked batch: every payment with its current status. */
export async function* paymentRows(db: PoolClient, batchId: string): AsyncGenerator<CsvRow> {
  const fetchPage = (after: number) =>
    db.query({
      text: `SELECT p.id, p.row_number, p.employee_id, p.employee_name, p.branch_id, p.source_id, s.name,
                    p.amount_cents, p.status, p.method_payment_id, p.method_status, p.failure_code,
                    p.failure_message, ${ISO('p.created_at')}, ${ISO('p.updated_at')}
               FROM payments p JOIN sources s ON s.source_id = p.source_id
              WHERE p.batch_id = $1 AND p.row_number > $2 ORDER BY p.row_number LIMIT $3`,
      values: [batchId, after, PAGE],
      rowMode: 'array',
    });
  let next = fetchPage(0);
  for (;;) {
    const { rows } = await next;
    const more = rows.length === PAGE;
    // The next page is read by PostgreSQL while this one is turned into CSV.
    if (more) {
      next = fetchPage(rows[rows.length - 1][1]);
      next.catch(() => {}); // awaited on the next turn; a consumer that left never reads it
    }
    for (const r of rows) {
      yield [
        r[0],
        batchId,
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        centsToDecimal(r[7]),
        r[8],
        r[9] ?? '',
        r[10] ?? '',
        r[11] ?? '',
        r[12] ?? '',
        r[13],
        r[14],
      ];
    }
    if (!more) return;
  }
}

/** payments.csv of a draft: its lines, status `draft`, no Method fields (api.md). */
export async function* draftLineRows(
  db: PoolClient,
  batchId: string,
  uploadedAt: string,
): AsyncGenerator<CsvRow> {
  let after = 0;
  for (;;) {
    const { rows } = await db.query({
      text: `SELECT l.row_number, l.employee_id, l.first_name || ' ' || l.last_name, l.branch_id, l.source_id,
                    s.name, l.amount_cents
               FROM batch_lines l JOIN sources s ON s.source_id = l.source_id
              WHERE l.batch_id = $1 AND l.row_number > $2 ORDER BY l.row_number LIMIT $3`,
      values: [batchId, after, PAGE],
      rowMode: 'array',
    });
    for (const r of rows) {
      yield [
        '',
        batchId,
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        centsToDecimal(r[6]),
        'draft',
        '',
        '',
        '',
        '',
        uploadedAt,
        uploadedAt,
      ];
    }
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1][0];
  }
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
