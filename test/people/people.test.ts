// Employees and sources across batches: search by partial name and id with cursor pages, masked
// profiles, wallets after payments are paid, failed and returned (ledger vs payments), roles.
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { checkLedger } from '../../src/server/ledger/ledger.repository.js';
import { accountNumbers, book, FAILED, IN_FLIGHT, move, PAID, RETURNED, upload } from '../reports/support.js';
import { createTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let xml: string;
let gen: ReturnType<typeof generateToString>['result'];
const get = (url: string, role = 'auditor') => t.as(role, { method: 'GET', url });

beforeAll(async () => {
  t = await createTestApp({ REQUIRE_SECOND_APPROVER: 'true' });
  const g = generateToString({
    rows: 300,
    employees: 40,
    sources: 3,
    branches: 6,
    seed: 4242,
    utf8Names: true,
  });
  xml = g.xml;
  gen = g.result;
  await book(t, await upload(t, xml));
});

describe('employee search', () => {
  it('pages through every employee in name order with the cursor', async () => {
    const seen: { employeeId: string; lastName: string; firstName: string }[] = [];
    let cursor: string | null = null;
    do {
      const r = await get(`/api/employees?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.statusCode).toBe(200);
      const body: { items: typeof seen; nextCursor: string | null } = r.json();
      expect(body.items.length).toBeLessThanOrEqual(7);
      seen.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(gen.employees);
    expect(new Set(seen.map((e) => e.employeeId)).size).toBe(gen.employees);
    const { rows } = await t.db.pool.query(
      'SELECT employee_id FROM employees ORDER BY last_name, first_name, employee_id',
    );
    expect(seen.map((e) => e.employeeId)).toEqual(rows.map((r) => r.employee_id));
    expect((await get('/api/employees?cursor=zzz')).statusCode).toBe(400);
    expect((await get('/api/employees?limit=0')).statusCode).toBe(400);
  });

  it('finds by partial name (any case, several words, accents) and by full or partial id', async () => {
    const { rows } = await t.db.pool.query(
      'SELECT employee_id, first_name, last_name, branch_id FROM employees ORDER BY employee_id',
    );
    const e = rows[0];
    const ids = (r: { json(): { items: { employeeId: string }[] } }) =>
      r.json().items.map((x) => x.employeeId);
    const expectIds = (pred: (x: (typeof rows)[number]) => boolean) =>
      rows
        .filter(pred)
        .sort((a, b) =>
          a.last_name === b.last_name
            ? a.first_name === b.first_name
              ? cmp(a.employee_id, b.employee_id)
              : cmp(a.first_name, b.first_name)
            : cmp(a.last_name, b.last_name),
        )
        .map((x) => x.employee_id);
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

    const fragment = e.last_name.slice(1, 4).toUpperCase();
    const byFragment = await get(`/api/employees?q=${encodeURIComponent(fragment)}&limit=1000`);
    expect(byFragment.statusCode).toBe(200);
    expect(new Set(ids(byFragment))).toEqual(
      new Set(
        expectIds(
          (x) =>
            `${x.first_name} ${x.last_name}`.toLowerCase().includes(fragment.toLowerCase()) ||
            x.employee_id.toLowerCase().includes(fragment.toLowerCase()),
        ),
      ),
    );
    expect(ids(byFragment)).toContain(e.employee_id);

    const full = await get(`/api/employees?q=${encodeURIComponent(`${e.first_name} ${e.last_name}`)}`);
    expect(ids(full)).toContain(e.employee_id);
    expect(full.json().items.every((x: { firstName: string }) => x.firstName === e.first_name)).toBe(true);

    const byId = await get(`/api/employees?q=${e.employee_id.toUpperCase().replace('EMP-', 'emp-')}`);
    expect(byId.json().items).toEqual([
      {
        employeeId: e.employee_id,
        firstName: e.first_name,
        lastName: e.last_name,
        branchId: e.branch_id,
        paidCents: expect.any(Number),
        pendingCents: expect.any(Number),
      },
    ]);
    const idPart = e.employee_id.slice(4, 12);
    expect(ids(await get(`/api/employees?q=${idPart}`))).toEqual([e.employee_id]);

    const accented = rows.find((x) => /[^\x20-\x7e]/.test(`${x.first_name}${x.last_name}`));
    expect(accented).toBeDefined();
    const word = /[^\x20-\x7e]/.test(accented.first_name) ? accented.first_name : accented.last_name;
    expect(ids(await get(`/api/employees?q=${encodeURIComponent(word)}`))).toContain(accented.employee_id);

    expect((await get('/api/employees?q=zzqqxx')).json()).toEqual({ items: [], nextCursor: null });
    // LIKE wildcards are text, not patterns.
    expect((await get('/api/employees?q=%25')).json().items).toEqual([]);
    expect((await get('/api/employees?q=_')).json().items).toEqual([]);
  });
});

describe('wallets after payments are paid, failed and returned', () => {
  let employeeId: string;
  let sourceId: string;
  const amounts: Record<string, number> = {};

  beforeAll(async () => {
    const { rows } = await t.db.pool.query(
      `SELECT employee_id FROM payments WHERE status = 'queued' GROUP BY employee_id HAVING count(*) >= 5
        ORDER BY employee_id LIMIT 1`,
    );
    employeeId = rows[0].employee_id;
    const mine = await t.db.pool.query(
      "SELECT id, amount_cents, source_id FROM payments WHERE employee_id = $1 AND status = 'queued' ORDER BY row_number",
      [employeeId],
    );
    const [paid1, paid2, failed, returned, inFlight] = mine.rows;
    await move(t, paid1.id, PAID);
    await move(t, paid2.id, PAID);
    await move(t, failed.id, FAILED);
    await move(t, returned.id, RETURNED);
    await move(t, inFlight.id, IN_FLIGHT);
    amounts.paid = paid1.amount_cents + paid2.amount_cents;
    amounts.failed = failed.amount_cents;
    amounts.returned = returned.amount_cents;
    // Everything not moved (queued) plus the one in flight is pending; unpayable rows are cancelled.
    amounts.pending = mine.rows.slice(4).reduce((a, p) => a + p.amount_cents, 0);
    sourceId = paid1.source_id;
    // Other employees' payments of the same source move too, so the source wallet is not one person's.
    const others = await t.db.pool.query(
      `SELECT id FROM payments WHERE source_id = $1 AND employee_id <> $2 AND status = 'queued' ORDER BY row_number LIMIT 9`,
      [sourceId, employeeId],
    );
    for (const [i, p] of others.rows.entries()) await move(t, p.id, [PAID, FAILED, RETURNED][i % 3]!);
  });

  it('an employee: wallet exact, year to date from the ledger, masked profile, history', async () => {
    const r = await get(`/api/employees/${employeeId}`);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.wallet).toEqual({
      paidCents: amounts.paid,
      pendingCents: amounts.pending,
      failedCents: amounts.failed,
      returnedCents: amounts.returned,
      yearToDatePaidCents: amounts.paid,
    });
    const e = (await t.db.pool.query('SELECT * FROM employees WHERE employee_id = $1', [employeeId])).rows[0];
    expect(body.employee).toMatchObject({
      employeeId,
      firstName: e.first_name,
      lastName: e.last_name,
      branchId: e.branch_id,
      phoneMasked: `••••${e.phone.replace(/\D/g, '').slice(-4)}`,
      dobYear: e.dob.getFullYear(),
    });
    const loans = (
      await t.db.pool.query('SELECT plaid_id, loan_last4 FROM loans WHERE employee_id = $1', [employeeId])
    ).rows;
    expect(body.employee.loans).toHaveLength(loans.length);
    for (const l of body.employee.loans) {
      expect(l).toEqual({
        plaidId: expect.any(String),
        loanAccountLast4: expect.stringMatching(/^\d{4}$/),
        methodAccountId: null,
      });
    }
    const count = (
      await t.db.pool.query('SELECT count(*)::int AS n FROM payments WHERE employee_id = $1', [employeeId])
    ).rows[0].n;
    expect(body.payments).toHaveLength(count);
    expect(body.payments.map((p: { status: string }) => p.status).sort()).toEqual(
      expect.arrayContaining(['failed', 'paid', 'paid', 'returned', 'submitted']),
    );
    expect(body.paymentsTruncated).toBe(false);
    // Only the last four digits of anything: no phone, loan or bank account number in the body.
    expect(r.body).not.toContain(e.phone.replace(/\D/g, '').slice(-7));
    for (const n of new Set(accountNumbers(xml))) expect(r.body).not.toContain(n);

    const item = (await get(`/api/employees?q=${employeeId}`)).json().items[0];
    expect(item.paidCents).toBe(amounts.paid);
    expect(item.pendingCents).toBe(amounts.pending);
  });

  it('a source: wallet from the ledger equals the payments; routing shown, account as last four', async () => {
    const r = await get(`/api/sources/${sourceId}`);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    const sums = (
      await t.db.pool.query(
        `SELECT coalesce(sum(amount_cents) FILTER (WHERE status = 'paid'), 0) AS paid,
                coalesce(sum(amount_cents) FILTER (WHERE status NOT IN ('paid', 'failed', 'returned', 'cancelled')), 0) AS pending,
                coalesce(sum(amount_cents) FILTER (WHERE status = 'failed'), 0) AS failed,
                coalesce(sum(amount_cents) FILTER (WHERE status = 'returned'), 0) AS returned
           FROM payments WHERE source_id = $1`,
        [sourceId],
      )
    ).rows[0];
    expect(body.wallet).toEqual({
      paidCents: sums.paid,
      pendingCents: sums.pending,
      failedCents: sums.failed,
      returnedCents: sums.returned,
    });
    expect(sums.paid).toBeGreaterThan(amounts.paid);
    expect(sums.returned).toBeGreaterThan(amounts.returned);
    const acct = (
      await t.db.pool.query('SELECT routing, account_last4 FROM source_bank_accounts WHERE source_id = $1', [
        sourceId,
      ])
    ).rows[0];
    expect(body.source).toEqual({
      sourceId,
      name: "Dunkin' Donuts LLC",
      dba: "Dunkin' Donuts",
      routing: acct.routing,
      accountLast4: acct.account_last4,
      methodAccountId: null,
    });
    for (const n of new Set(accountNumbers(xml))) expect(r.body).not.toContain(n);
    const count = (
      await t.db.pool.query('SELECT count(*)::int AS n FROM payments WHERE source_id = $1', [sourceId])
    ).rows[0].n;
    expect(body.payments).toHaveLength(count);

    const list = await get('/api/sources');
    expect(list.json().items.map((s: { sourceId: string }) => s.sourceId)).toEqual([...gen.sourceIds].sort());
    expect(list.json().items.find((s: { sourceId: string }) => s.sourceId === sourceId)).toEqual({
      sourceId,
      name: "Dunkin' Donuts LLC",
      routing: acct.routing,
      accountLast4: acct.account_last4,
      paidCents: sums.paid,
      pendingCents: sums.pending,
    });
    for (const n of new Set(accountNumbers(xml))) expect(list.body).not.toContain(n);
    const page1 = (await get('/api/sources?limit=2')).json();
    expect(page1.items).toHaveLength(2);
    const page2 = (await get(`/api/sources?limit=2&cursor=${page1.nextCursor}`)).json();
    expect(page2.items.map((s: { sourceId: string }) => s.sourceId)).toEqual(
      [...gen.sourceIds].sort().slice(2),
    );
    expect((await get(`/api/sources?q=${sourceId.slice(5, 13)}`)).json().items).toHaveLength(1);
    expect((await checkLedger(t.db.pool)).balanced).toBe(true);
  });
});

describe('roles and errors', () => {
  it('every people route needs a user, is readable by every role, and 404s on unknown ids', async () => {
    const e = (await t.db.pool.query('SELECT employee_id FROM employees LIMIT 1')).rows[0].employee_id;
    const urls = [
      '/api/employees',
      `/api/employees/${e}`,
      '/api/sources',
      `/api/sources/${gen.sourceIds[0]}`,
    ];
    for (const url of urls) {
      const anon = await t.app.inject({ method: 'GET', url });
      expect(anon.statusCode).toBe(401);
      expect(anon.json().error.code).toBe('UNAUTHENTICATED');
      for (const role of ['admin', 'operator', 'approver', 'auditor']) {
        expect((await get(url, role)).statusCode).toBe(200);
      }
    }
    const missingE = await get('/api/employees/EMP-00000000-0000-4000-8000-000000000000');
    expect(missingE.statusCode).toBe(404);
    expect(missingE.json().error.code).toBe('NOT_FOUND');
    expect((await get('/api/sources/CORP-00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await get('/api/employees/nobody')).statusCode).toBe(400);
    expect((await get('/api/sources/nothing')).statusCode).toBe(400);
    expect((await get('/api/employees?nope=1')).statusCode).toBe(400);
  });
});
