import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BAD_KINDS, generateToString } from '../../bench/generator.js';
import { parseAndValidate } from '../../src/server/ingest/ingest-stream.js';
import {
  abaChecksumValid,
  FileValidator,
  formatCents,
  type Issue,
  nanpProblem,
  type ParsedRow,
  parseAmountCents,
  statesForZip,
  type ValidationResult,
} from '../../src/server/ingest/validate.js';
import { docXml, pieces, rowXml, sample, utf8 } from './support.js';

const TODAY = new Date('2025-06-01T12:00:00Z');

async function validate(xml: string | Buffer, onRow?: (r: ParsedRow) => void): Promise<ValidationResult> {
  const bytes = typeof xml === 'string' ? utf8(xml) : xml;
  return parseAndValidate(pieces(bytes, []), onRow, { today: TODAY });
}

function brief(issues: Issue[]) {
  return issues.map(({ row, field, code }) => ({ row, field, code }));
}

/** A second employee/source/loan that does not collide with rowXml()'s defaults. */
const OTHER = {
  DunkinId: 'EMP-a2c0b94b-8152-497f-81b2-154de316b5fe',
  FirstName: 'Fletcher',
  LastName: 'Rowe',
  LoanAccountNumber: '39157047',
};

describe('the real samples', () => {
  const clean: [string, number, number][] = [
    ['jakedjohnson_medium_27rows_minified.xml', 27, 17_299],
    ['ninjapanda47_testData_2rows_row2addressEdited.xml', 2, 971],
    ['reconstructed_first200rows_originalformat.xml', 200, 112_466],
    ['rexmeeks_SHORTESTdunkinFixedZipCodes_426rows_zipAltered_minified.xml', 426, 242_740],
    ['rexmeeks_dunkinShort_18rows_original.xml', 18, 10_512],
    ['rexmeeks_dunkinSingle_1row_original.xml', 1, 815],
  ];
  for (const [name, rows, cents] of clean) {
    it(`${name} is valid: ${rows} rows, ${formatCents(cents)}`, async () => {
      const r = await validate(sample(name));
      expect(r.errors).toEqual([]);
      expect(r).toMatchObject({ errorCount: 0, truncated: false, rowCount: rows, totalCents: cents });
      expect(r.fileDigest).toMatch(/^[0-9a-f]{32}$/);
    });
  }

  it('refuses the hand-edited file with the FRC- branch id on row 2, Employee/DunkinBranch', async () => {
    const r = await validate(sample('jakedjohnson_small_2rows_handedited.xml'));
    expect(r.errorCount).toBe(1);
    expect(brief(r.errors)).toEqual([{ row: 2, field: 'Employee/DunkinBranch', code: 'INVALID_FORMAT' }]);
    expect(r.errors[0].message).toContain('FRC-5a32e859-e91a-490c-b4f2-bce67695f303');
    expect(r.rowCount).toBe(2);
    expect(r.totalCents).toBe(703);
  });

  it('warns once per payor about the 8-digit EIN and the Kansas ZIP in Iowa', async () => {
    const r = await validate(sample('reconstructed_first200rows_originalformat.xml'));
    const byCode = (code: string) => r.warnings.filter((w) => w.code === code);
    const ein = byCode('EIN_NOT_9_DIGITS');
    const zip = byCode('ZIP_STATE_MISMATCH');
    expect(ein).toHaveLength(5);
    expect(zip).toHaveLength(5);
    expect(ein.map((w) => w.field)).toEqual(Array(5).fill('Payor/EIN'));
    expect(zip[0].message).toContain('67485');
    expect(zip[0].message).toContain('KS');
    expect(zip[0].message).toContain('IA');
    // The fake area codes of the real file (e.g. 990) are warnings too.
    expect(byCode('PHONE_SUSPECT').length).toBeGreaterThan(0);
    expect(
      r.warnings.every((w) => ['EIN_NOT_9_DIGITS', 'ZIP_STATE_MISMATCH', 'PHONE_SUSPECT'].includes(w.code)),
    ).toBe(true);
  });

  it('does not warn about ZIP 50613 in Iowa, nor about 78723 in Texas', async () => {
    const fixed = await validate(
      sample('rexmeeks_SHORTESTdunkinFixedZipCodes_426rows_zipAltered_minified.xml'),
    );
    expect(fixed.warnings.filter((w) => w.code === 'ZIP_STATE_MISMATCH')).toEqual([]);
    const austin = await validate(sample('ninjapanda47_testData_2rows_row2addressEdited.xml'));
    expect(brief(austin.warnings.filter((w) => w.code === 'ZIP_STATE_MISMATCH'))).toEqual([
      { row: 1, field: 'Payor/Address/Zip', code: 'ZIP_STATE_MISMATCH' },
    ]);
  });

  it('parses the first real row into canonical values', async () => {
    const rows: ParsedRow[] = [];
    await validate(sample('rexmeeks_dunkinSingle_1row_original.xml'), (r) => rows.push(r));
    expect(rows).toHaveLength(1);
    const { digest, ...rest } = rows[0];
    expect(digest).toMatch(/^[0-9a-f]{32}$/);
    expect(rest).toEqual({
      rowNumber: 1,
      employeeId: 'EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f',
      branchId: 'BRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6',
      firstName: 'Ariel',
      lastName: 'Hayes',
      dob: '1987-03-26',
      phone: '+14594036784',
      sourceId: 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8',
      routing: '403911437',
      accountNumber: '40909581',
      payorName: "Dunkin' Donuts LLC",
      dba: "Dunkin' Donuts",
      ein: '32120240',
      addressLine1: '999 Hayes Lights',
      city: 'Kerlukemouth',
      state: 'IA',
      zip: '67485',
      plaidId: 'ins_116248',
      loanAccountNumber: '04807469',
      amountCents: 815,
    });
  });
});

describe('field rules: each bad value gives one error with its code, row and field', () => {
  const cases: [string, Record<string, string>, string, string][] = [
    ['missing employee id', { DunkinId: '' }, 'Employee/DunkinId', 'REQUIRED'],
    [
      'employee id without EMP-',
      { DunkinId: 'a7f138d9-1885-43db-b5c7-6b7c09020b4f' },
      'Employee/DunkinId',
      'INVALID_FORMAT',
    ],
    [
      'employee id with a short UUID',
      { DunkinId: 'EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4' },
      'Employee/DunkinId',
      'INVALID_FORMAT',
    ],
    [
      'branch id FRC-',
      { DunkinBranch: 'FRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6' },
      'Employee/DunkinBranch',
      'INVALID_FORMAT',
    ],
    ['blank first name', { FirstName: '   ' }, 'Employee/FirstName', 'REQUIRED'],
    ['digits in a last name', { LastName: 'R2D2' }, 'Employee/LastName', 'INVALID_FORMAT'],
    ['a 101-character first name', { FirstName: 'A'.repeat(101) }, 'Employee/FirstName', 'TOO_LONG'],
    ['DOB as YYYY-MM-DD', { DOB: '1987-03-26' }, 'Employee/DOB', 'INVALID_FORMAT'],
    ['DOB February 30th', { DOB: '02-30-1991' }, 'Employee/DOB', 'INVALID_DATE'],
    ['DOB February 29th 1900', { DOB: '02-29-1900' }, 'Employee/DOB', 'INVALID_DATE'],
    ['DOB month 13', { DOB: '13-12-1990' }, 'Employee/DOB', 'INVALID_DATE'],
    ['DOB before 1900', { DOB: '12-31-1899' }, 'Employee/DOB', 'INVALID_DATE'],
    ['DOB in the future', { DOB: '06-02-2025' }, 'Employee/DOB', 'INVALID_DATE'],
    ['DOB today', { DOB: '06-01-2025' }, 'Employee/DOB', 'INVALID_DATE'],
    ['phone without +', { PhoneNumber: '14594036784' }, 'Employee/PhoneNumber', 'INVALID_FORMAT'],
    ['phone with spaces', { PhoneNumber: '+1 459 403 6784' }, 'Employee/PhoneNumber', 'INVALID_FORMAT'],
    ['phone of 7 digits', { PhoneNumber: '+1459403' }, 'Employee/PhoneNumber', 'INVALID_FORMAT'],
    ['phone of 16 digits', { PhoneNumber: '+1459403678412345' }, 'Employee/PhoneNumber', 'INVALID_FORMAT'],
    [
      'payor id CORP without dash',
      { CorpId: 'CORP7dc67e67-e879-4da0-8fee-7d14ba4752b8' },
      'Payor/DunkinId',
      'INVALID_FORMAT',
    ],
    ['routing of 8 digits', { ABARouting: '40391143' }, 'Payor/ABARouting', 'INVALID_FORMAT'],
    ['routing with a bad check digit', { ABARouting: '403911438' }, 'Payor/ABARouting', 'ABA_CHECKSUM'],
    ['account number of 3 digits', { AccountNumber: '409' }, 'Payor/AccountNumber', 'INVALID_FORMAT'],
    [
      'account number of 18 digits',
      { AccountNumber: '409095811234567890' },
      'Payor/AccountNumber',
      'INVALID_FORMAT',
    ],
    ['account number with a dash', { AccountNumber: '4090-9581' }, 'Payor/AccountNumber', 'INVALID_FORMAT'],
    ['missing payor name', { Name: '' }, 'Payor/Name', 'REQUIRED'],
    ['payor name with a line break', { Name: 'Dunkin\nDonuts' }, 'Payor/Name', 'INVALID_FORMAT'],
    ['EIN with a dash', { EIN: '32-120240' }, 'Payor/EIN', 'INVALID_FORMAT'],
    ['missing address line', { Line1: '' }, 'Payor/Address/Line1', 'REQUIRED'],
    ['missing city', { City: ' ' }, 'Payor/Address/City', 'REQUIRED'],
    ['state not a USPS code', { State: 'XX' }, 'Payor/Address/State', 'INVALID_FORMAT'],
    ['state in lower case', { State: 'ia' }, 'Payor/Address/State', 'INVALID_FORMAT'],
    ['ZIP of 4 digits', { Zip: '6748' }, 'Payor/Address/Zip', 'INVALID_FORMAT'],
    ['ZIP+4 without the dash', { Zip: '674851234' }, 'Payor/Address/Zip', 'INVALID_FORMAT'],
    ['Plaid id without ins_', { PlaidId: 'ins116248' }, 'Payee/PlaidId', 'INVALID_FORMAT'],
    ['Plaid id in capitals', { PlaidId: 'INS_116248' }, 'Payee/PlaidId', 'INVALID_FORMAT'],
    ['Plaid id with a letter', { PlaidId: 'ins_11a6248' }, 'Payee/PlaidId', 'INVALID_FORMAT'],
    ['Plaid id with no digits', { PlaidId: 'ins_' }, 'Payee/PlaidId', 'INVALID_FORMAT'],
    ['loan account of 3 digits', { LoanAccountNumber: '048' }, 'Payee/LoanAccountNumber', 'INVALID_FORMAT'],
    ['amount zero', { Amount: '$0.00' }, 'Amount', 'AMOUNT_ZERO'],
    ['amount negative', { Amount: '-$8.15' }, 'Amount', 'AMOUNT_NEGATIVE'],
    ['amount with 3 decimals', { Amount: '$8.150' }, 'Amount', 'AMOUNT_DECIMALS'],
    ['amount as words', { Amount: 'eight dollars' }, 'Amount', 'AMOUNT_INVALID'],
    ['amount under a dollar', { Amount: '$0.99' }, 'Amount', 'AMOUNT_TOO_SMALL'],
    ['amount over a million', { Amount: '$1,000,000.01' }, 'Amount', 'AMOUNT_TOO_LARGE'],
    ['amount with a misplaced comma', { Amount: '$8,15' }, 'Amount', 'AMOUNT_INVALID'],
    ['empty amount', { Amount: '' }, 'Amount', 'REQUIRED'],
  ];
  for (const [name, over, field, code] of cases) {
    it(`${name} → ${code} on ${field}`, async () => {
      const r = await validate(docXml([rowXml(OTHER), rowXml(over)]));
      expect(brief(r.errors)).toEqual([{ row: 2, field, code }]);
      expect(r.errorCount).toBe(1);
      expect(r.errors[0].message.length).toBeGreaterThan(10);
    });
  }

  it('a missing element is REQUIRED and named', async () => {
    const xml = docXml([rowXml().replace(/<EIN>.*<\/EIN>/, '')]);
    const r = await validate(xml);
    expect(brief(r.errors)).toEqual([{ row: 1, field: 'Payor/EIN', code: 'REQUIRED' }]);
    expect(r.errors[0].message).toBe('EIN is missing (no <EIN> element)');
  });

  it('never shows account or loan numbers in full', async () => {
    const r = await validate(
      docXml([rowXml({ AccountNumber: '12345678901234567890', LoanAccountNumber: '98765432109876543210' })]),
    );
    expect(brief(r.errors)).toEqual([
      { row: 1, field: 'Payor/AccountNumber', code: 'INVALID_FORMAT' },
      { row: 1, field: 'Payee/LoanAccountNumber', code: 'INVALID_FORMAT' },
    ]);
    const text = JSON.stringify(r.errors);
    expect(text).not.toContain('1234567890');
    expect(text).not.toContain('9876543210');
    expect(r.errors[0].message).toContain('ending 7890');
    expect(r.errors[1].message).toContain('ending 3210');
  });

  it('accepts names with accents, apostrophes, hyphens, periods and spaces, trimmed', async () => {
    const rows: ParsedRow[] = [];
    const r = await validate(
      docXml([rowXml({ FirstName: '  Zoë Ann ', LastName: "O'Brien-Łukasz Jr." })]),
      (p) => rows.push(p),
    );
    expect(r.errors).toEqual([]);
    expect([rows[0].firstName, rows[0].lastName]).toEqual(['Zoë Ann', "O'Brien-Łukasz Jr."]);
  });

  it('accepts upper-case UUID hex and keeps the id as written', async () => {
    const rows: ParsedRow[] = [];
    const r = await validate(
      docXml([rowXml({ DunkinId: 'EMP-A7F138D9-1885-43DB-B5C7-6B7C09020B4F' })]),
      (p) => rows.push(p),
    );
    expect(r.errors).toEqual([]);
    expect(rows[0].employeeId).toBe('EMP-A7F138D9-1885-43DB-B5C7-6B7C09020B4F');
  });

  it('reports every problem of a row, in field order', async () => {
    const r = await validate(docXml([rowXml({ DOB: '1987-03-26', ABARouting: '1', Amount: 'x' })]));
    expect(brief(r.errors)).toEqual([
      { row: 1, field: 'Employee/DOB', code: 'INVALID_FORMAT' },
      { row: 1, field: 'Payor/ABARouting', code: 'INVALID_FORMAT' },
      { row: 1, field: 'Amount', code: 'AMOUNT_INVALID' },
    ]);
  });

  it('reports unknown and repeated elements', async () => {
    const xml = docXml([
      rowXml({
        FirstName: 'Ariel</FirstName><Nickname>Ari</Nickname><FirstName>Ari',
        Amount: '$1.00</Amount><Memo>x</Memo><Amount>$2.00',
      }),
    ]);
    const r = await validate(xml);
    expect(brief(r.errors)).toEqual([
      { row: 1, field: 'Employee/Nickname', code: 'UNKNOWN_FIELD' },
      { row: 1, field: 'Memo', code: 'UNKNOWN_FIELD' },
      { row: 1, field: 'Employee/FirstName', code: 'REPEATED_FIELD' },
      { row: 1, field: 'Amount', code: 'REPEATED_FIELD' },
    ]);
  });
});

describe('cross-row checks', () => {
  it('INCONSISTENT_SOURCE names the first differing field and masks the account', async () => {
    const r = await validate(
      docXml([rowXml(), rowXml({ ...OTHER, AccountNumber: '11112222' }), rowXml({ ...OTHER, City: 'Ames' })]),
    );
    expect(brief(r.errors)).toEqual([
      { row: 2, field: 'Payor/AccountNumber', code: 'INCONSISTENT_SOURCE' },
      { row: 3, field: 'Payor/Address/City', code: 'INCONSISTENT_SOURCE' },
    ]);
    expect(r.errors[0].message).toContain('ending 2222');
    expect(r.errors[0].message).toContain('ending 9581');
    expect(r.errors[0].message).toContain('row 1');
    expect(r.errors[0].message).not.toContain('40909581');
  });

  it('INCONSISTENT_EMPLOYEE for another name, branch or date of birth under the same id', async () => {
    const r = await validate(
      docXml([
        rowXml(),
        rowXml({ LastName: 'Hayes-Smith', LoanAccountNumber: '11111111' }),
        rowXml({ DunkinBranch: 'BRC-2d047a52-d2d0-4af0-88d4-f60cad1e613c', LoanAccountNumber: '22222222' }),
        rowXml({ DOB: '03-27-1987', LoanAccountNumber: '33333333' }),
        rowXml({ FirstName: ' Ariel ', LoanAccountNumber: '44444444' }),
      ]),
    );
    expect(brief(r.errors)).toEqual([
      { row: 2, field: 'Employee/LastName', code: 'INCONSISTENT_EMPLOYEE' },
      { row: 3, field: 'Employee/DunkinBranch', code: 'INCONSISTENT_EMPLOYEE' },
      { row: 4, field: 'Employee/DOB', code: 'INCONSISTENT_EMPLOYEE' },
    ]);
    expect(r.errors[0].message).toContain('"Hayes-Smith" here but "Hayes" on row 1');
  });

  it('DUPLICATE_ROW warns on the later row and names the earlier one', async () => {
    const r = await validate(
      docXml([rowXml(), rowXml(OTHER), rowXml({ Amount: '8.15' }), rowXml({ Amount: '$8.16' })]),
    );
    expect(r.errors).toEqual([]);
    const dups = r.warnings.filter((w) => w.code === 'DUPLICATE_ROW');
    expect(brief(dups)).toEqual([{ row: 3, field: 'Amount', code: 'DUPLICATE_ROW' }]);
    expect(dups[0].message).toContain('row 1');
    expect(r.totalCents).toBe(815 * 3 + 816);
  });

  it('the same loan number under another employee or payor is not a duplicate', async () => {
    const r = await validate(
      docXml([
        rowXml(),
        rowXml({ DunkinId: OTHER.DunkinId, FirstName: OTHER.FirstName }),
        rowXml({
          CorpId: 'CORP-a9804e0b-e8b0-4837-8bbe-aabafcd483dd',
          AccountNumber: '93785544',
          ABARouting: '547414133',
        }),
      ]),
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings.filter((w) => w.code === 'DUPLICATE_ROW')).toEqual([]);
  });

  it('stops keeping errors at maxErrors but counts them all', async () => {
    const rows = Array.from({ length: 7 }, (_, k) =>
      rowXml({ ...OTHER, Amount: '$0.00', LoanAccountNumber: `1000000${k}` }),
    );
    const v = await parseAndValidate(pieces(utf8(docXml(rows)), []), undefined, {
      maxErrors: 3,
      today: TODAY,
    });
    expect(v.errorCount).toBe(7);
    expect(v.errors).toHaveLength(3);
    expect(v.truncated).toBe(true);
  });

  it('every bad row the generator injects gives exactly one error on its row and field', async () => {
    const bad = Object.fromEntries(BAD_KINDS.map((k) => [k, 3]));
    const { xml, result } = generateToString({
      rows: 600,
      employees: 150,
      sources: 5,
      branches: 30,
      seed: 7,
      bad,
    });
    const r = await validate(xml);
    const got = brief(r.errors).map(({ row, field }) => ({ row, field }));
    const want = result.badRows.map(({ row, field }) => ({ row, field })).sort((a, b) => a.row - b.row);
    expect(got).toEqual(want);
    expect(r.errorCount).toBe(result.badRows.length);
  });

  it('a generated clean file totals what the generator says, with entities and UTF-8 names', async () => {
    for (const opts of [
      { minified: true },
      { entities: true, utf8Names: true, xmlDeclaration: true, thousands: true },
    ]) {
      const { xml, result } = generateToString({
        rows: 800,
        employees: 200,
        sources: 5,
        branches: 30,
        seed: 3,
        ...opts,
      });
      const r = await validate(xml);
      expect(r.errors).toEqual([]);
      expect(r.rowCount).toBe(result.rowCount);
      expect(r.totalCents).toBe(result.totalCents);
    }
  });
});

describe('file digest', () => {
  const a = rowXml();
  const b = rowXml(OTHER);
  const c = rowXml({ ...OTHER, LoanAccountNumber: '55555555', Amount: '$3.00' });

  it('does not depend on row order, whitespace, entities or an XML declaration', async () => {
    const base = (await validate(docXml([a, b, c]))).fileDigest;
    expect((await validate(docXml([c, a, b]))).fileDigest).toBe(base);
    expect(
      (
        await validate(
          docXml(
            [a, b, c].map((r) => r.replace(/\n\s*/g, '')),
            '',
          ),
        )
      ).fileDigest,
    ).toBe(base);
    const withEntities = `<?xml version="1.0" encoding="UTF-8"?>\n${docXml([a.replace(/'/g, '&apos;'), b, c.replace('$3.00', '&#36;3.00')])}`;
    expect((await validate(withEntities)).fileDigest).toBe(base);
    // Parsed values count, not their spelling: "8.15" is "$8.15", " Ariel " is "Ariel".
    expect(
      (await validate(docXml([rowXml({ Amount: '8.15', FirstName: ' Ariel ' }), b, c]))).fileDigest,
    ).toBe(base);
  });

  it('changes with any value, and duplicates do not cancel out', async () => {
    const base = (await validate(docXml([a, b]))).fileDigest;
    expect((await validate(docXml([a, rowXml({ ...OTHER, Amount: '$8.16' })]))).fileDigest).not.toBe(base);
    expect(
      (await validate(docXml([a, rowXml({ ...OTHER, PhoneNumber: '+14594036785' })]))).fileDigest,
    ).not.toBe(base);
    const once = (await validate(docXml([a]))).fileDigest;
    const twice = (await validate(docXml([a, a]))).fileDigest;
    const thrice = (await validate(docXml([a, a, a]))).fileDigest;
    expect(new Set([once, twice, thrice, base]).size).toBe(4);
  });

  it('is the same as ever: digests are stored, and a re-upload is found by them', async () => {
    // Computed when the digest was introduced; a change here would miss re-uploaded files.
    const digests: string[] = [];
    const r = await validate(sample('rexmeeks_dunkinShort_18rows_original.xml'), (p) =>
      digests.push(p.digest),
    );
    expect(r.fileDigest).toBe('7add9d31b35f87855ef50bd519cf00b5');
    expect([digests[0], digests[17]]).toEqual([
      '4b20d7fada98fa1bf76aff7e4b5d578d',
      '2ac11838038806d38bc172d92c3e3339',
    ]);
  });

  it('gives each row a digest of its parsed values', async () => {
    const digests: string[] = [];
    await validate(docXml([a, b, rowXml({ Amount: '8.15' })]), (r) => digests.push(r.digest));
    expect(digests[0]).not.toBe(digests[1]);
    expect(digests[2]).toBe(digests[0]);
  });
});

describe('amounts', () => {
  it('parses the accepted spellings to integer cents', () => {
    const good: [string, number][] = [
      ['$8.15', 815],
      ['8.15', 815],
      ['$1', 100],
      ['$1.00', 100],
      ['$10.99', 1099],
      ['$1,234.56', 123_456],
      ['1234.56', 123_456],
      ['$1,000,000.00', 100_000_000],
      ['$1000000', 100_000_000],
      ['  $8.15 ', 815],
      ['$0,001.00', NaN],
    ];
    for (const [text, cents] of good) {
      if (Number.isNaN(cents)) expect(parseAmountCents(text)).toMatchObject({ code: 'AMOUNT_INVALID' });
      else expect(parseAmountCents(text)).toBe(cents);
    }
  });

  it('refuses the rest with distinct codes', () => {
    const bad: [string, string][] = [
      ['$0.00', 'AMOUNT_ZERO'],
      ['0', 'AMOUNT_ZERO'],
      ['-$8.15', 'AMOUNT_NEGATIVE'],
      ['$-8.15', 'AMOUNT_NEGATIVE'],
      ['(8.15)', 'AMOUNT_NEGATIVE'],
      ['$8.151', 'AMOUNT_DECIMALS'],
      ['$8.1', 'AMOUNT_DECIMALS'],
      ['$0.99', 'AMOUNT_TOO_SMALL'],
      ['$0.01', 'AMOUNT_TOO_SMALL'],
      ['$1,000,000.01', 'AMOUNT_TOO_LARGE'],
      ['$99999999999999999999.00', 'AMOUNT_TOO_LARGE'],
      ['abc', 'AMOUNT_INVALID'],
      ['$abc', 'AMOUNT_INVALID'],
      ['$8,15', 'AMOUNT_INVALID'],
      ['$1,23,456.00', 'AMOUNT_INVALID'],
      ['$1234,567.00', 'AMOUNT_INVALID'],
      ['$ 8.15', 'AMOUNT_INVALID'],
      ['$8 .15', 'AMOUNT_INVALID'],
      ['+8.15', 'AMOUNT_INVALID'],
      ['$8.', 'AMOUNT_INVALID'],
      ['$.15', 'AMOUNT_INVALID'],
      ['$1.2.3', 'AMOUNT_INVALID'],
      ['8.15$', 'AMOUNT_INVALID'],
      ['$$8.15', 'AMOUNT_INVALID'],
      ['1e3', 'AMOUNT_INVALID'],
      ['08.15', 'AMOUNT_INVALID'],
      ['８.15', 'AMOUNT_INVALID'],
      ['', 'REQUIRED'],
    ];
    for (const [text, code] of bad) {
      const got = parseAmountCents(text);
      expect(typeof got === 'number' ? got : got.code, text).toBe(code);
    }
  });

  it('agrees with BigInt arithmetic on random valid dollar strings', () => {
    const amount = fc
      .record({
        dollars: fc.bigInt({ min: 0n, max: 999_999n }),
        cents: fc.integer({ min: 0, max: 99 }),
        dollarSign: fc.boolean(),
        commas: fc.boolean(),
        decimals: fc.boolean(),
      })
      .filter(({ dollars, cents, decimals }) => (decimals ? dollars >= 1n : dollars >= 1n && cents === 0));
    fc.assert(
      fc.property(amount, ({ dollars, cents, dollarSign, commas, decimals }) => {
        let d = dollars.toString();
        if (commas) d = d.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
        const text = `${dollarSign ? '$' : ''}${d}${decimals ? `.${String(cents).padStart(2, '0')}` : ''}`;
        const want = dollars * 100n + BigInt(decimals ? cents : 0);
        expect(parseAmountCents(text)).toBe(Number(want));
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips through formatCents', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 100_000_000 }), (cents) => {
        const text = formatCents(cents);
        expect(text).toMatch(/^\$\d{1,3}(,\d{3})*\.\d\d$/);
        expect(parseAmountCents(text)).toBe(cents);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws and never returns a float, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        const got = parseAmountCents(text);
        if (typeof got === 'number') {
          expect(Number.isInteger(got)).toBe(true);
          expect(got).toBeGreaterThanOrEqual(100);
          expect(got).toBeLessThanOrEqual(100_000_000);
        } else {
          expect(got.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('routing numbers, phones and ZIPs', () => {
  it('checks the ABA checksum', () => {
    for (const ok of ['403911437', '547414133', '148386123', '030748921', '011000015', '121000358']) {
      expect(abaChecksumValid(ok), ok).toBe(true);
    }
    for (const bad of ['403911438', '12345678', '1234567890', '40391143a', '', '000000001']) {
      expect(abaChecksumValid(bad), bad).toBe(false);
    }
  });

  it('flags NANP numbers that cannot exist', () => {
    expect(nanpProblem('2125551234')).toBeNull();
    expect(nanpProblem('4594036784')).toBeNull();
    expect(nanpProblem('9904036784')).toMatch(/reserved/);
    expect(nanpProblem('3704036784')).toMatch(/reserved/);
    expect(nanpProblem('1594036784')).toMatch(/cannot start with 1/);
    expect(nanpProblem('0594036784')).toMatch(/cannot start with 0/);
    expect(nanpProblem('4114036784')).toMatch(/service code/);
    expect(nanpProblem('4591036784')).toMatch(/exchange 103 cannot start with 1/);
    expect(nanpProblem('4599116784')).toMatch(/exchange 911 is a service code/);
    expect(nanpProblem('2125550199')).toMatch(/fiction/);
  });

  it('warns PHONE_SUSPECT once per employee, and not for other countries', async () => {
    const r = await validate(
      docXml([
        rowXml({ PhoneNumber: '+19904036784' }),
        rowXml({ PhoneNumber: '+19904036784', LoanAccountNumber: '12121212' }),
        rowXml({ ...OTHER, PhoneNumber: '+442071234567' }),
      ]),
    );
    expect(r.errors).toEqual([]);
    expect(brief(r.warnings.filter((w) => w.code === 'PHONE_SUSPECT'))).toEqual([
      { row: 1, field: 'Employee/PhoneNumber', code: 'PHONE_SUSPECT' },
    ]);
  });

  it('knows which states a ZIP prefix belongs to', () => {
    expect(statesForZip('67485')).toEqual(['KS']);
    expect(statesForZip('50613')).toEqual(['IA']);
    expect(statesForZip('78723')).toEqual(['TX']);
    expect(statesForZip('00501')).toEqual(['NY']);
    expect(statesForZip('96799')).toEqual(['HI', 'AS']);
    expect(statesForZip('00123')).toEqual([]);
  });
});

describe('hand-written checks agree with the regular expressions they replace', () => {
  const BASE: Record<string, string> = {
    'Employee/DunkinId': 'EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f',
    'Employee/DunkinBranch': 'BRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6',
    'Employee/FirstName': 'Ariel',
    'Employee/LastName': 'Hayes',
    'Employee/DOB': '03-26-1987',
    'Employee/PhoneNumber': '+14594036784',
    'Payor/DunkinId': 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8',
    'Payor/ABARouting': '403911437',
    'Payor/AccountNumber': '40909581',
    'Payor/Name': "Dunkin' Donuts LLC",
    'Payor/DBA': "Dunkin' Donuts",
    'Payor/EIN': '32120240',
    'Payor/Address/Line1': '999 Hayes Lights',
    'Payor/Address/City': 'Kerlukemouth',
    'Payor/Address/State': 'IA',
    'Payor/Address/Zip': '50613',
    'Payee/PlaidId': 'ins_116248',
    'Payee/LoanAccountNumber': '04807469',
    Amount: '$8.15',
  };
  const codesFor = (field: string, value: string) => {
    const v = new FileValidator({ today: TODAY });
    v.add({
      rowNumber: 1,
      values: { ...BASE, [field]: value },
      unknownPaths: [],
      repeatedPaths: [],
      line: 1,
    });
    return v
      .finish()
      .errors.filter((e) => e.field === field)
      .map((e) => e.code);
  };

  it('person names: letters, marks, spaces, apostrophes, periods and hyphens, with a letter', () => {
    const unit = fc.constantFrom(..."aZq '.-_,0!é\u0301Ł’\u00b7\tß".split(''));
    fc.assert(
      fc.property(fc.string({ unit, minLength: 1, maxLength: 8 }), (name) => {
        const s = name.trim();
        let expected: string[] = [];
        if (s === '') expected = ['REQUIRED'];
        else if (!/^[\p{L}\p{M}' .\u2019-]+$/u.test(s) || !/\p{L}/u.test(s)) expected = ['INVALID_FORMAT'];
        expect(codesFor('Employee/FirstName', name)).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('dates of birth: MM-DD-YYYY with ASCII digits, a real date, from 1900, in the past', () => {
    const unit = fc.constantFrom(...'0123456789-/ \u0663'.split(''));
    const dates = fc.oneof(
      fc.string({ unit, minLength: 8, maxLength: 11 }),
      fc
        .tuple(
          fc.integer({ min: 0, max: 13 }),
          fc.integer({ min: 0, max: 32 }),
          fc.integer({ min: 1890, max: 2030 }),
        )
        .map(([m, d, y]) => `${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}-${y}`),
    );
    fc.assert(
      fc.property(dates, (dob) => {
        const s = dob.trim();
        let expected: string[] = [];
        const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(s);
        if (s === '') expected = ['REQUIRED'];
        else if (m === null) expected = ['INVALID_FORMAT'];
        else {
          const [month, day, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
          const real = new Date(Date.UTC(year, month - 1, day));
          const exists =
            month >= 1 && month <= 12 && real.getUTCDate() === day && real.getUTCMonth() === month - 1;
          if (!exists || year < 1900 || `${m[3]}-${m[1]}-${m[2]}` >= '2025-06-01')
            expected = ['INVALID_DATE'];
        }
        expect(codesFor('Employee/DOB', dob)).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('FileValidator used directly', () => {
  it('validates RawRows handed to add() and sums them in finish()', () => {
    const v = new FileValidator({ today: TODAY });
    const values = {
      'Employee/DunkinId': 'EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f',
      'Employee/DunkinBranch': 'BRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6',
      'Employee/FirstName': 'Ariel',
      'Employee/LastName': 'Hayes',
      'Employee/DOB': '03-26-1987',
      'Employee/PhoneNumber': '+14594036784',
      'Payor/DunkinId': 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8',
      'Payor/ABARouting': '403911437',
      'Payor/AccountNumber': '40909581',
      'Payor/Name': "Dunkin' Donuts LLC",
      'Payor/DBA': "Dunkin' Donuts",
      'Payor/EIN': '32120240',
      'Payor/Address/Line1': '999 Hayes Lights',
      'Payor/Address/City': 'Kerlukemouth',
      'Payor/Address/State': 'IA',
      'Payor/Address/Zip': '67485',
      'Payee/PlaidId': 'ins_116248',
      'Payee/LoanAccountNumber': '04807469',
      Amount: '$8.15',
    };
    const parsed = v.add({ rowNumber: 1, values, unknownPaths: [], repeatedPaths: [], line: 2 });
    expect(parsed?.employeeId).toBe(values['Employee/DunkinId']);
    expect(
      v.add({
        rowNumber: 2,
        values: { ...values, Amount: '$0.50' },
        unknownPaths: [],
        repeatedPaths: [],
        line: 30,
      }),
    ).toBeNull();
    expect(v.finish()).toMatchObject({ errorCount: 1, rowCount: 2, totalCents: 815 });
  });
});
