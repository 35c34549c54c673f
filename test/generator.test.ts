// Tests for the synthetic file generator: determinism, the real file's layout, value shapes, totals
// and bad-row injection, checked against an independent re-reading of the generated XML.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  BAD_KINDS,
  type BadKind,
  type GenOptions,
  type GenResult,
  generate,
  generateToString,
  REAL_SOURCES,
  UNPAYABLE_PLAID_ID,
} from '../bench/generator.js';

const SAMPLES = fileURLToPath(new URL('../../shared/samples/dunkin-peers/', import.meta.url));
const haveSamples = existsSync(SAMPLES);
const sample = (name: string): string => readFileSync(SAMPLES + name, 'utf8');

const base: GenOptions = { rows: 400, employees: 80, sources: 5, branches: 30, seed: 42 };

const PATHS = [
  'Employee/DunkinId',
  'Employee/DunkinBranch',
  'Employee/FirstName',
  'Employee/LastName',
  'Employee/DOB',
  'Employee/PhoneNumber',
  'Payor/DunkinId',
  'Payor/ABARouting',
  'Payor/AccountNumber',
  'Payor/Name',
  'Payor/DBA',
  'Payor/EIN',
  'Payor/Address/Line1',
  'Payor/Address/City',
  'Payor/Address/State',
  'Payor/Address/Zip',
  'Payee/PlaidId',
  'Payee/LoanAccountNumber',
  'Amount',
] as const;
type Path = (typeof PATHS)[number];
type Row = Partial<Record<Path, string>>;

function decode(s: string): string {
  return s
    .replace(/&apos;|&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/** A deliberately naive reader (regexes over the known layout), independent of the generator. */
function parseRows(xml: string): Row[] {
  const rows: Row[] = [];
  for (const m of xml.matchAll(/<row>([\s\S]*?)<\/row>/g)) {
    const row: Row = {};
    for (const path of PATHS) {
      const parts = path.split('/');
      let scope: string | undefined = m[1]!;
      for (const part of parts.slice(0, -1)) {
        scope = new RegExp(`<${part}>([\\s\\S]*?)</${part}>`).exec(scope)?.[1];
        if (scope === undefined) break;
      }
      const leaf = parts.at(-1)!;
      // Address sits inside Payor; keep Payor/X from matching Address children by stripping it.
      const own = path.split('/').length === 2 ? scope?.replace(/<Address>[\s\S]*?<\/Address>/, '') : scope;
      const v = own === undefined ? undefined : new RegExp(`<${leaf}>([^<]*)</${leaf}>`).exec(own)?.[1];
      if (v !== undefined) row[path] = decode(v);
    }
    rows.push(row);
  }
  return rows;
}

function abaOk(r: string): boolean {
  if (!/^\d{9}$/.test(r)) return false;
  const d = Array.from(r, Number);
  return (3 * (d[0]! + d[3]! + d[6]!) + 7 * (d[1]! + d[4]! + d[7]!) + d[2]! + d[5]! + d[8]!) % 10 === 0;
}

/** Integer cents from `$1,234.56`-style text by digit parsing only; null when malformed. */
function parseCents(text: string): number | null {
  const m = /^\$?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?$/.exec(text);
  if (!m) return null;
  return Number(m[1]!.replace(/,/g, '')) * 100 + Number(m[2] ?? '0');
}

function realDate(mmddyyyy: string): boolean {
  const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(mmddyyyy);
  if (!m) return false;
  const [mo, d, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d && dt < new Date();
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const REQUIRED: Path[] = PATHS.filter((p) => !['Employee/PhoneNumber', 'Payor/DBA', 'Payor/EIN'].includes(p));

/** Re-states the file rules to find every faulty row, so injected faults can be matched exactly. */
function findErrors(rows: Row[]): { row: number; kind: BadKind; field: string }[] {
  const errors: { row: number; kind: BadKind; field: string }[] = [];
  const sources = new Map<string, string>();
  const employees = new Map<string, string>();
  rows.forEach((r, i) => {
    const add = (kind: BadKind, field: string): void => {
      errors.push({ row: i + 1, kind, field });
    };
    const missing = REQUIRED.filter((p) => r[p] === undefined);
    for (const p of missing) add('missingField', p);
    const amount = r.Amount;
    if (amount !== undefined) {
      const cents = parseCents(amount);
      if (amount.startsWith('-')) add('amountNegative', 'Amount');
      else if (/\.\d{3,}$/.test(amount)) add('amountThreeDecimals', 'Amount');
      else if (cents === null) add('amountText', 'Amount');
      else if (cents === 0) add('amountZero', 'Amount');
      else if (cents < 100) add('amountUnderOneDollar', 'Amount');
    }
    if (r['Payor/ABARouting'] !== undefined && !abaOk(r['Payor/ABARouting']))
      add('badRouting', 'Payor/ABARouting');
    if (r['Employee/DOB'] !== undefined && !realDate(r['Employee/DOB']))
      add('impossibleDate', 'Employee/DOB');
    const branch = r['Employee/DunkinBranch'];
    if (branch !== undefined && !new RegExp(`^BRC-${UUID}$`).test(branch)) {
      add('badBranchPrefix', 'Employee/DunkinBranch');
    }
    if (r['Payee/PlaidId'] !== undefined && !/^ins_\d+$/.test(r['Payee/PlaidId']))
      add('badPlaidId', 'Payee/PlaidId');
    if (missing.length > 0) return;
    const src = `${r['Payor/ABARouting']}|${r['Payor/AccountNumber']}`;
    const srcId = r['Payor/DunkinId']!;
    if (!sources.has(srcId)) sources.set(srcId, src);
    else if (sources.get(srcId) !== src) add('inconsistentSource', 'Payor/AccountNumber');
    const emp = [branch, r['Employee/FirstName'], r['Employee/LastName'], r['Employee/DOB']].join('|');
    const empId = r['Employee/DunkinId']!;
    if (!employees.has(empId)) employees.set(empId, emp);
    else if (employees.get(empId) !== emp) add('inconsistentEmployee', 'Employee/LastName');
  });
  return errors;
}

/** Mask text content so only the element/whitespace structure is compared. */
const structure = (xml: string): string => xml.replace(/>[^<]+</g, '><');

describe('determinism', () => {
  it('same options give byte-identical output, a different seed a different file', () => {
    const opts: GenOptions = {
      ...base,
      entities: true,
      utf8Names: true,
      duplicates: 3,
      bad: { amountText: 2, inconsistentEmployee: 1, missingField: 2 },
    };
    const a = generateToString(opts);
    const b = generateToString(opts);
    expect(a.xml).toBe(b.xml);
    expect(a.result).toEqual(b.result);
    const c = generateToString({ ...opts, seed: 43 });
    expect(c.xml).not.toBe(a.xml);
  });

  it('streams in chunks of about 64 KB whose concatenation is the string form', () => {
    const chunks: string[] = [];
    generate({ ...base, rows: 1000, employees: 200 }, (c) => chunks.push(c));
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(64 * 1024);
    for (const c of chunks) expect(c.length).toBeLessThan(70 * 1024);
    expect(chunks.join('')).toBe(generateToString({ ...base, rows: 1000, employees: 200 }).xml);
  });
});

describe('layout', () => {
  it.skipIf(!haveSamples)(
    'pretty output has the real file structure, byte for byte apart from values',
    () => {
      for (const [file, rows] of [
        ['rexmeeks_dunkinSingle_1row_original.xml', 1],
        ['rexmeeks_dunkinShort_18rows_original.xml', 18],
      ] as const) {
        const real = sample(file);
        const { xml } = generateToString({ rows, employees: rows, sources: 5, branches: 30, seed: 1 });
        expect(structure(xml)).toBe(structure(real));
        expect(xml.endsWith('</root>')).toBe(real.endsWith('</root>'));
      }
    },
  );

  it.skipIf(!haveSamples)('the first row block matches the sample line by line (indentation, tags)', () => {
    const realLines = sample('rexmeeks_dunkinShort_18rows_original.xml').split('\n');
    const genLines = generateToString(base).xml.split('\n');
    const shape = (line: string): string => line.replace(/>[^<]+</, '><');
    for (let i = 0; i <= 30; i++) expect(shape(genLines[i]!), `line ${i + 1}`).toBe(shape(realLines[i]!));
    expect(realLines[0]).toBe('<root>');
    expect(genLines[30]).toBe('    <row>');
  });

  it.skipIf(!haveSamples)('minified output has the minified sample structure', () => {
    const real = sample('jakedjohnson_medium_27rows_minified.xml');
    const { xml } = generateToString({
      rows: 27,
      employees: 27,
      sources: 5,
      branches: 30,
      seed: 1,
      minified: true,
    });
    expect(structure(xml)).toBe(structure(real));
    expect(xml).not.toMatch(/>\s+</);
  });

  it('no declaration by default, one when asked', () => {
    expect(generateToString(base).xml.startsWith('<root>\n    <row>')).toBe(true);
    const { xml } = generateToString({ ...base, xmlDeclaration: true });
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<root>\n')).toBe(true);
  });
});

describe('values', () => {
  const { xml, result } = generateToString({
    rows: 20_000,
    employees: 4_000,
    sources: 5,
    branches: 30,
    seed: 7,
  });
  const rows = parseRows(xml);

  it('every row is clean and has the real value shapes', () => {
    expect(rows).toHaveLength(20_000);
    expect(result.rowCount).toBe(20_000);
    expect(findErrors(rows)).toEqual([]);
    for (const r of rows) {
      expect(r['Employee/DunkinId']).toMatch(new RegExp(`^EMP-${UUID}$`));
      expect(r['Payor/DunkinId']).toMatch(new RegExp(`^CORP-${UUID}$`));
      expect(r['Employee/PhoneNumber']).toMatch(/^\+1[2-9]\d{9}$/);
      expect(r['Payee/LoanAccountNumber']).toMatch(/^\d{8}$/);
      expect(r['Payor/AccountNumber']).toMatch(/^\d{8}$/);
      expect(r.Amount).toMatch(/^\$\d{1,2}\.\d{2}$/);
      expect(r['Payor/Name']).toBe("Dunkin' Donuts LLC");
      expect(r['Payor/DBA']).toBe("Dunkin' Donuts");
      expect(r['Payor/EIN']).toBe('32120240');
      expect([r['Payor/Address/Line1'], r['Payor/Address/City'], r['Payor/Address/State']]).toEqual([
        '999 Hayes Lights',
        'Kerlukemouth',
        'IA',
      ]);
      expect(r['Payor/Address/Zip']).toBe('67485');
    }
    expect(rows.some((r) => r['Employee/LastName']!.includes("'"))).toBe(true);
    expect(rows.some((r) => r['Employee/PhoneNumber']!.startsWith('+19'))).toBe(true);
    expect(rows.some((r) => r['Payee/LoanAccountNumber']!.startsWith('0'))).toBe(true);
    const cents = rows.map((r) => parseCents(r.Amount!)!);
    expect(Math.min(...cents)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...cents)).toBeLessThanOrEqual(1099);
  });

  it('totals equal the amounts parsed back from the XML text', () => {
    let total = 0;
    for (const m of xml.matchAll(/<Amount>\$(\d+)\.(\d{2})<\/Amount>/g))
      total += Number(m[1]) * 100 + Number(m[2]);
    expect(total).toBe(result.totalCents);
    const bySource: Record<string, number> = {};
    const byBranch: Record<string, number> = {};
    for (const r of rows) {
      const c = parseCents(r.Amount!)!;
      bySource[r['Payor/DunkinId']!] = (bySource[r['Payor/DunkinId']!] ?? 0) + c;
      byBranch[r['Employee/DunkinBranch']!] = (byBranch[r['Employee/DunkinBranch']!] ?? 0) + c;
    }
    expect(bySource).toEqual(result.totalsBySource);
    expect(Object.fromEntries(Object.entries(result.totalsByBranch).filter(([, v]) => v > 0))).toEqual(
      byBranch,
    );
    expect(Object.values(result.totalsBySource).reduce((a, b) => a + b, 0)).toBe(result.totalCents);
  });

  it('(PlaidId, LoanAccountNumber) is unique: every row is its own loan', () => {
    const keys = new Set(rows.map((r) => `${r['Payee/PlaidId']}|${r['Payee/LoanAccountNumber']}`));
    expect(keys.size).toBe(rows.length);
    expect(new Set(rows.map((r) => r['Payee/PlaidId'])).size).toBe(10);
  });

  it('each employee has constant details, 1–19 rows, and rows are interleaved', () => {
    const byEmp = new Map<string, { details: string; rows: number[]; sources: Set<string> }>();
    rows.forEach((r, i) => {
      const details = [
        r['Employee/DunkinBranch'],
        r['Employee/FirstName'],
        r['Employee/LastName'],
        r['Employee/DOB'],
        r['Employee/PhoneNumber'],
      ].join('|');
      const e = byEmp.get(r['Employee/DunkinId']!);
      if (!e)
        byEmp.set(r['Employee/DunkinId']!, { details, rows: [i], sources: new Set([r['Payor/DunkinId']!]) });
      else {
        expect(e.details).toBe(details);
        e.rows.push(i);
        e.sources.add(r['Payor/DunkinId']!);
      }
    });
    expect(byEmp.size).toBe(4_000);
    expect(result.employees).toBe(4_000);
    const counts = [...byEmp.values()].map((e) => e.rows.length);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...counts)).toBeLessThanOrEqual(19);
    const contiguous = [...byEmp.values()].filter((e) => e.rows.at(-1)! - e.rows[0]! === e.rows.length - 1);
    const multi = [...byEmp.values()].filter((e) => e.rows.length > 1);
    expect(contiguous.filter((e) => e.rows.length > 1).length).toBeLessThan(multi.length / 100);
    expect(multi.some((e) => e.sources.size > 1)).toBe(true);
  });

  it('uses the five real sources, whose routing numbers pass the checksum', () => {
    expect(result.sourceIds).toEqual(REAL_SOURCES.map((s) => s.id));
    for (const s of REAL_SOURCES) expect(abaOk(s.routing)).toBe(true);
    const seen = new Set(
      rows.map((r) => `${r['Payor/DunkinId']}|${r['Payor/ABARouting']}|${r['Payor/AccountNumber']}`),
    );
    expect(seen).toEqual(new Set(REAL_SOURCES.map((s) => `${s.id}|${s.routing}|${s.account}`)));
    expect(result.branchIds).toHaveLength(30);
    expect(new Set(rows.map((r) => r['Employee/DunkinBranch'])).size).toBe(30);
  });
});

describe('options', () => {
  it('more than five sources get generated ids with valid routing numbers', () => {
    const { xml, result } = generateToString({ ...base, sources: 12 });
    const rows = parseRows(xml);
    expect(result.sourceIds).toHaveLength(12);
    expect(new Set(result.sourceIds).size).toBe(12);
    for (const r of rows) expect(abaOk(r['Payor/ABARouting']!)).toBe(true);
    expect(findErrors(rows)).toEqual([]);
  });

  it('entities: apostrophes written as references, same values once decoded', () => {
    const plain = generateToString(base).xml;
    const { xml } = generateToString({ ...base, entities: true });
    expect(xml).toContain('<Name>Dunkin&apos; Donuts LLC</Name>');
    expect(xml).toContain('<DBA>Dunkin&#39; Donuts</DBA>');
    expect(xml).not.toContain("'");
    expect(decode(xml)).toBe(plain);
  });

  it('utf8Names: some accented names, otherwise clean', () => {
    const { xml } = generateToString({ ...base, rows: 2000, employees: 400, utf8Names: true });
    expect(xml).toMatch(/[^\p{ASCII}]/u);
    const rows = parseRows(xml);
    expect(findErrors(rows)).toEqual([]);
  });

  it('thousands: large amounts with separators, totals still exact', () => {
    const { xml, result } = generateToString({ ...base, thousands: true });
    const amounts = parseRows(xml).map((r) => r.Amount!);
    expect(amounts.some((a) => /^\$\d{1,3},\d{3}\.\d{2}$/.test(a))).toBe(true);
    expect(amounts.every((a) => !/^\$\d{4,}/.test(a))).toBe(true);
    expect(amounts.reduce((s, a) => s + parseCents(a)!, 0)).toBe(result.totalCents);
  });

  it('amountRange is honoured', () => {
    const { xml } = generateToString({ ...base, amountRange: [100_000_00, 100_000_00] });
    expect(new Set(parseRows(xml).map((r) => r.Amount))).toEqual(new Set(['$100000.00']));
  });

  it('duplicates: exact copies after their original, counted in rowCount and totals', () => {
    const { xml, result } = generateToString({ ...base, duplicates: 5 });
    const blocks = [...xml.matchAll(/<row>[\s\S]*?<\/row>/g)].map((m) => m[0]);
    expect(blocks).toHaveLength(405);
    expect(result.rowCount).toBe(405);
    expect(blocks.length - new Set(blocks).size).toBe(5);
    const rows = parseRows(xml);
    expect(findErrors(rows)).toEqual([]);
    expect(rows.reduce((s, r) => s + parseCents(r.Amount!)!, 0)).toBe(result.totalCents);
  });

  it('rejects impossible option combinations', () => {
    expect(() => generateToString({ ...base, rows: 100, employees: 5 })).toThrow(RangeError);
    expect(() => generateToString({ ...base, rows: 1.5 })).toThrow(RangeError);
    expect(() => generateToString({ ...base, rows: 5, employees: 5, bad: { amountZero: 1 } })).toThrow(
      /bad rows/,
    );
  });
});

describe('bad rows', () => {
  const bad = Object.fromEntries(BAD_KINDS.map((k) => [k, k === 'missingField' ? 12 : 3])) as Record<
    BadKind,
    number
  >;
  const { xml, result } = generateToString({ ...base, rows: 2000, employees: 400, duplicates: 4, bad });

  it('records every injected row, each kind the requested number of times', () => {
    for (const k of BAD_KINDS) expect(result.badRows.filter((b) => b.kind === k)).toHaveLength(bad[k]);
    const rows = result.badRows.map((b) => b.row);
    expect(new Set(rows).size).toBe(rows.length);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
  });

  it('each bad kind is at the recorded row and field, and no other row is faulty', () => {
    const found = findErrors(parseRows(xml));
    const key = (e: { row: number; kind: string; field: string }): string => `${e.row}|${e.kind}|${e.field}`;
    expect(found.map(key).sort()).toEqual(result.badRows.map(key).sort());
  });

  it('inconsistent rows repeat an id seen earlier with other details', () => {
    const rows = parseRows(xml);
    for (const b of result.badRows.filter(
      (x) => x.kind === 'inconsistentSource' || x.kind === 'inconsistentEmployee',
    )) {
      const r = rows[b.row - 1]!;
      const idPath = b.kind === 'inconsistentSource' ? 'Payor/DunkinId' : 'Employee/DunkinId';
      const earlier = rows.slice(0, b.row - 1).find((x) => x[idPath] === r[idPath]);
      expect(earlier).toBeDefined();
      expect(earlier![b.field as Path]).not.toBe(r[b.field as Path]);
    }
  });
});

describe('50k rows like the real file', () => {
  function countingSink(needles: string[]): {
    write: (c: string) => void;
    bytes: () => number;
    count: number[];
  } {
    let bytes = 0;
    let tail = '';
    const count = needles.map(() => 0);
    const keep = Math.max(...needles.map((n) => n.length)) - 1;
    return {
      count,
      bytes: () => bytes,
      write: (c: string) => {
        bytes += Buffer.byteLength(c);
        const s = tail + c;
        needles.forEach((n, i) => {
          // Only matches that end inside the new chunk, so a needle straddling two chunks counts once.
          for (let at = s.indexOf(n); at !== -1; at = s.indexOf(n, at + 1)) {
            if (at + n.length > tail.length) count[i]!++;
          }
        });
        tail = s.slice(-keep);
      },
    };
  }

  it('~10% of rows use the unpayable Plaid id, ~54 MB pretty, fast', () => {
    const needles = [`<PlaidId>${UNPAYABLE_PLAID_ID}</PlaidId>`, '<row>'];
    const sink = countingSink(needles);
    const started = performance.now();
    const result: GenResult = generate(
      { rows: 50_000, employees: 10_000, sources: 5, branches: 30, seed: 1 },
      sink.write,
    );
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(5_000);
    expect(sink.count[1]).toBe(50_000);
    expect(result.rowCount).toBe(50_000);
    expect(sink.count[0]! / 50_000).toBeGreaterThan(0.09);
    expect(sink.count[0]! / 50_000).toBeLessThan(0.11);
    expect(sink.bytes()).toBeGreaterThan(50_000_000);
    expect(sink.bytes()).toBeLessThan(58_000_000);
    // Real total is $299,526.45: uniform $1.00–$10.99 averages $5.995 a row.
    expect(result.totalCents / 50_000).toBeGreaterThan(590);
    expect(result.totalCents / 50_000).toBeLessThan(610);
  });

  it('without the unpayable share no row uses ins_116527', () => {
    const sink = countingSink([UNPAYABLE_PLAID_ID]);
    generate(
      { rows: 50_000, employees: 10_000, sources: 5, branches: 30, seed: 1, unpayablePlaidShare: false },
      sink.write,
    );
    expect(sink.count[0]).toBe(0);
  });

  it('minified is ~36 MB', () => {
    const sink = countingSink(['<row>']);
    generate(
      { rows: 50_000, employees: 10_000, sources: 5, branches: 30, seed: 1, minified: true },
      sink.write,
    );
    expect(sink.count[0]).toBe(50_000);
    expect(sink.bytes()).toBeGreaterThan(33_000_000);
    expect(sink.bytes()).toBeLessThan(39_000_000);
  });
});
