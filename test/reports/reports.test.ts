// The three CSV reports of a batch once it runs: exact columns and order, current statuses, totals
// to the cent against the file, the payments table and each other, awkward names surviving an
// RFC 4180 round trip, no account number anywhere, roles.
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { inSnapshot, paymentRows } from '../../src/server/reports/reports.repository.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  accountNumbers,
  book,
  csvObjects,
  dollars,
  FAILED,
  fileTotalCents,
  IN_FLIGHT,
  move,
  PAID,
  RETURNED,
  toCents,
  upload,
} from './support.js';

const PAYMENT_HEADER =
  'payment_id,batch_id,row_number,employee_id,employee_name,branch_id,source_id,source_name,amount,status,method_payment_id,method_status,failure_code,failure_message,created_at,updated_at';
const GROUPS =
  'paid_count,paid_amount,pending_count,pending_amount,failed_count,failed_amount,returned_count,returned_amount,cancelled_count,cancelled_amount';
const SOURCE_HEADER = `batch_id,source_id,source_name,payment_count,total_amount,${GROUPS}`;
const BRANCH_HEADER = `batch_id,branch_id,employee_count,payment_count,total_amount,${GROUPS}`;

// Commas, double quotes, apostrophes (straight and curly), accents, an ampersand and a dash.
const PAYOR_NAME = `Dunkin' "Donuts", LLC — Café & Crème`;
const FIRST_NAME = 'Zoë-Ñúñez';
const LAST_NAME = "O’Brien d'Ávila";

let t: TestApp;
let batchId: string;
let xml: string;
let gen: ReturnType<typeof generateToString>['result'];

const get = (url: string, role = 'auditor') => t.as(role, { method: 'GET', url });
const report = async (kind: string) => {
  const r = await get(`/api/batches/${batchId}/reports/${kind}.csv`);
  expect(r.statusCode, r.body).toBe(200);
  return r;
};

beforeAll(async () => {
  t = await createTestApp({ REQUIRE_SECOND_APPROVER: 'true' });
  const g = generateToString({
    rows: 400,
    employees: 60,
    sources: 5,
    branches: 12,
    seed: 7007,
    entities: true,
    utf8Names: true,
  });
  gen = g.result;
  const first = /<FirstName>([^<]+)<\/FirstName>\s*<LastName>([^<]+)<\/LastName>/.exec(g.xml)!;
  xml = g.xml
    .replaceAll(
      /<Name>Dunkin(?:&apos;|')? Donuts LLC<\/Name>/g,
      '<Name>Dunkin&apos; &quot;Donuts&quot;, LLC — Café &amp; Crème</Name>',
    )
    .replaceAll(`<FirstName>${first[1]}</FirstName>`, `<FirstName>${FIRST_NAME}</FirstName>`)
    .replaceAll(`<LastName>${first[2]}</LastName>`, `<LastName>${LAST_NAME}</LastName>`);
  batchId = await upload(t, xml, 'awkward, "names".xml');
});

describe('a draft', () => {
  it('payments.csv round-trips awkward names through a real CSV parse', async () => {
    const r = await report('payments');
    expect(r.body).toContain(`"Dunkin' ""Donuts"", LLC — Café & Crème"`);
    const { header, rows } = csvObjects(r.body);
    expect(header.join(',')).toBe(PAYMENT_HEADER);
    expect(rows).toHaveLength(gen.rowCount);
    expect(new Set(rows.map((x) => x.source_name))).toEqual(new Set([PAYOR_NAME]));
    expect(rows.filter((x) => x.employee_name.startsWith(`${FIRST_NAME} `)).length).toBeGreaterThan(0);
    expect(rows.some((x) => x.employee_name.endsWith(` ${LAST_NAME}`))).toBe(true);
    expect(rows.every((x) => x.status === 'draft' && x.payment_id === '' && x.method_status === '')).toBe(
      true,
    );
  });
});

describe('a running batch', () => {
  let moved: Record<string, string>;

  beforeAll(async () => {
    await book(t, batchId);
    const { rows } = await t.db.pool.query(
      "SELECT id FROM payments WHERE batch_id = $1 AND status = 'queued' ORDER BY row_number",
      [batchId],
    );
    const ids: string[] = rows.map((r) => r.id);
    moved = {};
    // 40 paid, 15 failed, 10 returned, 10 in flight; the rest stay queued; unpayable rows are cancelled.
    for (const [from, to, path, status] of [
      [0, 40, PAID, 'paid'],
      [40, 55, FAILED, 'failed'],
      [55, 65, RETURNED, 'returned'],
      [65, 75, IN_FLIGHT, 'submitted'],
    ] as const) {
      for (const id of ids.slice(from, to)) {
        await move(t, id, [...path]);
        moved[id] = status;
      }
    }
  });

  it('payments.csv: exact header, one line per payment by row number, current statuses, exact values', async () => {
    const r = await report('payments');
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toBe(`attachment; filename="batch-${batchId}-payments.csv"`);
    expect(r.body.split('\r\n')[0]).toBe(PAYMENT_HEADER);
    const { rows } = csvObjects(r.body);
    const db = await t.db.pool.query(
      `SELECT p.*, s.name AS source_name FROM payments p JOIN sources s USING (source_id)
        WHERE batch_id = $1 ORDER BY row_number`,
      [batchId],
    );
    expect(rows).toHaveLength(gen.rowCount);
    expect(rows).toEqual(
      db.rows.map((p) => ({
        payment_id: p.id,
        batch_id: batchId,
        row_number: String(p.row_number),
        employee_id: p.employee_id,
        employee_name: p.employee_name,
        branch_id: p.branch_id,
        source_id: p.source_id,
        source_name: PAYOR_NAME,
        amount: dollars(p.amount_cents),
        status: p.status,
        method_payment_id: p.method_payment_id ?? '',
        method_status: p.method_status ?? '',
        failure_code: p.failure_code ?? '',
        failure_message: p.failure_message ?? '',
        created_at: p.created_at.toISOString(),
        updated_at: p.updated_at.toISOString(),
      })),
    );
    for (const [id, status] of Object.entries(moved)) {
      expect(rows.find((x) => x.payment_id === id)!.status).toBe(status);
    }
    const failed = rows.find((x) => x.status === 'failed')!;
    expect(failed.failure_message).toBe('R01, "NSF"');
    expect(r.body).toContain('"R01, ""NSF"""');
    const unpayable = rows.filter((x) => x.failure_code === 'UNPAYABLE_DESTINATION');
    expect(unpayable.length).toBeGreaterThan(0);
    expect(unpayable.every((x) => x.status === 'cancelled')).toBe(true);
    // Awkward names came through the running batch too.
    expect(rows.some((x) => x.employee_name.startsWith(`${FIRST_NAME} `))).toBe(true);
    expect(rows.reduce((a, x) => a + toCents(x.amount), 0)).toBe(fileTotalCents(xml));
  });

  it('sources.csv and branches.csv equal a fresh computation from the payments table', async () => {
    const fresh = async (dim: 'source_id' | 'branch_id') =>
      (
        await t.db.pool.query(
          `SELECT ${dim} AS key, count(DISTINCT employee_id)::int AS employees, count(*)::int AS n, sum(amount_cents) AS cents,
                  ${['paid', 'failed', 'returned', 'cancelled']
                    .map(
                      (g) => `count(*) FILTER (WHERE status = '${g}')::int AS ${g}_n,
                              coalesce(sum(amount_cents) FILTER (WHERE status = '${g}'), 0) AS ${g}_c`,
                    )
                    .join(', ')},
                  count(*) FILTER (WHERE status NOT IN ('paid', 'failed', 'returned', 'cancelled'))::int AS pending_n,
                  coalesce(sum(amount_cents) FILTER (WHERE status NOT IN ('paid', 'failed', 'returned', 'cancelled')), 0) AS pending_c
             FROM payments WHERE batch_id = $1 GROUP BY 1`,
          [batchId],
        )
      ).rows;
    const expectLine = (r: Record<string, number | string>) => ({
      payment_count: String(r.n),
      total_amount: dollars(Number(r.cents)),
      ...Object.fromEntries(
        ['paid', 'pending', 'failed', 'returned', 'cancelled'].flatMap((g) => [
          [`${g}_count`, String(r[`${g}_n`])],
          [`${g}_amount`, dollars(Number(r[`${g}_c`]))],
        ]),
      ),
    });
    const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

    const s = await report('sources');
    expect(s.headers['content-disposition']).toBe(`attachment; filename="batch-${batchId}-sources.csv"`);
    const sources = csvObjects(s.body);
    expect(sources.header.join(',')).toBe(SOURCE_HEADER);
    const freshSources = (await fresh('source_id')).sort((a, b) => byCode(a.key, b.key));
    expect(sources.rows).toEqual(
      freshSources.map((r) => ({
        batch_id: batchId,
        source_id: r.key,
        source_name: PAYOR_NAME,
        ...expectLine(r),
      })),
    );

    const b = await report('branches');
    expect(b.headers['content-disposition']).toBe(`attachment; filename="batch-${batchId}-branches.csv"`);
    const branches = csvObjects(b.body);
    expect(branches.header.join(',')).toBe(BRANCH_HEADER);
    const freshBranches = (await fresh('branch_id')).sort((a, b) => byCode(a.key, b.key));
    expect(branches.rows).toEqual(
      freshBranches.map((r) => ({
        batch_id: batchId,
        branch_id: r.key,
        employee_count: String(r.employees),
        ...expectLine(r),
      })),
    );

    // To the cent: the file, the generator, payments.csv, sources.csv and branches.csv agree.
    const payments = csvObjects((await report('payments')).body).rows;
    const sum = (rows: Record<string, string>[], col: string) =>
      rows.reduce((a, x) => a + toCents(x[col]!), 0);
    const total = fileTotalCents(xml);
    expect(total).toBe(gen.totalCents);
    expect(sum(payments, 'amount')).toBe(total);
    expect(sum(sources.rows, 'total_amount')).toBe(total);
    expect(sum(branches.rows, 'total_amount')).toBe(total);
    for (const g of ['paid', 'pending', 'failed', 'returned', 'cancelled']) {
      const groupOf = (st: string) =>
        ['paid', 'failed', 'returned', 'cancelled'].includes(st) ? st : 'pending';
      const fromPayments = payments.filter((x) => groupOf(x.status!) === g);
      expect(sum(sources.rows, `${g}_amount`)).toBe(sum(fromPayments, 'amount'));
      expect(sum(branches.rows, `${g}_amount`)).toBe(sum(fromPayments, 'amount'));
    }
    expect(sum(sources.rows, 'paid_amount')).toBeGreaterThan(0);
    for (const row of sources.rows)
      expect(toCents(row.total_amount!)).toBe(gen.totalsBySource[row.source_id!]);
    for (const row of branches.rows)
      expect(toCents(row.total_amount!)).toBe(gen.totalsByBranch[row.branch_id!]);
  });

  it('the sources and branches reports read the aggregate rows, not the payments', async () => {
    // A delta row no payment explains shows up in both reports: proof of where they read from.
    const before = csvObjects((await report('sources')).body).rows;
    const src = before[0]!.source_id!;
    const { rows } = await t.db.pool.query(
      'SELECT branch_id FROM payments WHERE batch_id = $1 AND source_id = $2 LIMIT 1',
      [batchId, src],
    );
    const branch = rows[0].branch_id;
    const ins = await t.db.pool.query(
      `INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       VALUES ($1, $2, $3, 'paid', 1, 12345) RETURNING id`,
      [batchId, src, branch],
    );
    try {
      const s = csvObjects((await report('sources')).body).rows.find((x) => x.source_id === src)!;
      const was = before.find((x) => x.source_id === src)!;
      expect(toCents(s.paid_amount!)).toBe(toCents(was.paid_amount!) + 12345);
      expect(toCents(s.total_amount!)).toBe(toCents(was.total_amount!) + 12345);
      const b = csvObjects((await report('branches')).body).rows.find((x) => x.branch_id === branch)!;
      expect(Number(b.paid_count)).toBeGreaterThan(0);
    } finally {
      await t.db.pool.query('DELETE FROM batch_aggregate_deltas WHERE id = $1', [ins.rows[0].id]);
    }
    expect(csvObjects((await report('sources')).body).rows).toEqual(before);
  });

  it('reports are current: a payment paid now is paid in the next download', async () => {
    const { rows } = await t.db.pool.query(
      "SELECT id, source_id, amount_cents FROM payments WHERE batch_id = $1 AND status = 'queued' LIMIT 1",
      [batchId],
    );
    const p = rows[0];
    const paidBefore = csvObjects((await report('sources')).body).rows.find(
      (x) => x.source_id === p.source_id,
    )!;
    await move(t, p.id, [...PAID]);
    const after = csvObjects((await report('sources')).body).rows.find((x) => x.source_id === p.source_id)!;
    expect(toCents(after.paid_amount!)).toBe(toCents(paidBefore.paid_amount!) + p.amount_cents);
    expect(Number(after.paid_count)).toBe(Number(paidBefore.paid_count) + 1);
    expect(after.total_amount).toBe(paidBefore.total_amount);
    const line = csvObjects((await report('payments')).body).rows.find((x) => x.payment_id === p.id)!;
    expect(line.status).toBe('paid');
  });

  it('payments.csv: text PostgreSQL escapes in COPY comes back exact; line breaks are quoted (RFC 4180)', async () => {
    const { rows } = await t.db.pool.query(
      'SELECT id, employee_name, failure_message, created_at, updated_at FROM payments WHERE batch_id = $1 ORDER BY row_number LIMIT 1',
      [batchId],
    );
    const p = rows[0];
    const message = 'line one\nline two\r\nthen\ra tab\there, a backslash \\ and \\N, "quotes", commas, é ✓';
    const name = 'Back\\slash\tTab';
    await t.db.pool.query(
      `UPDATE payments SET failure_message = $2, employee_name = $3,
              created_at = '2026-01-02 03:04:05.5+00', updated_at = '2026-01-02 03:04:05+00' WHERE id = $1`,
      [p.id, message, name],
    );
    try {
      const r = await report('payments');
      // The RFC 4180 parser refuses a bare LF or CR outside quotes.
      const line = csvObjects(r.body).rows.find((x) => x.payment_id === p.id)!;
      expect(line.failure_message).toBe(message);
      expect(line.employee_name).toBe(name);
      expect(line.created_at).toBe('2026-01-02T03:04:05.500Z');
      expect(line.updated_at).toBe('2026-01-02T03:04:05.000Z');
      expect(r.body).toContain(`"${message.replaceAll('"', '""')}"`);
    } finally {
      await t.db.pool.query(
        'UPDATE payments SET failure_message = $2, employee_name = $3, created_at = $4, updated_at = $5 WHERE id = $1',
        [p.id, p.failure_message, p.employee_name, p.created_at, p.updated_at],
      );
    }
  });

  it('a download left midway gives its connection back and leaves no query running', async () => {
    const pool = t.db.pool;
    const rows = inSnapshot(pool, (db) => paymentRows(db, batchId));
    const first = await rows.next();
    expect(first.done).toBe(false);
    expect((first.value as unknown[]).length).toBeGreaterThan(0);
    await rows.return(undefined);
    const { rows: copies } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND state <> 'idle'",
    );
    expect(copies[0].n).toBe(0);
    // Every connection idle again (the cancel request runs on a pool connection of its own).
    for (let i = 0; i < 100 && pool.totalCount - pool.idleCount > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(pool.totalCount - pool.idleCount).toBe(0);
    // And the report still downloads whole.
    expect(csvObjects((await report('payments')).body).rows).toHaveLength(gen.rowCount);
  });

  it('an error mid-stream: the download fails rather than ends short, and its connection is not reused', async () => {
    const pool = t.db.pool;
    // A timestamp the report cannot print, past the first batch of rows.
    const { rows } = await pool.query(
      'SELECT id, updated_at FROM payments WHERE batch_id = $1 ORDER BY row_number OFFSET 300 LIMIT 1',
      [batchId],
    );
    const p = rows[0];
    await pool.query("UPDATE payments SET updated_at = 'infinity' WHERE id = $1", [p.id]);
    try {
      const batches = inSnapshot(pool, (db) => paymentRows(db, batchId));
      let seen = 0;
      await expect(
        (async () => {
          for await (const b of batches) seen += b.length;
        })(),
      ).rejects.toThrow(/unexpected timestamp/);
      expect(seen).toBeLessThan(gen.rowCount);
      for (let i = 0; i < 100 && pool.totalCount - pool.idleCount > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(pool.totalCount - pool.idleCount).toBe(0);
      const { rows: copies } = await pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND state <> 'idle'",
      );
      expect(copies[0].n).toBe(0);
      // Over HTTP the response is cut off, never a well-formed CSV missing rows.
      const r = await get(`/api/batches/${batchId}/reports/payments.csv`).catch((err: Error) => err);
      if (!(r instanceof Error))
        expect(r.body.endsWith('\r\n') && r.body.split('\r\n').length - 2 === gen.rowCount).toBe(false);
    } finally {
      await pool.query('UPDATE payments SET updated_at = $2 WHERE id = $1', [p.id, p.updated_at]);
    }
    expect(csvObjects((await report('payments')).body).rows).toHaveLength(gen.rowCount);
  });

  it('no account number (source or loan) appears in any report', async () => {
    const numbers = accountNumbers(xml);
    expect(numbers.length).toBe(gen.rowCount * 2);
    for (const kind of ['payments', 'sources', 'branches']) {
      const cells = csvObjects((await report(kind)).body).rows.flatMap((r) => Object.values(r));
      for (const n of new Set(numbers)) expect(cells.some((c) => c.includes(n))).toBe(false);
    }
  });

  it('every role reads reports; without a user 401; an unknown batch is a JSON 404', async () => {
    for (const kind of ['payments', 'sources', 'branches']) {
      const url = `/api/batches/${batchId}/reports/${kind}.csv`;
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
      for (const role of ['admin', 'operator', 'approver', 'auditor']) {
        expect((await get(url, role)).statusCode).toBe(200);
      }
      const missing = await get(`/api/batches/00000000-0000-4000-8000-000000000000/reports/${kind}.csv`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('NOT_FOUND');
      expect((await get(`/api/batches/nope/reports/${kind}.csv`)).statusCode).toBe(400);
      expect((await t.as('auditor', { method: 'POST', url })).statusCode).toBe(404);
    }
  });
});

describe('a rejected batch', () => {
  it('keeps its draft reports', async () => {
    const g = generateToString({ rows: 5, employees: 2, sources: 1, branches: 1, seed: 99 });
    const id = await upload(
      t,
      g.xml.replaceAll(
        /<Name>Dunkin(?:&apos;|')? Donuts LLC<\/Name>/g,
        '<Name>Dunkin&apos; &quot;Donuts&quot;, LLC — Café &amp; Crème</Name>',
      ),
      'r.xml',
    );
    const rj = await t.as('approver', {
      method: 'POST',
      url: `/api/batches/${id}/reject`,
      payload: { reason: 'no' },
    });
    expect(rj.statusCode).toBe(200);
    const p = csvObjects((await get(`/api/batches/${id}/reports/payments.csv`)).body).rows;
    expect(p.map((x) => x.status)).toEqual(['draft', 'draft', 'draft', 'draft', 'draft']);
    const s = csvObjects((await get(`/api/batches/${id}/reports/sources.csv`)).body).rows;
    expect(s).toHaveLength(1);
    expect(toCents(s[0]!.total_amount!)).toBe(g.result.totalCents);
    expect(s[0]!.pending_amount).toBe('0.00');
  });
});
