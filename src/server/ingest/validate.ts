// Field rules and cross-row checks for the payment file, applied row by row as the reader streams:
// memory grows with distinct employees and sources (plus a few bytes per valid row for duplicate
// detection), never with the text of the file. The records keep the row's value strings as they
// are: readRows hands strings that own their characters (never views into a larger text).
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
  /** 128-bit hash (32 hex digits) of the row's canonical parsed values */
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
  /** order-independent digest of the multiset of valid rows: sum of the row digests mod 2^128 */
  fileDigest: string;
}

export interface ValidatorOptions {
  /** errors kept in the result (all are counted); default 10,000 */
  maxErrors?: number;
  /** "today" for the date-of-birth check (default: now), compared as a UTC calendar date */
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

function amountProblem(code: string, s: string, decimals = 0): AmountProblem {
  const shown = JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
  switch (code) {
    case 'AMOUNT_DECIMALS':
      return {
        code,
        message: `Amount ${shown} has ${decimals} decimal place${decimals === 1 ? '' : 's'}; use exactly 2 (like $8.15) or none`,
      };
    case 'AMOUNT_NEGATIVE':
      return { code, message: `Amount ${shown} is negative; a payment must be positive` };
    case 'AMOUNT_ZERO':
      return { code, message: `Amount ${shown} is zero` };
    case 'AMOUNT_TOO_SMALL':
      return {
        code,
        message: `Amount ${shown} is below the ${formatCents(MIN_AMOUNT_CENTS)} minimum per payment`,
      };
    case 'AMOUNT_TOO_LARGE':
      return {
        code,
        message: `Amount ${shown} is above the ${formatCents(MAX_AMOUNT_CENTS)} maximum per payment`,
      };
    default:
      return {
        code: 'AMOUNT_INVALID',
        message: `Amount ${shown} is not a dollar amount like $1,234.56 (digits, optional "$" and thousands commas, 0 or 2 decimals)`,
      };
  }
}

/**
 * Parses "$1,234.56" / "1234.56" / "$8" to integer cents without floating point: an optional "$",
 * digits with correctly placed thousands separators, exactly 0 or 2 decimals, no sign, no inner
 * spaces, from $1.00 to $1,000,000.00. Surrounding whitespace is ignored.
 */
export function parseAmountCents(text: string): number | AmountProblem {
  const s = trimmed(text);
  if (s.length === 0) return { code: 'REQUIRED', message: 'Amount is empty' };
  let i = 0;
  let end = s.length;
  let negative = false;
  if (s.charCodeAt(0) === 0x28 && s.charCodeAt(end - 1) === 0x29) {
    // Accounting notation: "(12.34)" is a negative amount.
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
  // Integer part: plain digits, or 1–3 digits then groups of ",ddd".
  const intStart = i;
  let dollars = 0;
  let digits = 0;
  let groupLen = 0;
  let sawComma = false;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (digits < 15) dollars = dollars * 10 + (c - 0x30);
      digits++;
      groupLen++;
      continue;
    }
    if (c === 0x2c) {
      if (sawComma ? groupLen !== 3 : groupLen < 1 || groupLen > 3) return amountProblem('', s);
      sawComma = true;
      groupLen = 0;
      continue;
    }
    break;
  }
  if (digits === 0 || (sawComma && groupLen !== 3)) return amountProblem('', s);
  if (digits > 1 && s.charCodeAt(intStart) === 0x30) return amountProblem('', s);
  let cents = 0;
  if (i < end) {
    if (s.charCodeAt(i) !== 0x2e) return amountProblem('', s);
    i++;
    const decStart = i;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return amountProblem('', s);
    }
    const decimals = end - decStart;
    if (decimals === 0) return amountProblem('', s);
    if (decimals !== 2) return amountProblem('AMOUNT_DECIMALS', s, decimals);
    cents = (s.charCodeAt(decStart) - 0x30) * 10 + (s.charCodeAt(decStart + 1) - 0x30);
  }
  if (negative) return amountProblem('AMOUNT_NEGATIVE', s);
  if (digits > 9) return amountProblem('AMOUNT_TOO_LARGE', s);
  const total = dollars * 100 + cents;
  if (total === 0) return amountProblem('AMOUNT_ZERO', s);
  if (total < MIN_AMOUNT_CENTS) return amountProblem('AMOUNT_TOO_SMALL', s);
  if (total > MAX_AMOUNT_CENTS) return amountProblem('AMOUNT_TOO_LARGE', s);
  return total;
}

/** Integer cents to "$1,234.56" (the form parseAmountCents reads back). */
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

const ABA_WEIGHTS = [3, 7, 1];

/** 9 digits whose weighted sum 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) is a multiple of 10. */
export function abaChecksumValid(routing: string): boolean {
  if (routing.length !== 9 || !digitsOnly(routing, 0)) return false;
  let sum = 0;
  for (let k = 0; k < 9; k++) sum += ABA_WEIGHTS[k % 3] * (routing.charCodeAt(k) - 0x30);
  return sum % 10 === 0;
}

/** True when s[from..] is one or more ASCII digits. */
function digitsOnly(s: string, from: number): boolean {
  if (s.length <= from) return false;
  for (let k = from; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** MM-DD-YYYY in ASCII digits (what /^(\d{2})-(\d{2})-(\d{4})$/ matches). */
function isDateForm(s: string): boolean {
  if (s.length !== 10 || s.charCodeAt(2) !== 0x2d || s.charCodeAt(5) !== 0x2d) return false;
  for (let k = 0; k < 10; k++) {
    if (k === 2 || k === 5) continue;
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The number written by the ASCII digits s[from..to). */
function digitsValue(s: string, from: number, to: number): number {
  let v = 0;
  for (let k = from; k < to; k++) v = v * 10 + (s.charCodeAt(k) - 0x30);
  return v;
}

/** prefix + UUID (8-4-4-4-12 hex digits, either case). */
function isPrefixedUuid(s: string, prefix: string): boolean {
  const p = prefix.length;
  if (s.length !== p + 36) return false;
  for (let k = 0; k < p; k++) if (s.charCodeAt(k) !== prefix.charCodeAt(k)) return false;
  for (let k = 0; k < 36; k++) {
    const c = s.charCodeAt(p + k);
    if (k === 8 || k === 13 || k === 18 || k === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) {
      return false;
    }
  }
  return true;
}

/** Lookup hash of an id: its last 12 characters (a UUID's random tail) are plenty. */
function idHash(s: string): number {
  let h = 0x811c9dc5;
  for (let k = Math.max(0, s.length - 12); k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h | 0;
}

const PERSON_NAME_RE = /^[\p{L}\p{M}' .\u2019-]+$/u;
const HAS_LETTER_RE = /\p{L}/u;
const CONTROL_RE = /[\p{Cc}\u2028\u2029]/u;
const ZIP_RE = /^\d{5}(?:-\d{4})?$/;
const MAX_TEXT_CHARS = 100;

/** PERSON_NAME_RE and HAS_LETTER_RE, without the regular expressions for plain ASCII names. */
function isPersonName(s: string): boolean {
  let letter = false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) letter = true;
    else if (c >= 0x80) return PERSON_NAME_RE.test(s) && HAS_LETTER_RE.test(s);
    else if (c !== 0x20 && c !== 0x27 && c !== 0x2e && c !== 0x2d) return false;
  }
  return letter;
}

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

/** The 50 states, DC, territories and freely associated states, and the military post codes. */
export const USPS_STATE_CODES: ReadonlySet<string> = new Set(
  (
    'AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ' +
    'ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI FM MH PW AA AE AP'
  ).split(' '),
);

// USPS 3-digit ZIP prefixes by state (inclusive ranges; unassigned numbers inside a state's block
// count as that state). Prefixes shared by several codes list them all. A few real ZIPs cross
// these lines (e.g. Fishers Island NY 06390), which is one reason a mismatch is only a warning.
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
 * Why a NANP (+1) number's ten digits look fake, or null when they look real. From the NANP plan:
 * area code and exchange are NXX (N = 2–9); N11 codes are service codes; area codes N9X, 37X and
 * 96X are reserved for expansion; 555-01XX lines are reserved for fiction.
 */
export function nanpProblem(tenDigits: string): string | null {
  const d0 = tenDigits.charCodeAt(0) - 0x30;
  const d1 = tenDigits.charCodeAt(1) - 0x30;
  const d2 = tenDigits.charCodeAt(2) - 0x30;
  const d3 = tenDigits.charCodeAt(3) - 0x30;
  const d4 = tenDigits.charCodeAt(4) - 0x30;
  const d5 = tenDigits.charCodeAt(5) - 0x30;
  const d6 = tenDigits.charCodeAt(6) - 0x30;
  const d7 = tenDigits.charCodeAt(7) - 0x30;
  if (d0 < 2) return `area code ${tenDigits.slice(0, 3)} cannot start with ${d0}`;
  if (d1 === 1 && d2 === 1) return `${tenDigits.slice(0, 3)} is a service code, not an area code`;
  if (d1 === 9 || (d0 === 3 && d1 === 7) || (d0 === 9 && d1 === 6)) {
    return `area code ${tenDigits.slice(0, 3)} is reserved and not in service`;
  }
  if (d3 < 2) return `exchange ${tenDigits.slice(3, 6)} cannot start with ${d3}`;
  if (d4 === 1 && d5 === 1) return `exchange ${tenDigits.slice(3, 6)} is a service code`;
  if (d3 === 5 && d4 === 5 && d5 === 5 && d6 === 0 && d7 === 1)
    return '555-01XX numbers are reserved for fiction';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Hashing. Row digests are a fast 128-bit non-cryptographic hash: they detect duplicate rows and
// re-uploaded files, where a (deliberately crafted) collision could only make a file look like a
// duplicate, never let bad data through. The upload's SHA-256 is recorded separately.

const H = new Int32Array(4);

function hashReset(): void {
  H[0] = 0x6a09e667;
  H[1] = 0xbb67ae85 | 0;
  H[2] = 0x3c6ef372;
  H[3] = 0xa54ff53a | 0;
}

/** Absorbs a string's UTF-16 code units, then a separator no code unit can equal. */
function hashString(s: string): void {
  let a = H[0];
  let b = H[1];
  let c = H[2];
  let d = H[3];
  for (let k = 0; k <= s.length; k++) {
    const x = k < s.length ? s.charCodeAt(k) : 0x10000;
    a = Math.imul(a ^ x, 0x01000193);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b ^ x, 0x5bd1e995);
    b = (b << 15) | (b >>> 17);
    c = Math.imul(c ^ x, 0x85ebca6b) + a;
    c = (c << 11) | (c >>> 21);
    d = Math.imul(d ^ x, 0xc2b2ae35) + b;
    d = (d << 17) | (d >>> 15);
  }
  H[0] = a;
  H[1] = b;
  H[2] = c;
  H[3] = d;
}

/** Absorbs 32-bit words: the lanes of sub-hashes, amounts. */
function hashWords(w: Int32Array, n: number): void {
  let a = H[0];
  let b = H[1];
  let c = H[2];
  let d = H[3];
  for (let k = 0; k < n; k++) {
    const x = w[k];
    a = Math.imul(a ^ x, 0x01000193);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b ^ x, 0x5bd1e995);
    b = (b << 15) | (b >>> 17);
    c = Math.imul(c ^ x, 0x85ebca6b) + a;
    c = (c << 11) | (c >>> 21);
    d = Math.imul(d ^ x, 0xc2b2ae35) + b;
    d = (d << 17) | (d >>> 15);
  }
  H[0] = a;
  H[1] = b;
  H[2] = c;
  H[3] = d;
}

/** hashWords of the four words x0..x3 (a sub-hash kept in a record's fields). */
function hash4(x0: number, x1: number, x2: number, x3: number): void {
  let a = H[0];
  let b = H[1];
  let c = H[2];
  let d = H[3];
  for (let k = 0; k < 4; k++) {
    const x = k === 0 ? x0 : k === 1 ? x1 : k === 2 ? x2 : x3;
    a = Math.imul(a ^ x, 0x01000193);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b ^ x, 0x5bd1e995);
    b = (b << 15) | (b >>> 17);
    c = Math.imul(c ^ x, 0x85ebca6b) + a;
    c = (c << 11) | (c >>> 21);
    d = Math.imul(d ^ x, 0xc2b2ae35) + b;
    d = (d << 17) | (d >>> 15);
  }
  H[0] = a;
  H[1] = b;
  H[2] = c;
  H[3] = d;
}

function fmix32(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

/** MurmurHash3-style finalisation: every output bit depends on every lane. */
function hashFinish(out: Int32Array): void {
  let a = H[0];
  let b = H[1];
  let c = H[2];
  let d = H[3];
  a = (a + b + c + d) | 0;
  b = (b + a) | 0;
  c = (c + a) | 0;
  d = (d + a) | 0;
  a = fmix32(a);
  b = fmix32(b);
  c = fmix32(c);
  d = fmix32(d);
  a = (a + b + c + d) | 0;
  out[0] = a;
  out[1] = (b + a) | 0;
  out[2] = (c + a) | 0;
  out[3] = (d + a) | 0;
}

function hashOf(s: string): Int32Array {
  const out = new Int32Array(4);
  hashReset();
  hashString(s);
  hashFinish(out);
  return out;
}

/** Character codes of the hex digits 0-9a-f. */
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** The four words as 32 hex digits, made as one flat string (not 16 concatenations). */
function hexOf(w: Int32Array): string {
  const a = w[0];
  const b = w[1];
  const c = w[2];
  const d = w[3];
  return String.fromCharCode(
    HEX[(a >>> 28) & 15],
    HEX[(a >>> 24) & 15],
    HEX[(a >>> 20) & 15],
    HEX[(a >>> 16) & 15],
    HEX[(a >>> 12) & 15],
    HEX[(a >>> 8) & 15],
    HEX[(a >>> 4) & 15],
    HEX[a & 15],
    HEX[(b >>> 28) & 15],
    HEX[(b >>> 24) & 15],
    HEX[(b >>> 20) & 15],
    HEX[(b >>> 16) & 15],
    HEX[(b >>> 12) & 15],
    HEX[(b >>> 8) & 15],
    HEX[(b >>> 4) & 15],
    HEX[b & 15],
    HEX[(c >>> 28) & 15],
    HEX[(c >>> 24) & 15],
    HEX[(c >>> 20) & 15],
    HEX[(c >>> 16) & 15],
    HEX[(c >>> 12) & 15],
    HEX[(c >>> 8) & 15],
    HEX[(c >>> 4) & 15],
    HEX[c & 15],
    HEX[(d >>> 28) & 15],
    HEX[(d >>> 24) & 15],
    HEX[(d >>> 20) & 15],
    HEX[(d >>> 16) & 15],
    HEX[(d >>> 12) & 15],
    HEX[(d >>> 8) & 15],
    HEX[(d >>> 4) & 15],
    HEX[d & 15],
  );
}

/**
 * Open addressing from a 32-bit hash of a record's id to the record (ids confirmed by equality).
 * Each slot is [hash, record index + 1] side by side, so a probe touches one cache line.
 */
class HashIndex<T extends { id: string }> {
  private slots = new Int32Array(2 * 64); // [hash, ref]; ref 0 = empty
  readonly records: T[] = [];

  find(h: number, id: string): T | undefined {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const r = slots[2 * p + 1];
      if (r === 0) return undefined;
      if (slots[2 * p] === (h | 0)) {
        const rec = this.records[r - 1];
        if (rec.id === id) return rec;
      }
    }
  }

  add(h: number, rec: T): void {
    this.records.push(rec);
    if (this.records.length * 4 > this.slots.length) {
      const old = this.slots;
      this.slots = new Int32Array(old.length * 2);
      for (let p = 0; p < old.length; p += 2) if (old[p + 1] !== 0) this.place(old[p], old[p + 1]);
    }
    this.place(h | 0, this.records.length);
  }

  private place(h: number, ref: number): void {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    let p = h & mask;
    while (slots[2 * p + 1] !== 0) p = (p + 1) & mask;
    slots[2 * p] = h;
    slots[2 * p + 1] = ref;
  }
}

/**
 * Set of 64-bit keys with the row that first had each: 12 bytes a slot, no strings. Each slot is
 * [k1, k2, row] side by side, so a probe touches one cache line (mostly).
 */
class KeyRows {
  private slots = new Int32Array(3 << 12);
  private size = 0;

  /** Returns the earlier row with this key, or 0 after remembering row. */
  check(a: number, b: number, row: number): number {
    const slots = this.slots;
    const mask = slots.length / 3 - 1;
    let q = 3 * (a & mask);
    for (;;) {
      const r = slots[q + 2];
      if (r === 0) break;
      if (slots[q] === a && slots[q + 1] === b) return r;
      q = q + 3 === slots.length ? 0 : q + 3;
    }
    slots[q] = a;
    slots[q + 1] = b;
    slots[q + 2] = row;
    if (++this.size * 6 > slots.length) this.grow();
    return 0;
  }

  private grow(): void {
    const old = this.slots;
    const slots = new Int32Array(old.length * 2);
    const mask = slots.length / 3 - 1;
    for (let o = 0; o < old.length; o += 3) {
      if (old[o + 2] === 0) continue;
      let q = 3 * (old[o] & mask);
      while (slots[q + 2] !== 0) q = q + 3 === slots.length ? 0 : q + 3;
      slots[q] = old[o];
      slots[q + 1] = old[o + 1];
      slots[q + 2] = old[o + 2];
    }
    this.slots = slots;
  }
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
  rawBranch: string | undefined;
  rawFirst: string | undefined;
  rawLast: string | undefined;
  rawDob: string | undefined;
  /** raw phone already checked (and warned about) for this employee, or null */
  rawPhone: string | null;
  phone: string;
  /** hashOf(phone) and hashOf of the canonical values, kept as numbers in the record itself */
  p0: number;
  p1: number;
  p2: number;
  p3: number;
  h0: number;
  h1: number;
  h2: number;
  h3: number;
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
  raw: (string | undefined)[];
  /** hashOf of the canonical values */
  h0: number;
  h1: number;
  h2: number;
  h3: number;
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

export class FileValidator {
  private readonly maxErrors: number;
  private readonly todayIso: string;
  private readonly errors: Issue[] = [];
  private readonly warnings: Issue[] = [];
  private errorCount = 0;
  private rowCount = 0;
  private totalCents = 0;
  private validRows = 0;
  private rowErrors = 0;
  private readonly employees = new HashIndex<EmployeeRecord>();
  private readonly sources = new HashIndex<SourceRecord>();
  private readonly payments = new KeyRows();
  /** 4 × 32-bit lanes of the running sum of row digests, carries deferred */
  private readonly digestSum = new Float64Array(4);
  private readonly rowHash = new Int32Array(4);
  private readonly words = new Int32Array(1);

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
    const s = trimmed(raw);
    if (s.length === 0) {
      this.error(row, field, 'REQUIRED', `${label} is empty`);
      return null;
    }
    return s;
  }

  /** Validates one row; returns it parsed, or null when it has errors (they are recorded). */
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
    const phone = this.checkPhone(row, v['Employee/PhoneNumber'], emp);
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
    const amountRaw = v['Amount'];
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

    // The payment's own values first: their intermediate state also keys duplicate detection.
    hashReset();
    hashString(plaidId);
    hashString(loan);
    const words = this.words;
    words[0] = amountCents;
    hashWords(words, 1);
    const earlier = this.payments.check(
      fmix32(H[0] ^ Math.imul(emp.index + 1, 0x9e3779b1)),
      fmix32(H[1] ^ Math.imul(src.index + 1, 0x85ebca77)),
      row,
    );
    if (earlier !== 0) {
      this.warn(
        row,
        'Amount',
        'DUPLICATE_ROW',
        `Same employee, loan account, payor and amount (${formatCents(amountCents)}) as row ${earlier}: this would pay it twice`,
      );
    }
    hash4(emp.h0, emp.h1, emp.h2, emp.h3);
    hash4(src.h0, src.h1, src.h2, src.h3);
    if (phone === emp.phone) {
      hash4(emp.p0, emp.p1, emp.p2, emp.p3);
    } else {
      const ph = hashOf(phone);
      hash4(ph[0], ph[1], ph[2], ph[3]);
    }
    const rh = this.rowHash;
    hashFinish(rh);
    this.addDigest(rh);
    this.totalCents += amountCents;

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
      digest: hexOf(rh),
    };
  }

  private addDigest(w: Int32Array): void {
    const lanes = this.digestSum;
    lanes[0] += w[0] >>> 0;
    lanes[1] += w[1] >>> 0;
    lanes[2] += w[2] >>> 0;
    lanes[3] += w[3] >>> 0;
    // Lanes stay exact below 2^53, i.e. for 2^21 additions; fold carries well before that.
    if (++this.validRows % 1_000_000 === 0) normalizeLanes(lanes);
  }

  // ----- employee -----

  private checkEmployee(row: number, v: RawRow['values']): EmployeeRecord | null {
    const errorsBefore = this.rowErrors;
    const id = this.required(row, EMP.id, v['Employee/DunkinId'], 'Employee id');
    let h = 0;
    let idOk = false;
    let known: EmployeeRecord | undefined;
    if (id !== null) {
      // Known ids were validated when first seen.
      h = idHash(id);
      known = this.employees.find(h, id);
      idOk = known !== undefined || isPrefixedUuid(id, 'EMP-');
      if (!idOk) {
        this.error(
          row,
          EMP.id,
          'INVALID_FORMAT',
          `Employee id ${quote(id)} is not "EMP-" followed by a UUID (like EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f)`,
        );
      }
    }
    const rawBranch = v['Employee/DunkinBranch'];
    const rawFirst = v['Employee/FirstName'];
    const rawLast = v['Employee/LastName'];
    const rawDob = v['Employee/DOB'];
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
            `Employee ${id} has ${label} ${quote(now)} here but ${quote(before)} on row ${known.firstRow}; one employee id must always have the same name, branch and date of birth`,
          );
          return null;
        }
      }
      return known;
    }
    const record: EmployeeRecord = {
      index: this.employees.records.length,
      firstRow: row,
      id,
      branchId: branch,
      firstName: first,
      lastName: last,
      dob,
      rawBranch: rawBranch,
      rawFirst: rawFirst,
      rawLast: rawLast,
      rawDob,
      rawPhone: null,
      phone: '',
      p0: 0,
      p1: 0,
      p2: 0,
      p3: 0,
      h0: 0,
      h1: 0,
      h2: 0,
      h3: 0,
    };
    const hash = hashOf(`${id}${SEP}${branch}${SEP}${first}${SEP}${last}${SEP}${dob}`);
    record.h0 = hash[0];
    record.h1 = hash[1];
    record.h2 = hash[2];
    record.h3 = hash[3];
    this.employees.add(h, record);
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
    if (s.length > MAX_TEXT_CHARS && codePointLength(s) > MAX_TEXT_CHARS) {
      this.error(row, field, 'TOO_LONG', `${label} is longer than ${MAX_TEXT_CHARS} characters`);
      return null;
    }
    if (!isPersonName(s)) {
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
    if (!isDateForm(s)) {
      this.error(
        row,
        EMP.dob,
        'INVALID_FORMAT',
        `Date of birth ${quote(s)} is not in MM-DD-YYYY form (like 03-26-1987)`,
      );
      return null;
    }
    const month = digitsValue(s, 0, 2);
    const day = digitsValue(s, 3, 5);
    const year = digitsValue(s, 6, 10);
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    if (month < 1 || month > 12 || day < 1 || day > MONTH_DAYS[month - 1] + (leap && month === 2 ? 1 : 0)) {
      this.error(row, EMP.dob, 'INVALID_DATE', `Date of birth ${s} does not exist (the form is MM-DD-YYYY)`);
      return null;
    }
    if (year < 1900) {
      this.error(row, EMP.dob, 'INVALID_DATE', `Date of birth ${s} is before 1900`);
      return null;
    }
    const iso = `${s.slice(6, 10)}-${s.slice(0, 2)}-${s.slice(3, 5)}`;
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
    const n = s.length - 1;
    if (s.charCodeAt(0) !== 0x2b || n < 8 || n > 15 || !digitsOnly(s, 1) || s.charCodeAt(1) === 0x30) {
      this.error(
        row,
        EMP.phone,
        'INVALID_FORMAT',
        `Phone number ${quote(s)} is not in international E.164 form: "+", the country code and 8 to 15 digits in all (like +14594036784)`,
      );
      return null;
    }
    let problem: string | null = null;
    if (n < 10) problem = 'it has fewer than 10 digits, which Method does not accept';
    else if (s.charCodeAt(1) === 0x31) {
      problem = n !== 11 ? 'a +1 number has exactly 10 digits after the +1' : nanpProblem(s.slice(2));
    }
    if (problem !== null) {
      this.warn(row, EMP.phone, 'PHONE_SUSPECT', `Phone number ${s} looks invalid: ${problem}`);
    }
    if (emp !== null && emp.rawPhone === null && raw !== undefined) {
      emp.rawPhone = raw;
      emp.phone = s;
      const ph = hashOf(s);
      emp.p0 = ph[0];
      emp.p1 = ph[1];
      emp.p2 = ph[2];
      emp.p3 = ph[3];
      return emp.phone;
    }
    return s;
  }

  // ----- payor (source) -----

  private checkSource(row: number, v: RawRow['values']): SourceRecord | null {
    const id = this.required(row, 'Payor/DunkinId', v['Payor/DunkinId'], 'Payor id');
    let h = 0;
    let idOk = false;
    let known: SourceRecord | undefined;
    if (id !== null) {
      h = idHash(id);
      known = this.sources.find(h, id);
      idOk = known !== undefined || isPrefixedUuid(id, 'CORP-');
      if (!idOk) {
        this.error(
          row,
          'Payor/DunkinId',
          'INVALID_FORMAT',
          `Payor id ${quote(id)} is not "CORP-" followed by a UUID (like CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8)`,
        );
      }
    }
    if (known !== undefined) {
      const r = known.raw;
      if (
        v['Payor/ABARouting'] === r[0] &&
        v['Payor/AccountNumber'] === r[1] &&
        v['Payor/Name'] === r[2] &&
        v['Payor/DBA'] === r[3] &&
        v['Payor/EIN'] === r[4] &&
        v['Payor/Address/Line1'] === r[5] &&
        v['Payor/Address/City'] === r[6] &&
        v['Payor/Address/State'] === r[7] &&
        v['Payor/Address/Zip'] === r[8]
      ) {
        return known;
      }
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
    if (ein !== null && !digitsOnly(ein, 0)) {
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
    if (state !== null && !USPS_STATE_CODES.has(state)) {
      this.error(
        row,
        'Payor/Address/State',
        'INVALID_FORMAT',
        `State ${quote(state)} is not a two-letter USPS state code in capitals (like IA)`,
      );
    }
    const zip = this.required(row, 'Payor/Address/Zip', v['Payor/Address/Zip'], 'ZIP code');
    if (zip !== null && !ZIP_RE.test(zip)) {
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
    const record: SourceRecord = {
      index: this.sources.records.length,
      firstRow: row,
      id,
      routing: values[0],
      accountNumber: values[1],
      payorName: values[2],
      dba: values[3],
      ein: values[4],
      addressLine1: values[5],
      city: values[6],
      state: values[7],
      zip: values[8],
      raw: SOURCE_FIELDS.map((f) => v[f]),
      h0: 0,
      h1: 0,
      h2: 0,
      h3: 0,
    };
    const hash = hashOf([id, ...values].join(SEP));
    record.h0 = hash[0];
    record.h1 = hash[1];
    record.h2 = hash[2];
    record.h3 = hash[3];
    this.sources.add(h, record);
    if (record.ein.length !== 9) {
      this.warn(
        row,
        'Payor/EIN',
        'EIN_NOT_9_DIGITS',
        `EIN ${record.ein} of payor ${id} has ${record.ein.length} digits; a US EIN has 9`,
      );
    }
    const zipStates = statesForZip(record.zip);
    if (!zipStates.includes(record.state)) {
      this.warn(
        row,
        'Payor/Address/Zip',
        'ZIP_STATE_MISMATCH',
        zipStates.length === 0
          ? `ZIP code ${record.zip} of payor ${id} is not in use in any state (the address says ${record.state}); Method may refuse the address`
          : `ZIP code ${record.zip} of payor ${id} is in ${zipStates.join('/')}, but the address says ${record.state}; Method may refuse the address`,
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
    if (s.length > MAX_TEXT_CHARS && codePointLength(s) > MAX_TEXT_CHARS) {
      this.error(row, field, 'TOO_LONG', `${label} is longer than ${MAX_TEXT_CHARS} characters`);
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
    if (
      s.length > 24 ||
      s.charCodeAt(0) !== 0x69 ||
      s.charCodeAt(1) !== 0x6e ||
      s.charCodeAt(2) !== 0x73 ||
      s.charCodeAt(3) !== 0x5f ||
      !digitsOnly(s, 4)
    ) {
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

  /** A number of min..max digits kept as text. Account numbers are masked in messages. */
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
    if (s.length < min || s.length > max || !digitsOnly(s, 0)) {
      const secret = field === 'Payor/AccountNumber' || field === 'Payee/LoanAccountNumber';
      const shown = secret ? maskSecret(s) : quote(s);
      const rule = min === max ? `exactly ${min} digits` : `${min} to ${max} digits`;
      this.error(row, field, 'INVALID_FORMAT', `${label} ${shown} must be ${rule} (digits only)`);
      return null;
    }
    return s;
  }

  /** The warnings so far, in row order (a row's own come out of its `add`). */
  get warningsSoFar(): readonly Issue[] {
    return this.warnings;
  }

  /** The result so far; call once the reader is done. */
  finish(): ValidationResult {
    const lanes = this.digestSum;
    normalizeLanes(lanes);
    let fileDigest = '';
    for (let lane = 0; lane < 4; lane++) fileDigest += lanes[lane].toString(16).padStart(8, '0');
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

/** String.prototype.trim, skipping the call in the usual case of printable ASCII at both ends. */
function trimmed(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  const a = s.charCodeAt(0);
  const b = s.charCodeAt(n - 1);
  return a > 0x20 && a < 0x7f && b > 0x20 && b < 0x7f ? s : s.trim();
}

/** Propagates carries from the least significant lane (3) up; the top carry falls off (mod 2^128). */
function normalizeLanes(lanes: Float64Array): void {
  let carry = 0;
  for (let lane = lanes.length - 1; lane >= 0; lane--) {
    const x = lanes[lane] + carry;
    carry = Math.floor(x / 4294967296);
    lanes[lane] = x - carry * 4294967296;
  }
}
