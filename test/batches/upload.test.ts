// POST /api/batches end to end on real PostgreSQL: the real excerpts, bad files, hostile XML,
// duplicates, warnings, changes, and that a refused file stores nothing but an audit entry.
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BadKind, generateToString } from '../../bench/generator.js';
import { Cipher } from '../../src/server/secrets.js';
import { createTestApp, TEST_KEY, type TestApp } from '../support/app.js';

const SAMPLES = new URL('../../../shared/samples/dunkin-peers/', import.meta.url);
const sample = (name: string) => readFileSync(new URL(name, SAMPLES));

/** Sums the <Amount> texts as integer cents straight from the bytes: an independent check. */
function sumAmounts(xml: string): { rows: number; cents: number } {
  let cents = 0;
  let rows = 0;
  for (const m of xml.matchAll(/<Amount>\$?([\d,]+)\.(\d\d)<\/Amount>/g)) {
    cents += Number(m[1]!.replaceAll(',', '')) * 100 + Number(m[2]);
    rows++;
  }
  return { rows, cents };
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ REQUIRE_SECOND_APPROVER: 'true' });
});

/** An operator's raw-XML upload to `app` (for tests that need an app of their own). */
const uploaderFor = (app: TestApp) => (xml: string) =>
  app.as('operator', {
    method: 'POST',
    url: '/api/batches',
    headers: { 'content-type': 'application/xml' },
    payload: xml,
  });

const upload = (body: string | Buffer, name = 'file.xml', role = 'operator') =>
  t.as(role, {
    method: 'POST',
    url: '/api/batches',
    headers: { 'content-type': 'application/xml', 'x-file-name': name },
    payload: body,
  });

async function storedCounts() {
  const { rows } = await t.db.pool.query(
    `SELECT (SELECT count(*)::int FROM batches) AS batches, (SELECT count(*)::int FROM batch_lines) AS lines,
            (SELECT count(*)::int FROM employees) AS employees, (SELECT count(*)::int FROM loans) AS loans,
            (SELECT count(*)::int FROM sources) AS sources`,
  );
  return rows[0];
}

async function expectNothingStoredBy(fn: () => Promise<unknown>) {
  const before = await storedCounts();
  const audits = (
    await t.db.pool.query("SELECT count(*)::int AS n FROM audit_log WHERE action = 'batch.upload_refused'")
  ).rows[0].n;
  await fn();
  expect(await storedCounts()).toEqual(before);
  const after = (
    await t.db.pool.query("SELECT count(*)::int AS n FROM audit_log WHERE action = 'batch.upload_refused'")
  ).rows[0].n;
  expect(after).toBe(audits + 1);
}

describe('the real excerpts', () => {
  const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.xml') && !f.includes('handedited'));

  it.each(files)('%s is accepted with exact totals', async (file) => {
    const xml = sample(file);
    const expected = sumAmounts(xml.toString('utf8'));
    const r = await upload(xml, file, 'admin');
    // Files that are prefixes of one another have different row sets, so none is a duplicate.
    expect(r.statusCode, r.body).toBe(201);
    const { batch } = r.json();
    expect(batch.status).toBe('awaiting_approval');
    expect(batch.fileName).toBe(file);
    expect(batch.rowCount).toBe(expected.rows);
    expect(batch.totalCents).toBe(expected.cents);
    expect(batch.counts).toEqual({ pending: 0, paid: 0, failed: 0, returned: 0, cancelled: 0 });
    const s = batch.summary;
    expect(s.bySource.reduce((a: number, x: { totalCents: number }) => a + x.totalCents, 0)).toBe(
      expected.cents,
    );
    expect(s.byBranch.reduce((a: number, x: { paymentCount: number }) => a + x.paymentCount, 0)).toBe(
      expected.rows,
    );
    expect(s.preflight.status).toBe('pending');
    // The real payor's EIN has 8 digits: warned once per source, never an error.
    expect(s.warnings.byCode.EIN_NOT_9_DIGITS).toBe(s.bySource.length);
    // 67485 is a Kansas ZIP with state IA; the 426-row copy has ZIP 50613 (Iowa) instead.
    // The hand-edited ninjapanda47 copy moved row 2's payor to Austin, TX (a matching ZIP).
    if (file.includes('zipAltered')) expect(s.warnings.byCode.ZIP_STATE_MISMATCH).toBeUndefined();
    else if (file.includes('addressEdited')) expect(s.warnings.byCode.ZIP_STATE_MISMATCH).toBe(1);
    else expect(s.warnings.byCode.ZIP_STATE_MISMATCH).toBe(s.bySource.length);
  });

  it('the first row alone: $8.15 for Ariel Hayes, one source, one branch', async () => {
    const b = (await t.as('auditor', { method: 'GET', url: '/api/batches?limit=1000' }))
      .json()
      .items.find((x: { fileName: string }) => x.fileName === 'rexmeeks_dunkinSingle_1row_original.xml');
    expect(b.totalCents).toBe(815);
    const lines = await t.as('auditor', { method: 'GET', url: `/api/batches/${b.id}/payments` });
    expect(lines.json().items).toEqual([
      expect.objectContaining({
        rowNumber: 1,
        employeeId: 'EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f',
        employeeName: 'Ariel Hayes',
        branchId: 'BRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6',
        sourceId: 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8',
        amountCents: 815,
        status: 'draft',
        group: null,
        methodPaymentId: null,
      }),
    ]);
  });

  it('the hand-edited file with an FRC- branch id is refused naming row 2 and the field', async () => {
    await expectNothingStoredBy(async () => {
      const r = await upload(sample('jakedjohnson_small_2rows_handedited.xml'));
      expect(r.statusCode).toBe(422);
      const e = r.json().error;
      expect(e.code).toBe('VALIDATION_FAILED');
      expect(e.details.errors).toContainEqual(
        expect.objectContaining({ row: 2, field: 'Employee/DunkinBranch' }),
      );
    });
  });

  it('account numbers are stored encrypted, never in clear', async () => {
    const { rows } = await t.db.pool.query(
      `SELECT 'source' AS kind, account_number_enc, account_last4 AS last4 FROM source_bank_accounts
       UNION ALL SELECT 'loan', loan_number_enc, loan_last4 FROM loans`,
    );
    expect(rows.length).toBeGreaterThan(0);
    const cipher = new Cipher(TEST_KEY);
    for (const r of rows) {
      // source accounts one by one (AES-256-GCM), a file's new loans together (AES-256-CTR + HMAC)
      expect(r.account_number_enc).toMatch(r.kind === 'source' ? /^v1:/ : /^v2:/);
      expect(cipher.decrypt(r.account_number_enc).slice(-4)).toBe(r.last4);
    }
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain('40909581');
    expect(dump).not.toContain('04807469');
  });
});

describe('bad rows', () => {
  const kinds: [BadKind, string][] = [
    ['missingField', ''],
    ['amountZero', 'Amount'],
    ['amountNegative', 'Amount'],
    ['amountThreeDecimals', 'Amount'],
    ['amountText', 'Amount'],
    ['amountUnderOneDollar', 'Amount'],
    ['badRouting', 'Payor/ABARouting'],
    ['impossibleDate', 'Employee/DOB'],
    ['inconsistentSource', 'Payor/AccountNumber'],
    ['inconsistentEmployee', 'Employee/LastName'],
    ['badBranchPrefix', 'Employee/DunkinBranch'],
    ['badPlaidId', 'Payee/PlaidId'],
  ];

  it.each(kinds)('%s → 422 naming the row and field, nothing stored', async (kind) => {
    const { xml, result } = generateToString({
      rows: 300,
      employees: 80,
      sources: 5,
      branches: 6,
      seed: 7,
      bad: { [kind]: 2 },
    });
    expect(result.badRows).toHaveLength(2);
    await expectNothingStoredBy(async () => {
      const r = await upload(xml);
      expect(r.statusCode, r.body).toBe(422);
      const { details } = r.json().error;
      expect(details.errorCount).toBe(2);
      expect(details.truncated).toBe(false);
      for (const bad of result.badRows) {
        expect(details.errors).toContainEqual(expect.objectContaining({ row: bad.row, field: bad.field }));
      }
    });
  });

  it('every error is listed, up to 10,000, then truncated', async () => {
    const { xml } = generateToString({ rows: 400, employees: 100, sources: 5, branches: 6, seed: 8 });
    const bad = xml.replace(/<Amount>[^<]*<\/Amount>/g, '<Amount>abc</Amount>');
    const r = await upload(bad);
    expect(r.statusCode).toBe(422);
    expect(r.json().error.details.errorCount).toBe(400);
    expect(r.json().error.details.errors).toHaveLength(400);
    expect(r.json().error.details.errors[399]).toMatchObject({ row: 400, field: 'Amount' });
  });
});

describe('malformed and hostile XML', () => {
  const row = sample('rexmeeks_dunkinSingle_1row_original.xml').toString('utf8');
  const cases: [string, string | Buffer][] = [
    ['not XML at all', 'hello'],
    ['empty file', ''],
    ['wrong root', row.replace('<root>', '<rows>').replace('</root>', '</rows>')],
    ['no rows', '<root>\n</root>'],
    ['truncated', row.slice(0, row.length - 40)],
    ['a DTD', `<!DOCTYPE root [<!ELEMENT root ANY>]>\n${row}`],
    [
      'billion laughs',
      `<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n${row.replace('Ariel', '&lol2;')}`,
    ],
    [
      'an external entity',
      `<!DOCTYPE root [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n${row.replace('Ariel', '&xxe;')}`,
    ],
    ['a parameter entity', `<!DOCTYPE root [<!ENTITY % p SYSTEM "http://example.com/x.dtd"> %p;]>\n${row}`],
    ['an undeclared entity', row.replace('Ariel', '&ariel;')],
    [
      'invalid UTF-8',
      Buffer.concat([Buffer.from(row.slice(0, 200)), Buffer.from([0xc3, 0x28]), Buffer.from(row.slice(200))]),
    ],
    ['UTF-16', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(row, 'utf16le')])],
    ['deep nesting', row.replace('<Amount>', `${'<a>'.repeat(100)}${'</a>'.repeat(100)}<Amount>`)],
    ['mismatched tags', row.replace('</LastName>', '</FirstName>')],
    ['garbage after the root', `${row}\n<root/>`],
  ];

  it.each(cases)('%s → 400 XML_MALFORMED, nothing stored', async (_name, body) => {
    await expectNothingStoredBy(async () => {
      const r = await upload(body);
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json().error.code).toBe('XML_MALFORMED');
      expect(r.json().error.message.length).toBeGreaterThan(10);
    });
  });

  it('says where a syntax error is', async () => {
    const r = await upload(row.replace('</LastName>', '</FirstName>'));
    expect(r.json().error.details).toMatchObject({ line: 7 }); // </LastName> is on line 7
    expect(r.json().error.details.column).toBeGreaterThan(0);
  });

  it('a file over MAX_UPLOAD_MB → 413, nothing stored, memory bounded', async () => {
    const small = await createTestApp({ MAX_UPLOAD_MB: '1' });
    const { xml } = generateToString({ rows: 2000, employees: 400, sources: 5, branches: 6, seed: 9 });
    expect(xml.length).toBeGreaterThan(1024 * 1024);
    const r = await small.as('operator', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': 'application/xml' },
      payload: xml,
    });
    expect(r.statusCode).toBe(413);
    expect(r.json().error.code).toBe('FILE_TOO_LARGE');
    expect((await small.db.pool.query('SELECT count(*)::int AS n FROM batches')).rows[0].n).toBe(0);
  });

  it('refuses other content types with 415', async () => {
    const r = await t.as('operator', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': 'text/plain' },
      payload: 'x',
    });
    expect(r.statusCode).toBe(415);
  });
});

describe('uploads by form and by role', () => {
  it('accepts multipart/form-data with the field "file"', async () => {
    const { xml } = generateToString({ rows: 20, employees: 5, sources: 2, branches: 2, seed: 31 });
    const boundary = '----loanpay';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="payroll-31.xml"\r\nContent-Type: application/xml\r\n\r\n`,
      ),
      Buffer.from(xml),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const r = await t.as('operator', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: body,
    });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().batch.fileName).toBe('payroll-31.xml');
  });

  it('approvers and auditors cannot upload', async () => {
    for (const role of ['approver', 'auditor']) {
      const r = await upload('<root/>', 'x.xml', role);
      expect(r.statusCode).toBe(403);
    }
  });
});

describe('duplicates', () => {
  it('the same rows again — byte-identical, renamed, minified, reordered, with entities — → 409 naming the batch', async () => {
    const opts = { rows: 120, employees: 30, sources: 5, branches: 4, seed: 11 };
    const { xml } = generateToString(opts);
    const first = await upload(xml, 'a.xml');
    expect(first.statusCode).toBe(201);
    const id = first.json().batch.id;
    const rows = xml.match(/<row>[\s\S]*?<\/row>/g)!;
    const variants = [
      xml,
      generateToString({ ...opts, minified: true }).xml,
      generateToString({ ...opts, xmlDeclaration: true, entities: true }).xml,
      `<root>${[...rows].reverse().join('')}</root>`,
    ];
    for (const v of variants) {
      await expectNothingStoredBy(async () => {
        const r = await upload(v, 'renamed.xml');
        expect(r.statusCode).toBe(409);
        expect(r.json().error).toMatchObject({ code: 'DUPLICATE_FILE', details: { batchId: id } });
      });
    }
  });

  it('a rejected batch’s file may be uploaded again', async () => {
    const { xml } = generateToString({ rows: 50, employees: 10, sources: 2, branches: 3, seed: 12 });
    const first = await upload(xml);
    const id = first.json().batch.id;
    const rej = await t.as('approver', {
      method: 'POST',
      url: `/api/batches/${id}/reject`,
      payload: { reason: 'wrong pay period' },
    });
    expect(rej.statusCode).toBe(200);
    expect(rej.json().batch).toMatchObject({
      status: 'rejected',
      rejectedBy: 'approver',
      rejectReason: 'wrong pay period',
    });
    const again = await upload(xml);
    expect(again.statusCode).toBe(201);
    expect(again.json().batch.id).not.toBe(id);
    const twice = await t.as('approver', {
      method: 'POST',
      url: `/api/batches/${id}/reject`,
      payload: { reason: 'again' },
    });
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error.code).toBe('INVALID_STATE');
  });

  it('two uploads of the same file at once make one batch', async () => {
    const { xml } = generateToString({ rows: 200, employees: 40, sources: 3, branches: 3, seed: 13 });
    const [a, b] = await Promise.all([upload(xml), upload(xml)]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
  });

  it('two different files of the same new people at once: one waits for the other, and they share people and loans', async () => {
    const c = await createTestApp();
    const up = uploaderFor(c);
    const base = { rows: 3000, employees: 600, sources: 3, branches: 3, seed: 41 };
    const first = generateToString(base).xml;
    const second = generateToString({ ...base, amountRange: [1100, 1999] }).xml;
    const [a, b] = await Promise.all([up(first), up(second)]);
    expect(a.statusCode, a.body).toBe(201);
    expect(b.statusCode, b.body).toBe(201);
    const q = async (sql: string) => (await c.db.pool.query(sql)).rows;
    const [counts] = await q(
      `SELECT (SELECT count(*)::int FROM employees) AS employees, (SELECT count(*)::int FROM loans) AS loans,
              (SELECT count(DISTINCT (employee_id, plaid_id, fingerprint))::int FROM loans) AS distinct_loans,
              (SELECT count(*)::int FROM source_bank_accounts) AS accounts`,
    );
    expect(counts.employees).toBe(600);
    expect(counts.loans).toBe(counts.distinct_loans);
    expect(counts.accounts).toBe(3);
    // Whichever committed second found everyone already there.
    const changes = [a, b].map((r) => r.json().batch.summary.changes);
    const later = changes.find((ch) => ch.newEmployees === 0);
    expect(later).toEqual({ newEmployees: 0, newLoanAccounts: 0, changedEmployees: 0, changedSources: 0 });
    expect(changes.find((ch) => ch !== later)?.newEmployees).toBe(600);
    // Both batches' lines point at the same loans, every one of them stored.
    const [lines] = await q(
      `SELECT count(*)::int AS n, count(l.id)::int AS with_loan, count(DISTINCT bl.loan_id)::int AS loans
         FROM batch_lines bl LEFT JOIN loans l ON l.id = bl.loan_id`,
    );
    expect(lines.n).toBe(6000);
    expect(lines.with_loan).toBe(6000);
    expect(lines.loans).toBe(counts.loans);
  });
});

describe('warnings and changes', () => {
  it('suspect phones, duplicate rows; a second file shows overlaps, new people and changed sources', async () => {
    const w = await createTestApp({ ANNUAL_LIMIT_CENTS: '2000' });
    const up = uploaderFor(w);
    const base = { rows: 200, employees: 40, sources: 3, branches: 4, seed: 21 };
    const { xml } = generateToString({ ...base, duplicates: 2 });
    const r1 = await up(
      xml.replace(/<PhoneNumber>\+1\d{10}<\/PhoneNumber>/, '<PhoneNumber>+19905550123</PhoneNumber>'),
    );
    expect(r1.statusCode, r1.body).toBe(201);
    const s1 = r1.json().batch.summary;
    expect(s1.warnings.byCode.DUPLICATE_ROW).toBe(2);
    expect(s1.warnings.byCode.PHONE_SUSPECT).toBeGreaterThanOrEqual(1);
    expect(s1.warnings.byCode.ANNUAL_LIMIT_EXCEEDED).toBeGreaterThan(0);
    expect(s1.changes).toEqual({
      newEmployees: 40,
      newLoanAccounts: 200,
      changedEmployees: 0,
      changedSources: 0,
    });

    // The same people again, one row changed, one source with new bank details, one employee renamed.
    const rows = xml.match(/<row>[\s\S]*?<\/row>/g)!;
    const firstEmp = /<DunkinId>(EMP-[^<]+)<\/DunkinId>/.exec(rows[0]!)![1]!;
    const firstLast = /<LastName>([^<]+)<\/LastName>/.exec(rows[0]!)![1]!;
    const firstCorp = /<DunkinId>(CORP-[^<]+)<\/DunkinId>/.exec(rows[0]!)![1]!;
    const edited = rows.map((r, i) => {
      let out = r;
      if (i === 5) out = out.replace(/<Amount>[^<]+<\/Amount>/, '<Amount>$999.99</Amount>');
      if (out.includes(firstEmp))
        out = out.replace(`<LastName>${firstLast}</LastName>`, '<LastName>Renamed</LastName>');
      if (out.includes(firstCorp))
        out = out.replace(/<AccountNumber>\d+<\/AccountNumber>/, '<AccountNumber>99990001</AccountNumber>');
      return out;
    });
    const r2 = await up(`<root>${edited.join('')}</root>`);
    expect(r2.statusCode, r2.body).toBe(201);
    const s2 = r2.json().batch.summary;
    // 202 rows (200 + 2 duplicates), one with a new amount: the other 201 repeat the first batch.
    expect(s2.warnings.byCode.OVERLAPS_RECENT_BATCH).toBe(201);
    expect(s2.warnings.byCode.SOURCE_DETAILS_CHANGED).toBe(1);
    expect(s2.changes).toEqual({
      newEmployees: 0,
      newLoanAccounts: 0,
      changedEmployees: 1,
      changedSources: 1,
    });

    const id2 = r2.json().batch.id;
    const changed = await w.as('auditor', {
      method: 'GET',
      url: `/api/batches/${id2}/payments?flag=CHANGED_EMPLOYEE`,
    });
    expect(changed.json().items.every((p: { employeeId: string }) => p.employeeId === firstEmp)).toBe(true);
    expect(changed.json().items.length).toBeGreaterThan(0);
    const overl = await w.as('auditor', {
      method: 'GET',
      url: `/api/batches/${id2}/warnings?code=OVERLAPS_RECENT_BATCH&limit=1000`,
    });
    expect(overl.json().items).toHaveLength(201);
    expect(overl.json().items.map((x: { row: number }) => x.row)).not.toContain(6);
    const src = await w.as('auditor', {
      method: 'GET',
      url: `/api/batches/${id2}/warnings?code=SOURCE_DETAILS_CHANGED`,
    });
    expect(src.json().items[0].message).toContain('••••0001');
    expect(src.json().items[0].message).not.toContain('99990001');
    // The old bank details are kept for history next to the new ones.
    const accts = await w.db.pool.query(
      'SELECT count(*)::int AS n FROM source_bank_accounts WHERE source_id = $1',
      [firstCorp],
    );
    expect(accts.rows[0].n).toBe(2);
  });
});

describe('reading a draft', () => {
  let id: string;
  let gen: ReturnType<typeof generateToString>['result'];
  beforeAll(async () => {
    const g = generateToString({
      rows: 250,
      employees: 50,
      sources: 5,
      branches: 7,
      seed: 41,
      utf8Names: true,
    });
    gen = g.result;
    const r = await upload(g.xml, 'draft.xml');
    expect(r.statusCode, r.body).toBe(201);
    id = r.json().batch.id;
  });

  it('summary by source and branch equals the generator’s totals to the cent', async () => {
    const b = (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json();
    expect(b.totalCents).toBe(gen.totalCents);
    expect(
      Object.fromEntries(
        b.summary.bySource.map((s: { sourceId: string; totalCents: number }) => [s.sourceId, s.totalCents]),
      ),
    ).toEqual(gen.totalsBySource);
    expect(
      Object.fromEntries(
        b.summary.byBranch.map((s: { branchId: string; totalCents: number }) => [s.branchId, s.totalCents]),
      ),
    ).toEqual(gen.totalsByBranch);
    expect(b.summary.bySource[0]).toMatchObject({
      sourceName: "Dunkin' Donuts LLC",
      paidCount: 0,
      paidCents: 0,
      pendingCount: 0,
    });
    expect(b.etaSeconds).toBe(Math.ceil((250 / 114) * 60));
  });

  it('lists lines with filters and cursor paging', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/batches/${id}/payments?limit=60${cursor ? `&cursor=${cursor}` : ''}`;
      const p = (await t.as('auditor', { method: 'GET', url })).json();
      seen.push(...p.items.map((x: { rowNumber: number }) => x.rowNumber));
      cursor = p.nextCursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    const branch = gen.branchIds[0]!;
    const byBranch = (
      await t.as('auditor', {
        method: 'GET',
        url: `/api/batches/${id}/payments?branchId=${branch}&limit=1000`,
      })
    ).json();
    expect(byBranch.items.reduce((a: number, p: { amountCents: number }) => a + p.amountCents, 0)).toBe(
      gen.totalsByBranch[branch],
    );
    const one = byBranch.items[0];
    const byName = (
      await t.as('auditor', {
        method: 'GET',
        url: `/api/batches/${id}/payments?q=${encodeURIComponent(one.employeeName.split(' ')[1])}`,
      })
    ).json();
    expect(byName.items.some((p: { employeeId: string }) => p.employeeId === one.employeeId)).toBe(true);
    const byId = (
      await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/payments?q=${one.employeeId}` })
    ).json();
    expect(byId.items.every((p: { employeeId: string }) => p.employeeId === one.employeeId)).toBe(true);
    const bad = await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/payments?limit=abc` });
    expect(bad.statusCode).toBe(400);
    const badCursor = await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/payments?cursor=zzz` });
    expect(badCursor.statusCode).toBe(400);
    const clamp = (
      await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/payments?limit=5000` })
    ).json();
    expect(clamp.items).toHaveLength(250);
  });

  it('draft reports: payments.csv lists every row as draft; sources and branches carry zero groups', async () => {
    const p = await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/reports/payments.csv` });
    expect(p.statusCode).toBe(200);
    expect(p.headers['content-type']).toContain('text/csv');
    expect(p.headers['content-disposition']).toBe(`attachment; filename="batch-${id}-payments.csv"`);
    const lines = p.body.trim().split('\r\n');
    expect(lines[0]).toBe(
      'payment_id,batch_id,row_number,employee_id,employee_name,branch_id,source_id,source_name,amount,status,method_payment_id,method_status,failure_code,failure_message,created_at,updated_at',
    );
    expect(lines).toHaveLength(251);
    expect(lines[1]).toContain(',draft,');
    const s = await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/reports/sources.csv` });
    const sl = s.body.trim().split('\r\n');
    expect(sl[0]).toBe(
      'batch_id,source_id,source_name,payment_count,total_amount,paid_count,paid_amount,pending_count,pending_amount,failed_count,failed_amount,returned_count,returned_amount,cancelled_count,cancelled_amount',
    );
    expect(sl).toHaveLength(6);
    expect(sl[1]).toMatch(/,0,0\.00,0,0\.00,0,0\.00,0,0\.00,0,0\.00$/);
    const b = await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/reports/branches.csv` });
    expect(b.body.split('\r\n')[0]).toBe(
      'batch_id,branch_id,employee_count,payment_count,total_amount,paid_count,paid_amount,pending_count,pending_amount,failed_count,failed_amount,returned_count,returned_amount,cancelled_count,cancelled_amount',
    );
  });

  it('unknown batch → 404; a malformed id → 400', async () => {
    expect(
      (await t.as('auditor', { method: 'GET', url: '/api/batches/00000000-0000-4000-8000-000000000000' }))
        .statusCode,
    ).toBe(404);
    expect((await t.as('auditor', { method: 'GET', url: '/api/batches/nope' })).statusCode).toBe(400);
  });
});

describe('generated files', () => {
  it('any valid generated file’s totals equal the generator’s', async () => {
    const p = await createTestApp();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rows: fc.integer({ min: 1, max: 150 }),
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          minified: fc.boolean(),
          entities: fc.boolean(),
          utf8Names: fc.boolean(),
          thousands: fc.boolean(),
          xmlDeclaration: fc.boolean(),
        }),
        async (o) => {
          const { xml, result } = generateToString({
            ...o,
            employees: Math.max(1, Math.ceil(o.rows / 5)),
            sources: 5,
            branches: 30,
          });
          const r = await p.as('operator', {
            method: 'POST',
            url: '/api/batches',
            headers: { 'content-type': 'application/xml' },
            payload: xml,
          });
          if (r.statusCode === 409) return; // an earlier run of the property made the same rows
          expect(r.statusCode, r.body).toBe(201);
          expect(r.json().batch.totalCents).toBe(result.totalCents);
          expect(r.json().batch.rowCount).toBe(result.rowCount);
        },
      ),
      { numRuns: 15, seed: 20261125 },
    );
  });
});
