// Field rules and cross-row checks for the payment file, applied row by row as the reader streams:
// memory grows with distinct employees and sources (plus one number per valid row for duplicates),
// never with the text of the file.
import { hash } from 'node:crypto';
import type { FieldPath, RawRow } from './xml-reader.js';

export interface Issue {
  row: number;
  field: string;
  code: string;
  message: string;
}

export interface ParsedRow {
  rowNumber: number;
  employeeId: string;
  branchId: string;
  firstName: string;
  lastName: string;
  /** YYYY-MM-DD */
  dob: string;
  phone: string;
  sourceId: string;
  routing: string;
  accountNumber: string;
  payorName: string;
  dba: string;
  ein: string;
  addressLine1: string;
  city: string;
  state: string;
  zip: string;
  plaidId: string;
  loanAccountNumber: string;
  amountCents: number;
  /** SHA-256 (hex) of the row's canonical parsed values */
  digest: string;
}

export interface ValidationResult {
  errorCount: number;
  truncated: boolean;
  errors: Issue[];
  warnings: Issue[];
  /** rows seen, valid or not */
  rowCount: number;
  /** sum of the valid rows' amounts */
  totalCents: number;
  /** order-independent digest of the multiset of valid rows: sum of row SHA-256s mod 2^256, hex */
  fileDigest: string;
}

export interface ValidatorOptions {
  maxErrors?: number;
  /** "today" for the date-of-birth check (default: now); compared as a UTC calendar date */
  today?: Date;
}

export const MIN_AMOUNT_CENTS = 100;
export const MAX_AMOUNT_CENTS = 100_000_000;

// ---------------------------------------------------------------------------------------------
// Amounts

export interface AmountProblem {
  code: string;
  message: string;
}

/**
 * Parses "$1,234.56" / "1234.56" / "$8" to integer cents without floating point. An optional "$",
 * digits with correctly placed thousands separators, and exactly 0 or 2 decimals; no sign, no
 * inner spaces; $1.00 to $1,000,000.00.
 */
export function parseAmountCents(text: string): number | AmountProblem {
  const s = text.trim();
  const shown = JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
  if (s.length === 0) return { code: 'REQUIRED', message: 'Amount is empty' };
  let i = 0;
  let negative = false;
  let end = s.length;
  if (s.charCodeAt(0) === 0x28 && s.charCodeAt(end - 1) === 0x29) {
    // Accounting notation "(12.34)" means a negative amount.
    negative = true;
    i = 1;
    end--;
  }
  if (s.charCodeAt(i) === 0x2d) {
    negative = true;
    i++;
  }
  if (s.charCodeAt(i) === 0x24) i++;
  if (s.charCodeAt(i) === 0x2d) {
    negative = true;
    i++;
  }
  const invalid: AmountProblem = {
    code: 'AMOUNT_INVALID',
    message: `Amount ${shown} is not a dollar amount like $1,234.56`,
  };
  // Integer part: plain digits, or 1–3 digits then groups of ",ddd".
  const intStart = i;
  let dollars = 0;
  let digits = 0;
  let groupLen = 0;
  let sawComma = false;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (digits < 16) dollars = dollars * 10 + (c - 0x30);
      digits++;
      groupLen++;
      continue;
    }
    if (c === 0x2c) {
      if (sawComma ? groupLen !== 3 : groupLen < 1 || groupLen > 3) return invalid;
      sawComma = true;
      groupLen = 0;
      continue;
    }
    break;
  }
  if (i === intStart || digits === 0) return invalid;
  if (sawComma && groupLen !== 3) return invalid;
  if (digits > 1 && s.charCodeAt(intStart) === 0x30) return invalid;
  let cents = 0;
  if (i < end) {
    if (s.charCodeAt(i) !== 0x2e) return invalid;
    i++;
    const decStart = i;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return invalid;
    }
    const decimals = end - decStart;
    if (decimals !== 2) {
      return decimals === 0
        ? invalid
        : {
            code: 'AMOUNT_DECIMALS',
            message: `Amount ${shown} has ${decimals} decimal place${decimals === 1 ? '' : 's'}; use exactly 2 (like $8.15) or none`,
          };
    }
    cents = (s.charCodeAt(decStart) - 0x30) * 10 + (s.charCodeAt(decStart + 1) - 0x30);
  }
  if (negative) {
    return { code: 'AMOUNT_NEGATIVE', message: `Amount ${shown} is negative; a payment must be positive` };
  }
  if (digits > 9) {
    return {
      code: 'AMOUNT_TOO_LARGE',
      message: `Amount ${shown} is above the ${formatCents(MAX_AMOUNT_CENTS)} maximum per payment`,
    };
  }
  const total = dollars * 100 + cents;
  if (total === 0) return { code: 'AMOUNT_ZERO', message: `Amount ${shown} is zero` };
  if (total < MIN_AMOUNT_CENTS) {
    return {
      code: 'AMOUNT_TOO_SMALL',
      message: `Amount ${shown} is below the ${formatCents(MIN_AMOUNT_CENTS)} minimum per payment`,
    };
  }
  if (total > MAX_AMOUNT_CENTS) {
    return {
      code: 'AMOUNT_TOO_LARGE',
      message: `Amount ${shown} is above the ${formatCents(MAX_AMOUNT_CENTS)} maximum per payment`,
    };
  }
  return total;
}

/** Integer cents to "$1,234.56". */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not an integer number of cents: ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const dollars = String(Math.trunc(abs / 100));
  const rest = String(abs % 100).padStart(2, '0');
  let grouped = '';
  for (let k = dollars.length; k > 0; k -= 3) {
    grouped = dollars.slice(Math.max(0, k - 3), k) + (grouped === '' ? '' : `,${grouped}`);
  }
  return `${sign}$${grouped}.${rest}`;
}

// ---------------------------------------------------------------------------------------------
// Simple field checks

export function abaChecksumValid(routing: string): boolean {
  if (routing.length !== 9 || !allDigits(routing)) return false;
  const d = (k: number) => routing.charCodeAt(k) - 0x30;
  const sum = 3 * (d(0) + d(3) + d(6)) + 7 * (d(1) + d(4) + d(7)) + (d(2) + d(5) + d(8));
  return sum % 10 === 0;
}

function allDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** prefix + UUID (8-4-4-4-12 hex digits, either case). */
function isPrefixedUuid(s: string, prefix: string): boolean {
  const p = prefix.length;
  if (s.length !== p + 36 || !s.startsWith(prefix)) return false;
  for (let k = 0; k < 36; k++) {
    const c = s.charCodeAt(p + k);
    if (k === 8 || k === 13 || k === 18 || k === 23) {
      if (c !== 0x2d) return false;
    } else if (!isHex(c)) return false;
  }
  return true;
}

const PERSON_NAME_RE = /^[\p{L}\p{M}' .\u2019-]+$/u;
const HAS_LETTER_RE = /\p{L}/u;
const CONTROL_RE = /[\p{Cc}\u2028\u2029]/u;
const MAX_NAME_CHARS = 100;

function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Shows a secret number by its last 4 characters only. */
export function maskSecret(s: string): string {
  return s.length > 4 ? `ending ${s.slice(-4)}` : '(hidden)';
}

function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}

// ---------------------------------------------------------------------------------------------
// Geography: USPS codes, ZIP prefixes, NANP phone numbers

const STATE_CODES = [
  'AL',
  'AK',
  'AZ',
  'AR',
  'CA',
  'CO',
  'CT',
  'DE',
  'DC',
  'FL',
  'GA',
  'HI',
  'ID',
  'IL',
  'IN',
  'IA',
  'KS',
  'KY',
  'LA',
  'ME',
  'MD',
  'MA',
  'MI',
  'MN',
  'MS',
  'MO',
  'MT',
  'NE',
  'NV',
  'NH',
  'NJ',
  'NM',
  'NY',
  'NC',
  'ND',
  'OH',
  'OK',
  'OR',
  'PA',
  'RI',
  'SC',
  'SD',
  'TN',
  'TX',
  'UT',
  'VT',
  'VA',
  'WA',
  'WV',
  'WI',
  'WY',
  // territories and freely associated states with USPS codes
  'AS',
  'GU',
  'MP',
  'PR',
  'VI',
  'FM',
  'MH',
  'PW',
  // military post offices
  'AA',
  'AE',
  'AP',
] as const;
const STATE_SET: ReadonlySet<string> = new Set(STATE_CODES);

// USPS 3-digit ZIP prefixes by state (inclusive ranges; unassigned numbers inside a state's block
// count as that state). Prefixes shared by several codes list them all. A few real ZIPs cross
// these lines (e.g. Fishers Island NY 06390), which is why a mismatch is only a warning.
const ZIP_PREFIX_TABLE =
  '005NY 006-007PR 008VI 009PR 010-027MA 028-029RI 030-038NH 039-049ME 050-054VT 055MA 056-059VT ' +
  '060-069CT 070-089NJ 090-099AE 100-149NY 150-196PA 197-199DE 200DC 201VA 202-205DC 206-219MD ' +
  '220-246VA 247-269WV 270-289NC 290-299SC 300-319GA 320-339FL 340AA 341-349FL 350-369AL ' +
  '370-385TN 386-397MS 398-399GA 400-429KY 430-459OH 460-479IN 480-499MI 500-529IA 530-549WI ' +
  '550-568MN 569DC 570-579SD 580-589ND 590-599MT 600-629IL 630-659MO 660-679KS 680-699NE ' +
  '700-715LA 716-729AR 730-732OK 733TX 734-749OK 750-799TX 800-819CO 820-831WY 832-839ID ' +
  '840-849UT 850-869AZ 870-884NM 885TX 886-888NM 889-899NV 900-961CA 962-966AP 967HI/AS 968HI ' +
  '969GU/MP/PW/FM/MH 970-979OR 980-994WA 995-999AK';

const ZIP_PREFIX_STATES: (readonly string[] | undefined)[] = new Array(1000);
for (const entry of ZIP_PREFIX_TABLE.split(' ')) {
  const m = /^(\d{3})(?:-(\d{3}))?([A-Z/]+)$/.exec(entry);
  if (m === null) throw new Error(`bad ZIP prefix entry ${entry}`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  const states = m[3].split('/');
  for (let p = from; p <= to; p++) ZIP_PREFIX_STATES[p] = states;
}

/** The USPS codes a ZIP's 3-digit prefix belongs to (empty when the prefix is not in use). */
export function statesForZip(zip: string): readonly string[] {
  return ZIP_PREFIX_STATES[Number(zip.slice(0, 3))] ?? [];
}

/**
 * Why a +1 (NANP) number looks fake, or null when it looks like a real one. Rules from the NANP
 * numbering plan: area code and exchange are NXX (N = 2–9); N11 codes are service codes; area codes
 * N9X, 37X and 96X are reserved for expansion; 555-01XX lines are reserved for fiction.
 */
export function nanpProblem(tenDigits: string): string | null {
  const d = (k: number) => tenDigits.charCodeAt(k) - 0x30;
  const a0 = d(0);
  const a1 = d(1);
  const a2 = d(2);
  if (a0 < 2) return `area code ${tenDigits.slice(0, 3)} cannot start with ${a0}`;
  if (a1 === 1 && a2 === 1) return `${tenDigits.slice(0, 3)} is a service code, not an area code`;
  if (a1 === 9) return `area code ${tenDigits.slice(0, 3)} is reserved and not in service`;
  if ((a0 === 3 && a1 === 7) || (a0 === 9 && a1 === 6)) {
    return `area code ${tenDigits.slice(0, 3)} is reserved and not in service`;
  }
  const e0 = d(3);
  if (e0 < 2) return `exchange ${tenDigits.slice(3, 6)} cannot start with ${e0}`;
  if (d(4) === 1 && d(5) === 1) return `exchange ${tenDigits.slice(3, 6)} is a service code`;
  if (tenDigits.slice(3, 6) === '555' && tenDigits.slice(6, 8) === '01') {
    return '555-01XX numbers are reserved for fiction';
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The validator

interface EmployeeRecord {
  index: number;
  firstRow: number;
  id: string;
  branchId: string;
  firstName: string;
  lastName: string;
  dob: string;
  /** raw values of the row that created the record: an identical row needs no re-checking */
  rawBranch: string;
  rawFirst: string;
  rawLast: string;
  rawDob: string;
  /** raw phone already checked (and warned about) for this employee, or null */
  rawPhone: string | null;
  phone: string;
  /** canonical text of the employee part of the row digest */
  canon: string;
}

interface SourceRecord {
  index: number;
  firstRow: number;
  id: string;
  routing: string;
  accountNumber: string;
  payorName: string;
  dba: string;
  ein: string;
  addressLine1: string;
  city: string;
  state: string;
  zip: string;
  raw: string[];
  canon: string;
}

const EMP = {
  id: 'Employee/DunkinId',
  branch: 'Employee/DunkinBranch',
  first: 'Employee/FirstName',
  last: 'Employee/LastName',
  dob: 'Employee/DOB',
  phone: 'Employee/PhoneNumber',
} as const;

const SOURCE_FIELDS = [
  'Payor/ABARouting',
  'Payor/AccountNumber',
  'Payor/Name',
  'Payor/DBA',
  'Payor/EIN',
  'Payor/Address/Line1',
  'Payor/Address/City',
  'Payor/Address/State',
  'Payor/Address/Zip',
] as const satisfies readonly FieldPath[];

const SOURCE_LABELS = [
  'routing number',
  'account number',
  'name',
  'DBA',
  'EIN',
  'address line 1',
  'city',
  'state',
  'ZIP',
] as const;

const SEP = '\u0000'; // cannot occur in XML text, so it separates canonical values unambiguously

/** Copies a string so that it does not keep a whole row's text alive (V8 sliced strings). */
function detach(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

const HEX_VALUE = new Uint8Array(128);
for (let k = 0; k < 10; k++) HEX_VALUE[0x30 + k] = k;
for (let k = 0; k < 6; k++) HEX_VALUE[0x61 + k] = 10 + k;

export class FileValidator {
  private readonly maxErrors: number;
  private readonly todayIso: string;
  private readonly errors: Issue[] = [];
  private readonly warnings: Issue[] = [];
  private errorCount = 0;
  private rowCount = 0;
  private totalCents = 0;
  private validRows = 0;
  private readonly employees = new Map<string, EmployeeRecord>();
  private readonly sources = new Map<string, SourceRecord>();
  private readonly interned = new Map<string, string>();
  /** 53-bit hash of (employee, source, Plaid id, loan number, amount) → first row */
  private readonly seenPayments = new Map<number, number>();
  /** 8 × 32-bit lanes of the running sum of row digests, carries deferred */
  private readonly digestSum = new Float64Array(8);
  private rowErrors = 0;

  constructor(opts: ValidatorOptions = {}) {
    this.maxErrors = opts.maxErrors ?? 10_000;
    this.todayIso = (opts.today ?? new Date()).toISOString().slice(0, 10);
  }

  private error(row: number, field: string, code: string, message: string): void {
    this.rowErrors++;
    this.errorCount++;
    if (this.errors.length < this.maxErrors) this.errors.push({ row, field, code, message });
  }

  private warn(row: number, field: string, code: string, message: string): void {
    this.warnings.push({ row, field, code, message });
  }

  /** The trimmed value, or null after reporting REQUIRED. */
  private required(row: number, field: FieldPath, raw: string | undefined, label: string): string | null {
    if (raw === undefined) {
      this.error(row, field, 'REQUIRED', `${label} is missing (no <${field.split('/').pop()}> element)`);
      return null;
    }
    const s = raw.trim();
    if (s.length === 0) {
      this.error(row, field, 'REQUIRED', `${label} is empty`);
      return null;
    }
    return s;
  }

  private intern(s: string): string {
    const known = this.interned.get(s);
    if (known !== undefined) return known;
    const own = detach(s);
    this.interned.set(own, own);
    return own;
  }

  add(raw: RawRow): ParsedRow | null {
    const row = raw.rowNumber;
    const v = raw.values;
    this.rowCount++;
    this.rowErrors = 0;
    for (const path of raw.unknownPaths) {
      this.error(row, path, 'UNKNOWN_FIELD', `<${path}> is not a field of the file format`);
    }
    for (const path of raw.repeatedPaths) {
      this.error(row, path, 'REPEATED_FIELD', `<${path}> appears more than once in the row`);
    }
    const emp = this.checkEmployee(row, v);
    const phone = this.checkPhone(row, v[EMP.phone], emp);
    const src = this.checkSource(row, v);
    const plaidId = this.checkPlaidId(row, v['Payee/PlaidId']);
    const loan = this.checkDigits(
      row,
      'Payee/LoanAccountNumber',
      v['Payee/LoanAccountNumber'],
      'Loan account number',
      4,
      17,
    );
    let amountCents = -1;
    const amountRaw = v.Amount;
    if (amountRaw === undefined) {
      this.error(row, 'Amount', 'REQUIRED', 'Amount is missing (no <Amount> element)');
    } else {
      const a = parseAmountCents(amountRaw);
      if (typeof a === 'number') amountCents = a;
      else this.error(row, 'Amount', a.code, a.message);
    }
    if (
      this.rowErrors > 0 ||
      emp === null ||
      phone === null ||
      src === null ||
      plaidId === null ||
      loan === null ||
      amountCents < 0
    ) {
      return null;
    }

    const digest = hash(
      'sha256',
      `${emp.canon}${SEP}${phone}${SEP}${src.canon}${SEP}${plaidId}${SEP}${loan}${SEP}${amountCents}`,
      'hex',
    );
    this.addDigest(digest);
    this.totalCents += amountCents;

    const key = paymentKey(emp.index, src.index, amountCents, plaidId, loan);
    const earlier = this.seenPayments.get(key);
    if (earlier === undefined) this.seenPayments.set(key, row);
    else {
      this.warn(
        row,
        'Amount',
        'DUPLICATE_ROW',
        `Same employee, loan account, payor and amount (${formatCents(amountCents)}) as row ${earlier}: this would pay it twice`,
      );
    }

    return {
      rowNumber: row,
      employeeId: emp.id,
      branchId: emp.branchId,
      firstName: emp.firstName,
      lastName: emp.lastName,
      dob: emp.dob,
      phone,
      sourceId: src.id,
      routing: src.routing,
      accountNumber: src.accountNumber,
      payorName: src.payorName,
      dba: src.dba,
      ein: src.ein,
      addressLine1: src.addressLine1,
      city: src.city,
      state: src.state,
      zip: src.zip,
      plaidId,
      loanAccountNumber: loan,
      amountCents,
      digest,
    };
  }

  private addDigest(hex: string): void {
    const lanes = this.digestSum;
    for (let lane = 0; lane < 8; lane++) {
      let x = 0;
      const o = lane * 8;
      for (let k = 0; k < 8; k++) x = x * 16 + HEX_VALUE[hex.charCodeAt(o + k)];
      lanes[lane] += x;
    }
    // Lanes stay exact below 2^53, i.e. for 2^21 additions; fold carries well before that.
    if (++this.validRows % 1_000_000 === 0) normalizeLanes(lanes);
  }

  // ----- employee -----

  private checkEmployee(row: number, v: RawRow['values']): EmployeeRecord | null {
    const errorsBefore = this.rowErrors;
    const id = this.required(row, EMP.id, v[EMP.id], 'Employee id');
    let idOk = false;
    if (id !== null) {
      idOk = isPrefixedUuid(id, 'EMP-');
      if (!idOk) {
        this.error(
          row,
          EMP.id,
          'INVALID_FORMAT',
          `Employee id ${quote(id)} is not "EMP-" followed by a UUID (like EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f)`,
        );
      }
    }
    const rawBranch = v[EMP.branch];
    const rawFirst = v[EMP.first];
    const rawLast = v[EMP.last];
    const rawDob = v[EMP.dob];
    const known = idOk && id !== null ? this.employees.get(id) : undefined;
    if (
      known !== undefined &&
      known.rawBranch === rawBranch &&
      known.rawFirst === rawFirst &&
      known.rawLast === rawLast &&
      known.rawDob === rawDob
    ) {
      return known;
    }
    const branch = this.required(row, EMP.branch, rawBranch, 'Branch id');
    if (branch !== null && !isPrefixedUuid(branch, 'BRC-')) {
      this.error(
        row,
        EMP.branch,
        'INVALID_FORMAT',
        `Branch id ${quote(branch)} is not "BRC-" followed by a UUID (like BRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6)`,
      );
    }
    const first = this.checkPersonName(row, EMP.first, rawFirst, 'First name');
    const last = this.checkPersonName(row, EMP.last, rawLast, 'Last name');
    const dob = this.checkDob(row, rawDob);
    if (
      this.rowErrors > errorsBefore ||
      id === null ||
      !idOk ||
      branch === null ||
      first === null ||
      last === null ||
      dob === null
    ) {
      return null;
    }
    if (known !== undefined) {
      const diffs: [FieldPath, string, string, string][] = [
        [EMP.branch, 'branch', known.branchId, branch],
        [EMP.first, 'first name', known.firstName, first],
        [EMP.last, 'last name', known.lastName, last],
        [EMP.dob, 'date of birth', known.dob, dob],
      ];
      for (const [field, label, before, now] of diffs) {
        if (before !== now) {
          this.error(
            row,
            field,
            'INCONSISTENT_EMPLOYEE',
            `Employee ${id} has ${label} ${quote(now)} here but ${quote(before)} on row ${known.firstRow}`,
          );
          return null;
        }
      }
      return known;
    }
    const ownId = detach(id);
    const ownBranch = this.intern(branch);
    const ownFirst = this.intern(first);
    const ownLast = this.intern(last);
    const record: EmployeeRecord = {
      index: this.employees.size,
      firstRow: row,
      id: ownId,
      branchId: ownBranch,
      firstName: ownFirst,
      lastName: ownLast,
      dob,
      rawBranch: rawBranch === branch ? ownBranch : detach(rawBranch ?? ''),
      rawFirst: rawFirst === first ? ownFirst : detach(rawFirst ?? ''),
      rawLast: rawLast === last ? ownLast : detach(rawLast ?? ''),
      rawDob: detach(rawDob ?? ''),
      rawPhone: null,
      phone: '',
      canon: `${ownId}${SEP}${ownBranch}${SEP}${ownFirst}${SEP}${ownLast}${SEP}${dob}`,
    };
    this.employees.set(ownId, record);
    return record;
  }

  private checkPersonName(
    row: number,
    field: FieldPath,
    raw: string | undefined,
    label: string,
  ): string | null {
    const s = this.required(row, field, raw, label);
    if (s === null) return null;
    if (s.length > MAX_NAME_CHARS && codePointLength(s) > MAX_NAME_CHARS) {
      this.error(row, field, 'TOO_LONG', `${label} is longer than ${MAX_NAME_CHARS} characters`);
      return null;
    }
    if (!PERSON_NAME_RE.test(s) || !HAS_LETTER_RE.test(s)) {
      this.error(
        row,
        field,
        'INVALID_FORMAT',
        `${label} ${quote(s)} may only contain letters, spaces, apostrophes, hyphens and periods`,
      );
      return null;
    }
    return s;
  }

  private checkDob(row: number, raw: string | undefined): string | null {
    const s = this.required(row, EMP.dob, raw, 'Date of birth');
    if (s === null) return null;
    const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(s);
    if (m === null) {
      this.error(
        row,
        EMP.dob,
        'INVALID_FORMAT',
        `Date of birth ${quote(s)} is not in MM-DD-YYYY form (like 03-26-1987)`,
      );
      return null;
    }
    const month = Number(m[1]);
    const day = Number(m[2]);
    const year = Number(m[3]);
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if (month < 1 || month > 12 || day < 1 || day > monthDays[month - 1]) {
      this.error(row, EMP.dob, 'INVALID_DATE', `Date of birth ${s} does not exist (MM-DD-YYYY)`);
      return null;
    }
    if (year < 1900) {
      this.error(row, EMP.dob, 'INVALID_DATE', `Date of birth ${s} is before 1900`);
      return null;
    }
    const iso = `${m[3]}-${m[1]}-${m[2]}`;
    if (iso >= this.todayIso) {
      this.error(row, EMP.dob, 'INVALID_DATE', `Date of birth ${s} is not in the past`);
      return null;
    }
    return iso;
  }

  private checkPhone(row: number, raw: string | undefined, emp: EmployeeRecord | null): string | null {
    if (emp !== null && emp.rawPhone !== null && raw === emp.rawPhone) return emp.phone;
    const s = this.required(row, EMP.phone, raw, 'Phone number');
    if (s === null) return null;
    const digits = s.slice(1);
    if (
      s.charCodeAt(0) !== 0x2b ||
      digits.length < 8 ||
      digits.length > 15 ||
      !allDigits(digits) ||
      digits.charCodeAt(0) === 0x30
    ) {
      this.error(
        row,
        EMP.phone,
        'INVALID_FORMAT',
        `Phone number ${quote(s)} is not in international E.164 form: "+", the country code and 8–15 digits in all (like +14594036784)`,
      );
      return null;
    }
    let problem: string | null = null;
    if (digits.length < 10) problem = 'it has fewer than 10 digits, which Method does not accept';
    else if (digits.charCodeAt(0) === 0x31) {
      problem =
        digits.length !== 11 ? 'a +1 number has exactly 10 digits after +1' : nanpProblem(digits.slice(1));
    }
    if (problem !== null) {
      this.warn(row, EMP.phone, 'PHONE_SUSPECT', `Phone number ${s} looks invalid: ${problem}`);
    }
    const own = this.intern(s);
    if (emp !== null && emp.rawPhone === null) {
      emp.rawPhone = raw === s ? own : detach(raw ?? '');
      emp.phone = own;
    }
    return own;
  }

  // ----- payor (source) -----

  private checkSource(row: number, v: RawRow['values']): SourceRecord | null {
    const id = this.required(row, 'Payor/DunkinId', v['Payor/DunkinId'], 'Payor id');
    let idOk = false;
    if (id !== null) {
      idOk = isPrefixedUuid(id, 'CORP-');
      if (!idOk) {
        this.error(
          row,
          'Payor/DunkinId',
          'INVALID_FORMAT',
          `Payor id ${quote(id)} is not "CORP-" followed by a UUID (like CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8)`,
        );
      }
    }
    const known = idOk && id !== null ? this.sources.get(id) : undefined;
    if (known !== undefined) {
      let same = true;
      for (let k = 0; k < SOURCE_FIELDS.length && same; k++) same = v[SOURCE_FIELDS[k]] === known.raw[k];
      if (same) return known;
    }
    const errorsBefore = this.rowErrors;
    const routing = this.checkDigits(row, 'Payor/ABARouting', v['Payor/ABARouting'], 'Routing number', 9, 9);
    if (routing !== null && !abaChecksumValid(routing)) {
      this.error(
        row,
        'Payor/ABARouting',
        'ABA_CHECKSUM',
        `Routing number ${routing} is not a valid ABA routing number (its check digit does not match)`,
      );
    }
    const account = this.checkDigits(
      row,
      'Payor/AccountNumber',
      v['Payor/AccountNumber'],
      'Account number',
      4,
      17,
    );
    const name = this.checkText(row, 'Payor/Name', v['Payor/Name'], 'Payor name', true);
    const dba = this.checkText(row, 'Payor/DBA', v['Payor/DBA'], 'Payor DBA', false);
    const ein = this.required(row, 'Payor/EIN', v['Payor/EIN'], 'EIN');
    if (ein !== null && !allDigits(ein)) {
      this.error(
        row,
        'Payor/EIN',
        'INVALID_FORMAT',
        `EIN ${quote(ein)} must contain digits only (like 123456789)`,
      );
    }
    const line1 = this.checkText(
      row,
      'Payor/Address/Line1',
      v['Payor/Address/Line1'],
      'Address line 1',
      true,
    );
    const city = this.checkText(row, 'Payor/Address/City', v['Payor/Address/City'], 'City', true);
    const state = this.required(row, 'Payor/Address/State', v['Payor/Address/State'], 'State');
    if (state !== null && !STATE_SET.has(state)) {
      this.error(
        row,
        'Payor/Address/State',
        'INVALID_FORMAT',
        `State ${quote(state)} is not a two-letter USPS state code (like IA)`,
      );
    }
    const zip = this.required(row, 'Payor/Address/Zip', v['Payor/Address/Zip'], 'ZIP code');
    if (zip !== null && !/^\d{5}(?:-\d{4})?$/.test(zip)) {
      this.error(
        row,
        'Payor/Address/Zip',
        'INVALID_FORMAT',
        `ZIP code ${quote(zip)} is not 5 digits or ZIP+4 (like 50613 or 50613-1234)`,
      );
    }
    if (this.rowErrors > errorsBefore || id === null || !idOk) return null;
    const values = [routing, account, name, dba, ein, line1, city, state, zip] as string[];
    if (known !== undefined) {
      const before = [
        known.routing,
        known.accountNumber,
        known.payorName,
        known.dba,
        known.ein,
        known.addressLine1,
        known.city,
        known.state,
        known.zip,
      ];
      for (let k = 0; k < values.length; k++) {
        if (values[k] !== before[k]) {
          const secret = k === 1;
          const now = secret ? maskSecret(values[k]) : quote(values[k]);
          const was = secret ? maskSecret(before[k]) : quote(before[k]);
          this.error(
            row,
            SOURCE_FIELDS[k],
            'INCONSISTENT_SOURCE',
            `Payor ${id} has ${SOURCE_LABELS[k]} ${now} here but ${was} on row ${known.firstRow}; one payor id must always carry the same bank details, name and address`,
          );
          return null;
        }
      }
      return known;
    }
    const own = values.map((x) => detach(x));
    const ownId = detach(id);
    const record: SourceRecord = {
      index: this.sources.size,
      firstRow: row,
      id: ownId,
      routing: own[0],
      accountNumber: own[1],
      payorName: own[2],
      dba: own[3],
      ein: own[4],
      addressLine1: own[5],
      city: own[6],
      state: own[7],
      zip: own[8],
      raw: SOURCE_FIELDS.map((f) => detach(v[f] ?? '')),
      canon: [ownId, ...own].join(SEP),
    };
    this.sources.set(ownId, record);
    if (record.ein.length !== 9) {
      this.warn(
        row,
        'Payor/EIN',
        'EIN_NOT_9_DIGITS',
        `EIN ${record.ein} of payor ${ownId} has ${record.ein.length} digits; a US EIN has 9`,
      );
    }
    const zipStates = statesForZip(record.zip);
    if (!zipStates.includes(record.state)) {
      this.warn(
        row,
        'Payor/Address/Zip',
        'ZIP_STATE_MISMATCH',
        zipStates.length === 0
          ? `ZIP code ${record.zip} of payor ${ownId} is not in use in any state (address says ${record.state}); Method may refuse the address`
          : `ZIP code ${record.zip} of payor ${ownId} is in ${zipStates.join('/')}, but the address says ${record.state}; Method may refuse the address`,
      );
    }
    return record;
  }

  private checkText(
    row: number,
    field: FieldPath,
    raw: string | undefined,
    label: string,
    required: boolean,
  ): string | null {
    if (!required && (raw === undefined || raw.trim() === '')) return '';
    const s = this.required(row, field, raw, label);
    if (s === null) return null;
    if (s.length > MAX_NAME_CHARS && codePointLength(s) > MAX_NAME_CHARS) {
      this.error(row, field, 'TOO_LONG', `${label} is longer than ${MAX_NAME_CHARS} characters`);
      return null;
    }
    if (CONTROL_RE.test(s)) {
      this.error(
        row,
        field,
        'INVALID_FORMAT',
        `${label} ${quote(s)} contains a tab, line break or control character`,
      );
      return null;
    }
    return s;
  }

  // ----- payee -----

  private checkPlaidId(row: number, raw: string | undefined): string | null {
    const s = this.required(row, 'Payee/PlaidId', raw, 'Plaid institution id');
    if (s === null) return null;
    if (s.length < 5 || s.length > 24 || !s.startsWith('ins_') || !allDigits(s.slice(4))) {
      this.error(
        row,
        'Payee/PlaidId',
        'INVALID_FORMAT',
        `Plaid institution id ${quote(s)} is not "ins_" followed by digits (like ins_116248)`,
      );
      return null;
    }
    return s;
  }

  /** Digits-only secret or code of min..max digits. Secrets are masked in messages. */
  private checkDigits(
    row: number,
    field: FieldPath,
    raw: string | undefined,
    label: string,
    min: number,
    max: number,
  ): string | null {
    const s = this.required(row, field, raw, label);
    if (s === null) return null;
    if (s.length < min || s.length > max || !allDigits(s)) {
      const secret = field === 'Payor/AccountNumber' || field === 'Payee/LoanAccountNumber';
      const shown = secret ? maskSecret(s) : quote(s);
      const rule = min === max ? `exactly ${min} digits` : `${min} to ${max} digits`;
      this.error(row, field, 'INVALID_FORMAT', `${label} ${shown} must be ${rule} (digits only)`);
      return null;
    }
    return s;
  }

  finish(): ValidationResult {
    const lanes = this.digestSum;
    normalizeLanes(lanes);
    let fileDigest = '';
    for (let lane = 0; lane < 8; lane++) fileDigest += lanes[lane].toString(16).padStart(8, '0');
    return {
      errorCount: this.errorCount,
      truncated: this.errorCount > this.errors.length,
      errors: this.errors,
      warnings: this.warnings,
      rowCount: this.rowCount,
      totalCents: this.totalCents,
      fileDigest,
    };
  }
}

/** Propagates carries from the least significant lane (7) up; the top carry falls off (mod 2^256). */
function normalizeLanes(lanes: Float64Array): void {
  let carry = 0;
  for (let lane = 7; lane >= 0; lane--) {
    const x = lanes[lane] + carry;
    carry = Math.floor(x / 4294967296);
    lanes[lane] = x - carry * 4294967296;
  }
}

/** A 53-bit hash of one payment's identity; a collision (~1e-7 at 50k rows) only adds a warning. */
function paymentKey(emp: number, src: number, cents: number, plaid: string, loan: string): number {
  let h1 = Math.imul(emp ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(src + 0x7f4a7c15, 0xc2b2ae35);
  let h2 = Math.imul(cents ^ 0x27d4eb2f, 0x165667b1) ^ emp;
  for (let k = 0; k < plaid.length; k++) {
    const c = plaid.charCodeAt(k);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  h1 = Math.imul(h1 ^ 0x1f, 0x01000193);
  h2 = Math.imul(h2 ^ 0x1f, 0x5bd1e995);
  for (let k = 0; k < loan.length; k++) {
    const c = loan.charCodeAt(k);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  h1 ^= h1 >>> 15;
  h1 = Math.imul(h1, 0x2c1b3c6d);
  h1 ^= h1 >>> 12;
  h2 ^= h2 >>> 13;
  h2 = Math.imul(h2, 0x297a2d39);
  h2 ^= h2 >>> 15;
  return (h1 >>> 11) * 4294967296 + (h2 >>> 0);
}
