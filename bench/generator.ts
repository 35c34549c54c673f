// Deterministic synthetic payroll XML in the real Dunkin' export's exact layout, with optional
// edge cases (entities, UTF-8, thousands separators) and injected bad rows at recorded positions.
import { FIRST_NAMES, LAST_NAMES, UTF8_FIRST_NAMES, UTF8_LAST_NAMES } from './names.js';

export type BadKind =
  | 'missingField'
  | 'amountZero'
  | 'amountNegative'
  | 'amountThreeDecimals'
  | 'amountText'
  | 'amountUnderOneDollar'
  | 'badRouting'
  | 'impossibleDate'
  | 'inconsistentSource'
  | 'inconsistentEmployee'
  | 'badBranchPrefix'
  | 'badPlaidId';

export const BAD_KINDS: readonly BadKind[] = [
  'missingField',
  'amountZero',
  'amountNegative',
  'amountThreeDecimals',
  'amountText',
  'amountUnderOneDollar',
  'badRouting',
  'impossibleDate',
  'inconsistentSource',
  'inconsistentEmployee',
  'badBranchPrefix',
  'badPlaidId',
];

export interface GenOptions {
  rows: number;
  employees: number;
  sources: number;
  branches: number;
  seed: number;
  minified?: boolean;
  xmlDeclaration?: boolean;
  /** write apostrophes as &apos; (and &#39; in the DBA), & as &amp;, < as &lt;, > as &gt; */
  entities?: boolean;
  /** some names with accents: José, Zoë, Ñúñez, O'Brien-Łukasz */
  utf8Names?: boolean;
  /** amounts ≥ $1,000.00 written with a thousands separator; widens the default range to $1.00–$2,000.00 */
  thousands?: boolean;
  /** inclusive, integer cents; default the real file's 100..1099 */
  amountRange?: [number, number];
  /** how many rows of each bad kind to inject (deterministic positions) */
  bad?: Partial<Record<BadKind, number>>;
  /** exact duplicate rows to add (a warning, not an error) */
  duplicates?: number;
  /** default true: ~10% rows use ins_116527 like the real file; false: no row uses it */
  unpayablePlaidShare?: boolean;
}

/**
 * rowCount counts every row in the file, duplicates included. employees counts the distinct valid
 * employees (the one-row employees made up for impossibleDate/badBranchPrefix are not counted).
 * The totals sum every row that is not a bad row (duplicates included): they are the file's real
 * totals only when `bad` is empty.
 */
export interface GenResult {
  rowCount: number;
  totalCents: number;
  employees: number;
  sourceIds: string[];
  branchIds: string[];
  badRows: { row: number; kind: BadKind; field: string }[];
  totalsBySource: Record<string, number>;
  totalsByBranch: Record<string, number>;
}

/** The real file's ten Plaid ids with their row counts in the 50k-row file (drives the proportions). */
export const REAL_PLAID_IDS: readonly (readonly [string, number])[] = [
  ['ins_116944', 5135],
  ['ins_108798', 5058],
  ['ins_116304', 5057],
  ['ins_116248', 5013],
  ['ins_116950', 5007],
  ['ins_116861', 4998],
  ['ins_116527', 4984],
  ['ins_116866', 4964],
  ['ins_116945', 4902],
  ['ins_116947', 4882],
];
export const UNPAYABLE_PLAID_ID = 'ins_116527';

/** The five real sources (one legal payor, five bank accounts), reused as-is when sources ≤ 5. */
export const REAL_SOURCES: readonly { id: string; routing: string; account: string }[] = [
  { id: 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8', routing: '403911437', account: '40909581' },
  { id: 'CORP-e4025d0e-0491-49ef-8284-2738c2d0a0cf', routing: '148386123', account: '12719660' },
  { id: 'CORP-a9804e0b-e8b0-4837-8bbe-aabafcd483dd', routing: '547414133', account: '93785544' },
  { id: 'CORP-55988522-7698-46ba-bddd-4bc2956a6bb4', routing: '030748921', account: '93347373' },
  { id: 'CORP-1f5ba4e7-926a-47c5-9031-b07ad1dd6261', routing: '181222943', account: '41927033' },
];

export const PAYOR = {
  name: "Dunkin' Donuts LLC",
  dba: "Dunkin' Donuts",
  ein: '32120240',
  line1: '999 Hayes Lights',
  city: 'Kerlukemouth',
  state: 'IA',
  zip: '67485',
} as const;

/** The real file allows an employee at most 19 rows. */
export const MAX_ROWS_PER_EMPLOYEE = 19;
const CHUNK_SIZE = 64 * 1024;

// Fields whose absence must refuse the file; missingField picks one of these.
const REQUIRED_FIELDS = [
  'Employee/DunkinId',
  'Employee/DunkinBranch',
  'Employee/FirstName',
  'Employee/LastName',
  'Employee/DOB',
  'Payor/DunkinId',
  'Payor/ABARouting',
  'Payor/AccountNumber',
  'Payor/Name',
  'Payor/Address/Line1',
  'Payor/Address/City',
  'Payor/Address/State',
  'Payor/Address/Zip',
  'Payee/PlaidId',
  'Payee/LoanAccountNumber',
  'Amount',
] as const;

const BAD_FIELD: Record<Exclude<BadKind, 'missingField'>, string> = {
  amountZero: 'Amount',
  amountNegative: 'Amount',
  amountThreeDecimals: 'Amount',
  amountText: 'Amount',
  amountUnderOneDollar: 'Amount',
  badRouting: 'Payor/ABARouting',
  impossibleDate: 'Employee/DOB',
  inconsistentSource: 'Payor/AccountNumber',
  inconsistentEmployee: 'Employee/LastName',
  badBranchPrefix: 'Employee/DunkinBranch',
  badPlaidId: 'Payee/PlaidId',
};

const IMPOSSIBLE_DATES = ['02-30-1991', '04-31-1988', '02-29-1999', '13-12-1990', '00-10-1985', '06-31-2001'];
const BAD_PLAID_IDS = ['ins116527', 'plaid_116248', 'ins_', 'INS_116944', 'ins_11a6861'];
const AMOUNT_TEXTS = ['eight dollars', '$abc', '$8,15', 'N/A', '$1.2.3'];

/** mulberry32: tiny, fast and good enough for test data; Math.random would break determinism. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    // Scramble the seed so nearby seeds (1, 2, 3) do not start on correlated streams.
    this.next = mulberry32(Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35);
  }
  u32(): number {
    return this.next();
  }
  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }
  /** uniform integer in [lo, hi] (spans above 2^32 use a 53-bit fraction) */
  between(lo: number, hi: number): number {
    const span = hi - lo + 1;
    if (span <= 4294967296) return lo + this.int(span);
    const fraction = ((this.next() >>> 11) * 4294967296 + this.next()) / 9007199254740992;
    return lo + Math.floor(fraction * span);
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(10));
    return s;
  }
  uuid(): string {
    let h = '';
    for (let i = 0; i < 4; i++) h += this.u32().toString(16).padStart(8, '0');
    const variant = '89ab'[parseInt(h[16]!, 16) & 3];
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

/** Nine-digit ABA routing number whose last digit satisfies the checksum. */
export function abaChecksumOk(routing: string): boolean {
  if (!/^\d{9}$/.test(routing)) return false;
  const d = Array.from(routing, Number);
  return (3 * (d[0]! + d[3]! + d[6]!) + 7 * (d[1]! + d[4]! + d[7]!) + (d[2]! + d[5]! + d[8]!)) % 10 === 0;
}

function abaCheckDigit(first8: string): number {
  const d = Array.from(first8, Number);
  const s = 3 * (d[0]! + d[3]! + d[6]!) + 7 * (d[1]! + d[4]! + d[7]!) + (d[2]! + d[5]!);
  return (10 - (s % 10)) % 10;
}

/** Integer cents to the file's `$8.15` form; thousands separators only when asked. */
export function formatCents(cents: number, thousands = false): string {
  const dollars = String(Math.floor(cents / 100));
  const whole = thousands ? dollars.replace(/\B(?=(\d{3})+$)/g, ',') : dollars;
  return `$${whole}.${String(cents % 100).padStart(2, '0')}`;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

interface Employee {
  id: string;
  branch: number;
  first: string;
  last: string;
  dob: string;
  phone: string;
}

interface Source {
  id: string;
  routing: string;
  account: string;
}

/** One row's values; a missing key is an element left out of the XML. */
interface RowValues {
  empId?: string;
  branch?: string;
  first?: string;
  last?: string;
  dob?: string;
  phone?: string;
  srcId?: string;
  routing?: string;
  account?: string;
  payorName?: string;
  dba?: string;
  ein?: string;
  line1?: string;
  city?: string;
  state?: string;
  zip?: string;
  plaid?: string;
  loan?: string;
  amount?: string;
}

const FIELD_KEY: Record<(typeof REQUIRED_FIELDS)[number], keyof RowValues> = {
  'Employee/DunkinId': 'empId',
  'Employee/DunkinBranch': 'branch',
  'Employee/FirstName': 'first',
  'Employee/LastName': 'last',
  'Employee/DOB': 'dob',
  'Payor/DunkinId': 'srcId',
  'Payor/ABARouting': 'routing',
  'Payor/AccountNumber': 'account',
  'Payor/Name': 'payorName',
  'Payor/Address/Line1': 'line1',
  'Payor/Address/City': 'city',
  'Payor/Address/State': 'state',
  'Payor/Address/Zip': 'zip',
  'Payee/PlaidId': 'plaid',
  'Payee/LoanAccountNumber': 'loan',
  Amount: 'amount',
};

function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

interface Plan {
  opts: Required<Omit<GenOptions, 'bad' | 'amountRange'>> & { amountRange: [number, number] };
  rng: Rng;
  employees: Employee[];
  sources: Source[];
  branchIds: string[];
  plaidIds: string[];
  /** per file row (duplicates included), in file order */
  rowEmp: Int32Array;
  rowSrc: Int32Array;
  rowPlaid: Int32Array;
  rowLoan: Int32Array;
  rowAmount: Float64Array;
  /** file row index (0-based) → bad kind + field */
  bad: Map<number, { kind: BadKind; field: string }>;
  usedEmployees: number;
}

function makePlan(o: GenOptions): Plan {
  const rows = checkInt('rows', o.rows, 0, 50_000_000);
  const employeesWanted = checkInt('employees', o.employees, 1);
  const sourceCount = checkInt('sources', o.sources, 1, 100_000);
  const branchCount = checkInt('branches', o.branches, 1, 100_000);
  const seed = checkInt('seed', o.seed, -0x80000000, 0xffffffff);
  const duplicates = checkInt('duplicates', o.duplicates ?? 0, 0, rows);
  const defaultRange: [number, number] = o.thousands ? [100, 200_000] : [100, 1099];
  const amountRange = o.amountRange ?? defaultRange;
  const minCents = checkInt('amountRange[0]', amountRange[0], 0);
  const maxCents = checkInt('amountRange[1]', amountRange[1], minCents);
  const usedEmployees = Math.min(employeesWanted, rows);
  if (rows > employeesWanted * MAX_ROWS_PER_EMPLOYEE) {
    throw new RangeError(
      `rows (${rows}) exceeds employees × ${MAX_ROWS_PER_EMPLOYEE} (${employeesWanted * MAX_ROWS_PER_EMPLOYEE})`,
    );
  }
  const opts = {
    rows,
    employees: employeesWanted,
    sources: sourceCount,
    branches: branchCount,
    seed,
    minified: o.minified ?? false,
    xmlDeclaration: o.xmlDeclaration ?? false,
    entities: o.entities ?? false,
    utf8Names: o.utf8Names ?? false,
    thousands: o.thousands ?? false,
    amountRange: [minCents, maxCents] as [number, number],
    duplicates,
    unpayablePlaidShare: o.unpayablePlaidShare ?? true,
  };
  const rng = new Rng(seed);

  const branchIds: string[] = [];
  for (let i = 0; i < branchCount; i++) branchIds.push(`BRC-${rng.uuid()}`);

  const sources: Source[] = [];
  for (let i = 0; i < sourceCount; i++) {
    if (sourceCount <= REAL_SOURCES.length) {
      sources.push({ ...REAL_SOURCES[i]! });
    } else {
      const first8 = rng.digits(8);
      sources.push({
        id: `CORP-${rng.uuid()}`,
        routing: first8 + abaCheckDigit(first8),
        account: rng.digits(8),
      });
    }
  }

  const employees: Employee[] = [];
  for (let i = 0; i < usedEmployees; i++) employees.push(makeEmployee(rng, opts.utf8Names, branchIds.length));

  // Every employee gets one row, the rest go to random employees under the 19-row cap: this gives
  // roughly 1 + Poisson(rows/employees − 1) rows each, close to the real file's spread.
  const counts = new Int32Array(usedEmployees).fill(1);
  for (let k = rows - usedEmployees; k > 0; k--) {
    let e = rng.int(usedEmployees);
    while (counts[e]! >= MAX_ROWS_PER_EMPLOYEE) e = (e + 1) % usedEmployees;
    counts[e]!++;
  }
  const baseEmp = new Int32Array(rows);
  for (let e = 0, r = 0; e < usedEmployees; e++) for (let c = 0; c < counts[e]!; c++) baseEmp[r++] = e;
  // Fisher–Yates so rows are interleaved, as in the real file.
  for (let i = rows - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = baseEmp[i]!;
    baseEmp[i] = baseEmp[j]!;
    baseEmp[j] = t;
  }

  const plaidTable = REAL_PLAID_IDS.filter(([id]) => opts.unpayablePlaidShare || id !== UNPAYABLE_PLAID_ID);
  const plaidIds = plaidTable.map(([id]) => id);
  const cumulative: number[] = [];
  let weightSum = 0;
  for (const [, w] of plaidTable) {
    weightSum += w;
    cumulative.push(weightSum);
  }

  const baseSrc = new Int32Array(rows);
  const basePlaid = new Int32Array(rows);
  const baseLoan = new Int32Array(rows);
  const baseAmount = new Float64Array(rows);
  // (PlaidId, LoanAccountNumber) must be unique: every row is its own loan, as in the real file.
  const seenLoans = new Set<number>();
  for (let r = 0; r < rows; r++) {
    baseSrc[r] = rng.int(sourceCount);
    const w = rng.int(weightSum);
    let p = 0;
    while (cumulative[p]! <= w) p++;
    basePlaid[r] = p;
    let loan: number;
    do loan = rng.int(100_000_000);
    while (seenLoans.has(p * 100_000_000 + loan));
    seenLoans.add(p * 100_000_000 + loan);
    baseLoan[r] = loan;
    baseAmount[r] = rng.between(minCents, maxCents);
  }

  // Duplicates: copy distinct base rows and put each copy somewhere after its original.
  const dupAfter = new Map<number, number[]>();
  const isDupOriginal = new Uint8Array(rows);
  for (let d = 0; d < duplicates; d++) {
    let p = rng.int(rows);
    while (isDupOriginal[p]) p = (p + 1) % rows;
    isDupOriginal[p] = 1;
    const after = p + rng.int(rows - p);
    const list = dupAfter.get(after);
    if (list) list.push(p);
    else dupAfter.set(after, [p]);
  }
  const total = rows + duplicates;
  const rowEmp = new Int32Array(total);
  const rowSrc = new Int32Array(total);
  const rowPlaid = new Int32Array(total);
  const rowLoan = new Int32Array(total);
  const rowAmount = new Float64Array(total);
  const inDuplicate = new Uint8Array(total);
  let out = 0;
  const put = (b: number, dup: boolean): void => {
    rowEmp[out] = baseEmp[b]!;
    rowSrc[out] = baseSrc[b]!;
    rowPlaid[out] = basePlaid[b]!;
    rowLoan[out] = baseLoan[b]!;
    rowAmount[out] = baseAmount[b]!;
    if (dup || isDupOriginal[b]) inDuplicate[out] = 1;
    out++;
  };
  for (let b = 0; b < rows; b++) {
    put(b, false);
    for (const orig of dupAfter.get(b) ?? []) put(orig, true);
  }

  const bad = pickBadRows(o.bad ?? {}, rng, { rowEmp, rowSrc, inDuplicate, usedEmployees, sourceCount });
  return {
    opts,
    rng,
    employees,
    sources,
    branchIds,
    plaidIds,
    rowEmp,
    rowSrc,
    rowPlaid,
    rowLoan,
    rowAmount,
    bad,
    usedEmployees,
  };
}

function makeEmployee(rng: Rng, utf8: boolean, branchCount: number): Employee {
  const id = `EMP-${rng.uuid()}`;
  const branch = rng.int(branchCount);
  let first = FIRST_NAMES[rng.int(FIRST_NAMES.length)]!;
  let last = LAST_NAMES[rng.int(LAST_NAMES.length)]!;
  if (utf8) {
    if (rng.int(20) === 0) first = UTF8_FIRST_NAMES[rng.int(UTF8_FIRST_NAMES.length)]!;
    if (rng.int(20) === 0) last = UTF8_LAST_NAMES[rng.int(UTF8_LAST_NAMES.length)]!;
  }
  // The real DOBs are adults born 1980–2004.
  const year = 1980 + rng.int(25);
  const month = 1 + rng.int(12);
  const dim = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  const day = 1 + rng.int(dim);
  const dob = `${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}-${year}`;
  // NANP shape (area code and exchange start 2–9): ~1/8 get a 9xx area code, fake-looking like the real 990s.
  const phone = `+1${2 + rng.int(8)}${rng.digits(2)}${2 + rng.int(8)}${rng.digits(6)}`;
  return { id, branch, first, last, dob, phone };
}

function pickBadRows(
  want: Partial<Record<BadKind, number>>,
  rng: Rng,
  ctx: {
    rowEmp: Int32Array;
    rowSrc: Int32Array;
    inDuplicate: Uint8Array;
    usedEmployees: number;
    sourceCount: number;
  },
): Map<number, { kind: BadKind; field: string }> {
  const result = new Map<number, { kind: BadKind; field: string }>();
  const kinds: BadKind[] = [];
  for (const kind of BAD_KINDS) {
    const n = checkInt(`bad.${kind}`, want[kind] ?? 0, 0);
    for (let i = 0; i < n; i++) kinds.push(kind);
  }
  for (const k of Object.keys(want)) {
    if (!(BAD_KINDS as readonly string[]).includes(k)) throw new RangeError(`unknown bad kind: ${k}`);
  }
  if (kinds.length === 0) return result;
  // A bad row is never the first row of its employee or source, nor part of a duplicate pair, so
  // each bad row causes exactly one error and every employee and source keeps a clean first row.
  const seenEmp = new Uint8Array(ctx.usedEmployees);
  const seenSrc = new Uint8Array(ctx.sourceCount);
  const candidates: number[] = [];
  for (let r = 0; r < ctx.rowEmp.length; r++) {
    const e = ctx.rowEmp[r]!;
    const s = ctx.rowSrc[r]!;
    if (seenEmp[e] && seenSrc[s] && !ctx.inDuplicate[r]) candidates.push(r);
    seenEmp[e] = 1;
    seenSrc[s] = 1;
  }
  if (candidates.length < kinds.length) {
    throw new RangeError(
      `cannot inject ${kinds.length} bad rows: only ${candidates.length} rows repeat an earlier employee and source; add rows`,
    );
  }
  for (let i = 0; i < kinds.length; i++) {
    const j = i + rng.int(candidates.length - i);
    const t = candidates[i]!;
    candidates[i] = candidates[j]!;
    candidates[j] = t;
    const kind = kinds[i]!;
    const field =
      kind === 'missingField' ? REQUIRED_FIELDS[rng.int(REQUIRED_FIELDS.length)]! : BAD_FIELD[kind];
    result.set(candidates[i]!, { kind, field });
  }
  return result;
}

function escaper(entities: boolean): (s: string) => string {
  if (entities) {
    return (s) =>
      /['&<>"]/.test(s)
        ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;')
        : s;
  }
  // Apostrophes stay raw as in the real file; & and < must still be escaped to stay well-formed.
  return (s) => (/[&<>]/.test(s) ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;') : s);
}

/**
 * The generator proper: yields ~64 KB chunks and returns the summary. Exported so a caller can
 * honour backpressure between chunks (the CLI waits for 'drain').
 */
export function* generateChunks(options: GenOptions): Generator<string, GenResult, void> {
  const plan = makePlan(options);
  const { opts, rng, employees, sources, branchIds, plaidIds } = plan;
  const esc = escaper(opts.entities);
  const nl = opts.minified ? '' : '\n';
  const ind = opts.minified
    ? ['', '', '', '', '']
    : ['', '    ', '        ', '            ', '                '];
  const [, i1, i2, i3, i4] = ind as [string, string, string, string, string];
  const el = (indent: string, tag: string, v: string | undefined): string =>
    v === undefined ? '' : `${indent}<${tag}>${v}</${tag}>${nl}`;

  const payorName = esc(PAYOR.name);
  // &#39; in the DBA so entity mode also exercises numeric character references.
  const dba = opts.entities ? PAYOR.dba.replace(/'/g, '&#39;') : esc(PAYOR.dba);
  const empXml = employees.map((e) => ({ first: esc(e.first), last: esc(e.last) }));

  const totalsBySource: Record<string, number> = {};
  const totalsByBranch: Record<string, number> = {};
  for (const s of sources) totalsBySource[s.id] = 0;
  for (const b of branchIds) totalsByBranch[b] = 0;
  let totalCents = 0;
  const badRows: GenResult['badRows'] = [];

  let buf = opts.xmlDeclaration ? `<?xml version="1.0" encoding="UTF-8"?>${nl}<root>${nl}` : `<root>${nl}`;
  const total = plan.rowEmp.length;
  for (let r = 0; r < total; r++) {
    const emp = employees[plan.rowEmp[r]!]!;
    const src = sources[plan.rowSrc[r]!]!;
    const cents = plan.rowAmount[r]!;
    const v: RowValues = {
      empId: emp.id,
      branch: branchIds[emp.branch],
      first: empXml[plan.rowEmp[r]!]!.first,
      last: empXml[plan.rowEmp[r]!]!.last,
      dob: emp.dob,
      phone: emp.phone,
      srcId: src.id,
      routing: src.routing,
      account: src.account,
      payorName,
      dba,
      ein: PAYOR.ein,
      line1: PAYOR.line1,
      city: PAYOR.city,
      state: PAYOR.state,
      zip: PAYOR.zip,
      plaid: plaidIds[plan.rowPlaid[r]!],
      loan: String(plan.rowLoan[r]!).padStart(8, '0'),
      amount: formatCents(cents, opts.thousands),
    };
    const bad = plan.bad.get(r);
    if (bad) {
      applyBad(v, bad.kind, bad.field, rng, opts.utf8Names, branchIds.length, esc);
      badRows.push({ row: r + 1, kind: bad.kind, field: bad.field });
    } else {
      totalCents += cents;
      totalsBySource[src.id]! += cents;
      totalsByBranch[branchIds[emp.branch]!]! += cents;
    }
    buf +=
      `${i1}<row>${nl}${i2}<Employee>${nl}` +
      el(i3, 'DunkinId', v.empId) +
      el(i3, 'DunkinBranch', v.branch) +
      el(i3, 'FirstName', v.first) +
      el(i3, 'LastName', v.last) +
      el(i3, 'DOB', v.dob) +
      el(i3, 'PhoneNumber', v.phone) +
      `${i2}</Employee>${nl}${i2}<Payor>${nl}` +
      el(i3, 'DunkinId', v.srcId) +
      el(i3, 'ABARouting', v.routing) +
      el(i3, 'AccountNumber', v.account) +
      el(i3, 'Name', v.payorName) +
      el(i3, 'DBA', v.dba) +
      el(i3, 'EIN', v.ein) +
      `${i3}<Address>${nl}` +
      el(i4, 'Line1', v.line1) +
      el(i4, 'City', v.city) +
      el(i4, 'State', v.state) +
      el(i4, 'Zip', v.zip) +
      `${i3}</Address>${nl}${i2}</Payor>${nl}${i2}<Payee>${nl}` +
      el(i3, 'PlaidId', v.plaid) +
      el(i3, 'LoanAccountNumber', v.loan) +
      `${i2}</Payee>${nl}` +
      el(i2, 'Amount', v.amount) +
      `${i1}</row>${nl}`;
    if (buf.length >= CHUNK_SIZE) {
      yield buf;
      buf = '';
    }
  }
  // Match the samples byte for byte: the pretty original has no final newline, the minified copies have one.
  buf += opts.minified ? '</root>\n' : '</root>';
  yield buf;

  return {
    rowCount: total,
    totalCents,
    employees: plan.usedEmployees,
    sourceIds: sources.map((s) => s.id),
    branchIds: [...branchIds],
    badRows,
    totalsBySource,
    totalsByBranch,
  };
}

function applyBad(
  v: RowValues,
  kind: BadKind,
  field: string,
  rng: Rng,
  utf8: boolean,
  branchCount: number,
  esc: (s: string) => string,
): void {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  // Employee-level faults go on a made-up one-row employee so they don't also read as a change of
  // an existing employee's details.
  const freshEmployee = (): void => {
    const e = makeEmployee(rng, utf8, branchCount);
    v.empId = e.id;
    v.first = esc(e.first);
    v.last = esc(e.last);
    v.dob = e.dob;
    v.phone = e.phone;
  };
  switch (kind) {
    case 'missingField':
      delete v[FIELD_KEY[field as (typeof REQUIRED_FIELDS)[number]]];
      return;
    case 'amountZero':
      v.amount = '$0.00';
      return;
    case 'amountNegative':
      v.amount = `-${formatCents(100 + rng.int(1000))}`;
      return;
    case 'amountThreeDecimals':
      v.amount = `$${1 + rng.int(10)}.${rng.digits(3)}`;
      return;
    case 'amountText':
      v.amount = pick(AMOUNT_TEXTS);
      return;
    case 'amountUnderOneDollar':
      v.amount = formatCents(1 + rng.int(99));
      return;
    case 'badRouting': {
      // A one-off source, so the bad checksum is not also a change of a known source's details.
      const first8 = rng.digits(8);
      v.srcId = `CORP-${rng.uuid()}`;
      v.routing = first8 + ((abaCheckDigit(first8) + 1 + rng.int(9)) % 10);
      v.account = rng.digits(8);
      return;
    }
    case 'impossibleDate':
      freshEmployee();
      v.dob = pick(IMPOSSIBLE_DATES);
      return;
    case 'inconsistentSource': {
      let account = rng.digits(8);
      while (account === v.account) account = rng.digits(8);
      v.account = account;
      return;
    }
    case 'inconsistentEmployee': {
      let last = esc(pick(LAST_NAMES));
      while (last === v.last) last = esc(pick(LAST_NAMES));
      v.last = last;
      return;
    }
    case 'badBranchPrefix':
      freshEmployee();
      v.branch = `${pick(['FRC-', 'BRN-', 'BRC_'])}${rng.uuid()}`;
      return;
    case 'badPlaidId':
      v.plaid = pick(BAD_PLAID_IDS);
      return;
  }
}

/** Streams the XML through write() in ~64 KB chunks, never building the whole file. */
export function generate(opts: GenOptions, write: (chunk: string) => void): GenResult {
  const it = generateChunks(opts);
  for (;;) {
    const step = it.next();
    if (step.done) return step.value;
    write(step.value);
  }
}

/** For small test files. */
export function generateToString(opts: GenOptions): { xml: string; result: GenResult } {
  const parts: string[] = [];
  const result = generate(opts, (c) => parts.push(c));
  return { xml: parts.join(''), result };
}
