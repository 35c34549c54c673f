// The reader's row fast path (a row layout learned from an earlier row and replayed 8 bytes at a
// time, the memo of repeated payor blocks, the per-field caches of value strings) must read
// exactly what the general path reads: the same rows as saxes, the same line numbers, the same
// errors at the same places, whatever the chunking. Documents here have many rows in one layout,
// so that the fast path is taken, with values and deviations that make it step aside.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referenceRead } from './reference-reader.js';
import { comparable, type ReadOutcome, readAll, utf8 } from './support.js';

interface Layout {
  nl: string;
  indent: string;
}

const LAYOUTS: Layout[] = [
  { nl: '\n', indent: '    ' },
  { nl: '\r\n', indent: '    ' },
  { nl: '\n', indent: '\t' },
  { nl: '\r', indent: '  ' },
  { nl: '', indent: '' },
  { nl: '\n', indent: '' },
];

const EMPLOYEE = ['DunkinId', 'DunkinBranch', 'FirstName', 'LastName', 'DOB', 'PhoneNumber'] as const;
const PAYOR = ['DunkinId', 'ABARouting', 'AccountNumber', 'Name', 'DBA', 'EIN'] as const;
const ADDRESS = ['Line1', 'City', 'State', 'Zip'] as const;
const PAYEE = ['PlaidId', 'LoanAccountNumber'] as const;

type Values = Record<string, string>;

/** [depth, text] lines of a row; values keyed "Employee/DunkinId", ..., "Amount". */
function rowLines(v: Values): [number, string][] {
  const leaf = (d: number, path: string, name: string): [number, string] => [
    d,
    v[path] === undefined ? '' : `<${name}>${v[path]}</${name}>`,
  ];
  return [
    [1, '<row>'],
    [2, '<Employee>'],
    ...EMPLOYEE.map((n) => leaf(3, `Employee/${n}`, n)),
    [2, '</Employee>'],
    [2, '<Payor>'],
    ...PAYOR.map((n) => leaf(3, `Payor/${n}`, n)),
    [3, '<Address>'],
    ...ADDRESS.map((n) => leaf(4, `Payor/Address/${n}`, n)),
    [3, '</Address>'],
    [2, '</Payor>'],
    [2, '<Payee>'],
    ...PAYEE.map((n) => leaf(3, `Payee/${n}`, n)),
    [2, '</Payee>'],
    leaf(2, 'Amount', 'Amount'),
    [1, '</row>'],
  ];
}

/** A row in the layout; extra[k] is inserted right after line k (a deviation from the layout). */
function rowText(v: Values, layout: Layout, extra: Map<number, string>): string {
  return rowLines(v)
    .map(([d, text], k) => `${layout.indent.repeat(d)}${text}${extra.get(k) ?? ''}`)
    .filter((line) => line.trim() !== '')
    .join(layout.nl);
}

/** 1-based line of every "<row" tag, counting CRLF, CR and LF each as one line break. */
function rowLinesOf(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\r') line++;
    else if (c === '\n' && text[i - 1] !== '\r') line++;
    else if (c === '<' && text.startsWith('<row', i) && /[>/\s]/.test(text[i + 4])) lines.push(line);
  }
  return lines;
}

const plainChar = fc.constantFrom(..."abcdefXYZ0189 -.$,'\t_()#;:".split(''));
/** Values the fast path reads in place; lengths around the 13-character and 48-byte thresholds. */
const plainValue = fc.oneof(
  fc.string({ unit: plainChar, maxLength: 16 }),
  fc.string({ unit: plainChar, minLength: 11, maxLength: 15 }),
  fc.string({ unit: plainChar, minLength: 40, maxLength: 70 }),
);
/** Values that send a row to the general path, or are read there in part. */
const oddValue = fc.constantFrom(
  'Zoë',
  'é'.repeat(30),
  '😀x',
  'a&amp;b',
  '&#x41;&#66;',
  '<![CDATA[x & <y>]]>',
  'x<!-- c -->y',
  'x<?pi z?>y',
  'a\nb',
  'a\r\nb',
  'a\rb',
  'x>y',
  ']]',
  'a]]>b',
  '\u0001',
  '<Extra>1</Extra>',
  '',
  ' ',
);
const value = fc.oneof({ weight: 12, arbitrary: plainValue }, { weight: 1, arbitrary: oddValue });

/** A few payors and employees, repeated over the rows (the memo and caches see the same bytes). */
const payorPool = fc.array(
  fc.record({
    id: plainValue,
    routing: plainValue,
    account: plainValue,
    name: plainValue,
    dba: plainValue,
    ein: plainValue,
    line1: plainValue,
    city: plainValue,
    state: plainValue,
    zip: plainValue,
  }),
  { minLength: 1, maxLength: 3 },
);

const deviation = fc.oneof(
  fc.constantFrom(
    ' ',
    '\t',
    '\n',
    '\r\n',
    '  \n  ',
    '<!-- c -->',
    '<?pi x?>',
    '<Extra/>',
    '<Extra>1</Extra>',
  ),
  fc.constantFrom('<DBA>x</DBA>', '</row><row>', '&amp;', 'x', '<', '&', ']]>', '\u0000', 'é'),
);

const rowSpec = fc.record({
  payor: fc.nat(),
  employee: fc.nat(4),
  first: value,
  last: value,
  dob: value,
  phone: value,
  plaid: value,
  loan: value,
  amount: value,
  override: fc.option(fc.tuple(fc.nat(18), value), { freq: 8 }),
  drop: fc.option(fc.nat(18), { freq: 15 }),
  extra: fc.option(fc.tuple(fc.nat(28), deviation), { freq: 6 }),
});

const FIELDS = [
  ...EMPLOYEE.map((n) => `Employee/${n}`),
  ...PAYOR.map((n) => `Payor/${n}`),
  ...ADDRESS.map((n) => `Payor/Address/${n}`),
  ...PAYEE.map((n) => `Payee/${n}`),
  'Amount',
];

const docSpec = fc.record({
  layout: fc.nat(LAYOUTS.length - 1),
  payors: payorPool,
  employees: fc.array(fc.tuple(plainValue, plainValue), { minLength: 5, maxLength: 5 }),
  rows: fc.array(rowSpec, { minLength: 2, maxLength: 30 }),
  head: fc.constantFrom('', '<?xml version="1.0"?>', '\uFEFF'),
  tail: fc.constantFrom('', '\n', '\r\n', ' <!-- end -->'),
});

type DocSpec = typeof docSpec extends fc.Arbitrary<infer T> ? T : never;

function docText(spec: DocSpec): string {
  const layout = LAYOUTS[spec.layout];
  const rows = spec.rows.map((r) => {
    const p = spec.payors[r.payor % spec.payors.length];
    const [id, branch] = spec.employees[r.employee];
    const v: Values = {
      'Employee/DunkinId': id,
      'Employee/DunkinBranch': branch,
      'Employee/FirstName': r.first,
      'Employee/LastName': r.last,
      'Employee/DOB': r.dob,
      'Employee/PhoneNumber': r.phone,
      'Payor/DunkinId': p.id,
      'Payor/ABARouting': p.routing,
      'Payor/AccountNumber': p.account,
      'Payor/Name': p.name,
      'Payor/DBA': p.dba,
      'Payor/EIN': p.ein,
      'Payor/Address/Line1': p.line1,
      'Payor/Address/City': p.city,
      'Payor/Address/State': p.state,
      'Payor/Address/Zip': p.zip,
      'Payee/PlaidId': r.plaid,
      'Payee/LoanAccountNumber': r.loan,
      Amount: r.amount,
    };
    if (r.override !== null) v[FIELDS[r.override[0]]] = r.override[1];
    if (r.drop !== null) delete v[FIELDS[r.drop]];
    const extra = new Map<number, string>();
    if (r.extra !== null) extra.set(r.extra[0], r.extra[1]);
    return rowText(v, layout, extra);
  });
  return `${spec.head}<root>${layout.nl}${rows.join(layout.nl)}${layout.nl}</root>${spec.tail}`;
}

function describeOutcome(o: ReadOutcome): string {
  return o.ok ? `${o.rows.length} rows` : `refused (${o.message})`;
}

describe('the row fast path', () => {
  it('reads rows in a learned layout like saxes, with the right lines, however split', async () => {
    await fc.assert(
      fc.asyncProperty(docSpec, fc.array(fc.nat(), { maxLength: 6 }), async (spec, splits) => {
        const text = docText(spec);
        const bytes = utf8(text);
        const mine = await readAll(bytes);
        const ref = referenceRead(bytes);
        if (mine.ok !== ref.ok) {
          throw new Error(
            `disagree: mine ${describeOutcome(mine)}, saxes ${ref.ok ? 'accepts' : `refuses (${ref.reason})`}\n${JSON.stringify(text)}`,
          );
        }
        if (mine.ok && ref.ok) {
          expect(comparable(mine.rows)).toEqual(ref.rows);
          expect(mine.rows.map((r) => r.line)).toEqual(rowLinesOf(text));
        }
        const split = await readAll(
          bytes,
          splits.map((p) => p % (bytes.length + 1)),
          undefined,
          splits.length % 2 === 1,
        );
        expect(split).toEqual(mine);
      }),
      { numRuns: 600 },
    );
  });

  it('gives every value of many identical-layout rows, and their lines', async () => {
    const rows: string[] = [];
    const expected: Values[] = [];
    for (let k = 0; k < 300; k++) {
      const v: Values = {};
      for (const f of FIELDS) v[f] = `${f.slice(0, 3)}${k % 7}-${'x'.repeat((k * 7 + f.length) % 60)}`;
      // A few payor blocks, repeated, one differing from another only in its last byte.
      const payor = k % 3;
      for (const f of FIELDS.filter((p) => p.startsWith('Payor/'))) v[f] = `${f}#${payor === 2 ? 1 : payor}`;
      if (payor === 2) v['Payor/Address/Zip'] = 'Payor/Address/Zip#2';
      rows.push(rowText(v, LAYOUTS[1], new Map()));
      expected.push(v);
    }
    const text = `<root>\r\n${rows.join('\r\n')}\r\n</root>\r\n`;
    const bytes = utf8(text);
    for (const splits of [[], [4096, 8192, 100_000], Array.from({ length: 200 }, (_, k) => k * 997)]) {
      const outcome = await readAll(bytes, splits);
      if (!outcome.ok) throw new Error(outcome.message);
      expect(outcome.rows.map((r) => r.values)).toEqual(expected);
      expect(outcome.rows.map((r) => r.line)).toEqual(rowLinesOf(text));
    }
  });

  it('reports an error in a late row at the same place as when the layout is not known', async () => {
    const v: Values = {};
    for (const f of FIELDS) v[f] = `v-${f}`;
    const good = rowText(v, LAYOUTS[0], new Map());
    const bad = [
      rowText({ ...v, 'Employee/LastName': 'O\u0001Brien' }, LAYOUTS[0], new Map()),
      rowText({ ...v, 'Payor/Address/City': 'a&nope;b' }, LAYOUTS[0], new Map()),
      rowText({ ...v, 'Payor/Name': 'a]]>b' }, LAYOUTS[0], new Map()),
      rowText(v, LAYOUTS[0], new Map([[9, '<Name>']])),
      rowText(v, LAYOUTS[0], new Map([[12, '--']])).replace('<Address>', '<Address x="1">'),
      rowText({ ...v, Amount: '\uFFFF' }, LAYOUTS[0], new Map()),
      rowText(v, LAYOUTS[0], new Map()).slice(0, -30),
    ];
    for (const row of bad) {
      const alone = utf8(`<root>\n${row}\n</root>\n`);
      const late = utf8(`<root>\n${Array(40).fill(good).join('\n')}\n${row}\n</root>\n`);
      const first = await readAll(alone);
      const after = await readAll(late);
      if (first.ok || after.ok) {
        expect(after.ok).toBe(first.ok);
        continue;
      }
      expect(after.message.replace(/line \d+/g, 'line N')).toBe(first.message.replace(/line \d+/g, 'line N'));
      expect(after.column).toBe(first.column);
      expect(after.line).toBe(first.line + 40 * good.split('\n').length);
      expect(referenceRead(late).ok).toBe(false);
    }
  });
});
