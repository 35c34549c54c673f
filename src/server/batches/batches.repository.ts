// Reads and writes of batches, their draft lines, warnings and review totals.
import { normalizeEmployeeId } from '../../shared/ids.js';
import {
  type BatchStatus,
  type GroupCounts,
  STATUS_GROUPS,
  type StatusGroup,
  zeroGroups,
} from '../../shared/statuses.js';
import type { Queryable } from '../db.js';
import { notFound } from '../errors.js';

export interface Batch {
  id: string;
  fileName: string;
  fileSha256: string;
  status: BatchStatus;
  rowCount: number;
  totalCents: number;
  uploadedAt: string;
  uploadedBy: string | null;
  uploadedById: string | null;
  approvedAt: string | null;
  approvedBy: string | null;
  rejectedAt: string | null;
  rejectedBy: string | null;
  rejectReason: string | null;
  counts: GroupCounts;
  amountsCents: GroupCounts;
  etaSeconds: number | null;
  summary?: BatchSummary;
}

type GroupFields = Record<`${StatusGroup}Count` | `${StatusGroup}Cents`, number>;

export type SourceLine = {
  sourceId: string;
  sourceName: string;
  paymentCount: number;
  totalCents: number;
} & GroupFields;
export type BranchLine = {
  branchId: string;
  employeeCount: number;
  paymentCount: number;
  totalCents: number;
} & GroupFields;

export interface WarningItem {
  row: number;
  field: string;
  code: string;
  message: string;
}

export interface BatchSummary {
  bySource: SourceLine[];
  byBranch: BranchLine[];
  warnings: { count: number; byCode: Record<string, number>; items: WarningItem[]; truncated: boolean };
  preflight: { status: 'pending' | 'complete' | 'failed'; checkedAt: string | null };
  unpayable: {
    count: number;
    totalCents: number;
    byPlaidId: { plaidId: string; count: number; totalCents: number }[];
  };
  changes: {
    newEmployees: number;
    newLoanAccounts: number;
    changedEmployees: number;
    changedSources: number;
  };
}

const BATCH_COLUMNS = `b.id, b.file_name, b.file_sha256, b.status, b.row_count, b.total_cents, b.uploaded_at, b.uploaded_by,
  uu.username AS uploaded_by_name, b.approved_at, au.username AS approved_by_name, b.rejected_at,
  ru.username AS rejected_by_name, b.reject_reason, b.preflight_status, b.preflight_checked_at, b.changes`;
const BATCH_FROM = `batches b LEFT JOIN users uu ON uu.id = b.uploaded_by LEFT JOIN users au ON au.id = b.approved_by
  LEFT JOIN users ru ON ru.id = b.rejected_by`;

type Row = Record<string, unknown>;
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);

function toBatch(r: Row): Batch {
  return {
    id: r.id as string,
    fileName: r.file_name as string,
    fileSha256: r.file_sha256 as string,
    status: r.status as BatchStatus,
    rowCount: r.row_count as number,
    totalCents: r.total_cents as number,
    uploadedAt: iso(r.uploaded_at) as string,
    uploadedBy: (r.uploaded_by_name as string | null) ?? null,
    uploadedById: (r.uploaded_by as string | null) ?? null,
    approvedAt: iso(r.approved_at),
    approvedBy: (r.approved_by_name as string | null) ?? null,
    rejectedAt: iso(r.rejected_at),
    rejectedBy: (r.rejected_by_name as string | null) ?? null,
    rejectReason: (r.reject_reason as string | null) ?? null,
    counts: zeroGroups(),
    amountsCents: zeroGroups(),
    etaSeconds: null,
  };
}

export async function findBatch(db: Queryable, id: string): Promise<(Batch & { _row: Row }) | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query(`SELECT ${BATCH_COLUMNS} FROM ${BATCH_FROM} WHERE b.id = $1`, [id]);
  return rows[0] ? { ...toBatch(rows[0]), _row: rows[0] } : null;
}

export async function getBatch(db: Queryable, id: string): Promise<Batch & { _row: Row }> {
  const b = await findBatch(db, id);
  if (!b) throw notFound('Batch', id);
  return b;
}

export async function lockBatch(
  db: Queryable,
  id: string,
): Promise<{ id: string; status: BatchStatus; uploadedBy: string | null }> {
  const { rows } = await db.query('SELECT id, status, uploaded_by FROM batches WHERE id = $1 FOR UPDATE', [
    id,
  ]);
  if (!rows[0]) throw notFound('Batch', id);
  return { id: rows[0].id, status: rows[0].status, uploadedBy: rows[0].uploaded_by };
}

export async function listBatches(
  db: Queryable,
  opts: { before?: [string, string]; limit: number },
): Promise<Batch[]> {
  const args: unknown[] = [opts.limit];
  let where = '';
  if (opts.before) {
    args.push(opts.before[0], opts.before[1]);
    where = 'WHERE (b.uploaded_at, b.id) < ($2::timestamptz, $3::uuid)';
  }
  const { rows } = await db.query(
    `SELECT ${BATCH_COLUMNS} FROM ${BATCH_FROM} ${where} ORDER BY b.uploaded_at DESC, b.id DESC LIMIT $1`,
    args,
  );
  return rows.map(toBatch);
}

/** Group figures of a batch from its aggregate delta rows: per (source, branch) cell and group. */
export async function loadAggregates(db: Queryable, batchId: string) {
  const { rows } = await db.query(
    `SELECT source_id, branch_id, grp, sum(count_delta)::int AS n, sum(cents_delta) AS cents
       FROM batch_aggregate_deltas WHERE batch_id = $1 GROUP BY 1, 2, 3`,
    [batchId],
  );
  return rows.map((r) => ({
    sourceId: r.source_id as string,
    branchId: r.branch_id as string,
    grp: r.grp as StatusGroup,
    count: r.n as number,
    cents: Number(r.cents),
  }));
}

export function groupTotals(cells: Awaited<ReturnType<typeof loadAggregates>>): {
  counts: GroupCounts;
  amountsCents: GroupCounts;
} {
  const counts = zeroGroups();
  const amountsCents = zeroGroups();
  for (const c of cells) {
    counts[c.grp] += c.count;
    amountsCents[c.grp] += c.cents;
  }
  return { counts, amountsCents };
}

const zeroGroupFields = (): GroupFields =>
  Object.fromEntries(
    STATUS_GROUPS.flatMap((g) => [[`${g}Count`, 0] as const, [`${g}Cents`, 0] as const]),
  ) as GroupFields;

export async function loadSummary(
  db: Queryable,
  batch: Batch & { _row: Row },
  cells: Awaited<ReturnType<typeof loadAggregates>> = [],
): Promise<BatchSummary> {
  const totals = await db.query(
    `SELECT t.dimension, t.key, t.employee_count, t.payment_count, t.total_cents, s.name AS source_name
       FROM batch_totals t LEFT JOIN sources s ON t.dimension = 'source' AND s.source_id = t.key
      WHERE t.batch_id = $1 ORDER BY t.dimension, t.key`,
    [batch.id],
  );
  const bySource: SourceLine[] = [];
  const byBranch: BranchLine[] = [];
  // Each line's group figures: the aggregate cells of its source (or branch), summed.
  const groupFields = (dimension: 'source' | 'branch', key: string): GroupFields => {
    const f = zeroGroupFields();
    for (const c of cells) {
      if ((dimension === 'source' ? c.sourceId : c.branchId) !== key) continue;
      f[`${c.grp}Count`] += c.count;
      f[`${c.grp}Cents`] += c.cents;
    }
    return f;
  };
  for (const r of totals.rows) {
    if (r.dimension === 'source') {
      bySource.push({
        sourceId: r.key,
        sourceName: r.source_name,
        paymentCount: r.payment_count,
        totalCents: r.total_cents,
        ...groupFields('source', r.key),
      });
    } else {
      byBranch.push({
        branchId: r.key,
        employeeCount: r.employee_count,
        paymentCount: r.payment_count,
        totalCents: r.total_cents,
        ...groupFields('branch', r.key),
      });
    }
  }
  const byCodeRows = await db.query(
    'SELECT code, count(*)::int AS n FROM batch_warnings WHERE batch_id = $1 GROUP BY code ORDER BY code',
    [batch.id],
  );
  const byCode: Record<string, number> = {};
  let count = 0;
  for (const r of byCodeRows.rows) {
    byCode[r.code] = r.n;
    count += r.n;
  }
  const items = await listWarnings(db, batch.id, { limit: 1000 });
  const preflightStatus = batch._row.preflight_status as 'pending' | 'complete' | 'failed';
  // Until the pre-flight is complete nothing is known to be unpayable (and a fresh upload's answer
  // does not wait for a scan of its 50k lines).
  const unpayable =
    preflightStatus === 'complete'
      ? await db.query(
          `SELECT l.plaid_id, count(*)::int AS n, sum(l.amount_cents) AS cents
             FROM batch_lines l JOIN plaid_merchants m ON m.plaid_id = l.plaid_id AND NOT m.payable
            WHERE l.batch_id = $1 GROUP BY l.plaid_id ORDER BY l.plaid_id`,
          [batch.id],
        )
      : { rows: [] };
  const byPlaidId = unpayable.rows.map((r) => ({
    plaidId: r.plaid_id as string,
    count: r.n as number,
    totalCents: Number(r.cents),
  }));
  const changes = batch._row.changes as BatchSummary['changes'];
  return {
    bySource,
    byBranch,
    warnings: { count, byCode, items, truncated: count > items.length },
    preflight: { status: preflightStatus, checkedAt: iso(batch._row.preflight_checked_at) },
    unpayable: {
      count: byPlaidId.reduce((a, p) => a + p.count, 0),
      totalCents: byPlaidId.reduce((a, p) => a + p.totalCents, 0),
      byPlaidId,
    },
    changes: {
      newEmployees: changes.newEmployees ?? 0,
      newLoanAccounts: changes.newLoanAccounts ?? 0,
      changedEmployees: changes.changedEmployees ?? 0,
      changedSources: changes.changedSources ?? 0,
    },
  };
}

export async function listWarnings(
  db: Queryable,
  batchId: string,
  opts: { code?: string; afterSeq?: number; limit: number },
): Promise<(WarningItem & { seq: number })[]> {
  const args: unknown[] = [batchId, opts.limit];
  let where = 'batch_id = $1';
  if (opts.code) {
    args.push(opts.code);
    where += ` AND code = $${args.length}`;
  }
  if (opts.afterSeq !== undefined) {
    args.push(opts.afterSeq);
    where += ` AND seq > $${args.length}`;
  }
  const { rows } = await db.query(
    `SELECT seq, row_number, field, code, message FROM batch_warnings WHERE ${where} ORDER BY seq LIMIT $2`,
    args,
  );
  return rows.map((r) => ({
    seq: r.seq,
    row: r.row_number,
    field: r.field,
    code: r.code,
    message: r.message,
  }));
}

export interface DraftLineFilter {
  branchId?: string;
  sourceId?: string;
  q?: string;
  flag?: string;
  afterRow?: number;
  limit: number;
}

/** Draft lines shaped as api.md's Payment (status `draft`, no Method fields yet). */
export async function listDraftLines(db: Queryable, batch: Batch, f: DraftLineFilter) {
  const args: unknown[] = [batch.id, f.limit];
  const where = ['l.batch_id = $1'];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    where.push(sql.replaceAll('?', `$${args.length}`));
  };
  if (f.branchId) add('l.branch_id = ?', f.branchId);
  if (f.sourceId) add('l.source_id = ?', f.sourceId);
  if (f.flag === 'UNPAYABLE_DESTINATION') {
    where.push('EXISTS (SELECT 1 FROM plaid_merchants m WHERE m.plaid_id = l.plaid_id AND NOT m.payable)');
  } else if (f.flag) add('? = ANY (l.flags)', f.flag);
  if (f.q) {
    if (/^EMP-/i.test(f.q)) add('l.employee_id = ?', normalizeEmployeeId(f.q));
    else add("(l.first_name || ' ' || l.last_name) ILIKE ?", `%${f.q.replace(/[%_\\]/g, '\\$&')}%`);
  }
  if (f.afterRow !== undefined) add('l.row_number > ?', f.afterRow);
  const { rows } = await db.query(
    `SELECT l.row_number, l.employee_id, l.first_name, l.last_name, l.branch_id, l.source_id, l.amount_cents, l.flags,
            l.plaid_id
       FROM batch_lines l WHERE ${where.join(' AND ')} ORDER BY l.row_number LIMIT $2`,
    args,
  );
  return rows.map((r) => ({
    id: null,
    batchId: batch.id,
    rowNumber: r.row_number as number,
    employeeId: r.employee_id as string,
    employeeName: `${r.first_name} ${r.last_name}`,
    branchId: r.branch_id as string,
    sourceId: r.source_id as string,
    plaidId: r.plaid_id as string,
    amountCents: r.amount_cents as number,
    status: 'draft',
    group: null,
    methodPaymentId: null,
    methodStatus: null,
    failureCode: null,
    failureMessage: null,
    attempts: 0,
    flags: r.flags as string[],
    createdAt: batch.uploadedAt,
    updatedAt: batch.uploadedAt,
  }));
}
