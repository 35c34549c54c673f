// Streaming, byte-level XML reader for the employer payment file: it owns XML well-formedness,
// the refusal of hostile input (DTDs, entities, bad encodings, size limits) and the mapping of each
// <root>/<row> element to a RawRow. Memory is bounded by the limits, never by the file size.
//
// Policy decisions (mirrored by the saxes-based reference reader in test/ingest):
// - Attributes are refused ("attributes are not allowed"): the format has none, and refusing them
//   keeps xmlns tricks and attribute-value entity expansion out entirely.
// - Text is "character data + CDATA content, after decoding references". In <root>, <row> and the
//   known containers (Employee, Payor, Payee, Address) only whitespace text is allowed; an element
//   that has child elements may only have whitespace text beside them (no mixed content).
// - A text value is limited in decoded UTF-8 bytes; whitespace between child elements is not a value
//   and is unlimited.
// - Hardening limits: nesting depth, text value and name sizes (ReaderLimits), and 256 bytes for
//   the XML declaration (a real one is under 60).
// - line and column are 1-based; column counts Unicode characters (code points), not bytes, so it
//   matches what a text editor shows. Errors about a tag point at its '<'.
//
// Speed: the general path is a byte-at-a-time state machine; fastScan() takes plainly written
// tags and ASCII values at full speed; and matchRow() reads a whole row in the layout learned
// from an earlier row (learn(), checkLayout()), comparing its markup 8 bytes at a time and reading
// plain ASCII values 4 bytes at a time, with the payor block of a row taken from a memo of the
// earlier ones (BlockMemo) and value strings from per-field caches (TextCache). Whatever these
// fast paths do not take goes back to the general path at a token boundary, in exactly the state
// it would have reached, so rows, errors and positions are the same whichever path read them
// (test/ingest/xml-fast-path.test.ts and xml-differential.test.ts check it against saxes).

export const FIELD_PATHS = [
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

export type FieldPath = (typeof FIELD_PATHS)[number];

export interface RawRow {
  /** 1-based position of the <row> in the file */
  rowNumber: number;
  /** decoded, untrimmed text of each leaf present; "" for an empty element */
  values: Partial<Record<FieldPath, string>>;
  /** paths (relative to <row>) of elements that are not in the schema */
  unknownPaths: string[];
  /** leaf paths that occur more than once in the row (the first value is kept) */
  repeatedPaths: string[];
  /** line of the <row> start tag */
  line: number;
}

export interface ReaderLimits {
  /** deepest allowed element nesting, <root> being 1 (default 16) */
  maxDepth?: number;
  /** longest text value in decoded UTF-8 bytes (default 10,000) */
  maxTextBytes?: number;
  /** longest element or processing-instruction name in bytes (default 100) */
  maxNameBytes?: number;
}

export class XmlError extends Error {
  readonly code = 'XML_MALFORMED' as const;
  readonly line: number;
  readonly column: number;

  constructor(message: string, line: number, column: number) {
    super(`${message} (line ${line}, column ${column})`);
    this.name = 'XmlError';
    this.line = line;
    this.column = column;
  }
}

export type RowHandler = (row: RawRow) => unknown;

/**
 * Reads every <row> of the file and hands it to onRow, in file order. When onRow returns a promise,
 * reading pauses until it settles. Throws XmlError for anything that is not acceptable XML.
 */
export async function readRows(
  source: AsyncIterable<Buffer | Uint8Array>,
  onRow: RowHandler,
  limits: ReaderLimits = {},
): Promise<{ rowCount: number }> {
  const reader = new Reader(onRow, limits);
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError('readRows expects binary chunks (Buffer or Uint8Array), not strings');
    }
    if (chunk.length === 0) continue;
    const buf = reader.prepare(chunk);
    if (buf !== null) await drive(reader, buf);
  }
  const tail = reader.takeFinal();
  if (tail !== null) await drive(reader, tail);
  reader.finish();
  return { rowCount: reader.rowCount };
}

async function drive(reader: Reader, buf: Buffer): Promise<void> {
  const end = reader.end;
  let pos = reader.skip;
  reader.skip = 0;
  for (;;) {
    pos = reader.run(buf, pos, end);
    const pending = reader.pending;
    if (pending === null) break;
    reader.pending = null;
    await pending;
  }
  reader.endBuffer(buf, end);
}

// ---------------------------------------------------------------------------------------------
// Schema

const K_ROOT = 1;
const K_ROW = 2;
const K_CONTAINER = 3;
const K_LEAF = 4;

interface SchemaNode {
  name: string;
  bytes: Buffer;
  kind: number;
  /** index into FIELD_PATHS for leaves, -1 otherwise */
  field: number;
  /** 1 << field for leaves */
  bit: number;
  /** dense id, for per-reader tables */
  id: number;
  /** path relative to <row> ("" for root and row) */
  path: string;
  children: SchemaNode[];
}

let nodeCount = 0;

function makeNode(name: string, kind: number, path: string): SchemaNode {
  return {
    name,
    bytes: Buffer.from(name, 'latin1'),
    kind,
    field: -1,
    bit: 0,
    id: nodeCount++,
    path,
    children: [],
  };
}

const ROOT_NODE = makeNode('root', K_ROOT, '');
const ROW_NODE = makeNode('row', K_ROW, '');
ROOT_NODE.children.push(ROW_NODE);
for (let f = 0; f < FIELD_PATHS.length; f++) {
  const parts = FIELD_PATHS[f].split('/');
  let node = ROW_NODE;
  for (let p = 0; p < parts.length; p++) {
    const leaf = p === parts.length - 1;
    let child = node.children.find((c) => c.name === parts[p]);
    if (child === undefined) {
      child = makeNode(parts[p], leaf ? K_LEAF : K_CONTAINER, parts.slice(0, p + 1).join('/'));
      node.children.push(child);
    }
    if (leaf) {
      child.field = f;
      child.bit = 1 << f;
    }
    node = child;
  }
}

const FIELD_COUNT = FIELD_PATHS.length;
/** Shared by every row without unknown or repeated paths (frozen: rows are not to be edited). */
const NONE: string[] = Object.freeze([]) as unknown as string[];

// ---------------------------------------------------------------------------------------------
// Byte classes

const C_PLAIN = 0; // printable ASCII with no meaning in text
const C_SPACE = 1; // space, tab
const C_LF = 2;
const C_CR = 3;
const C_LT = 4;
const C_AMP = 5;
const C_GT = 6;
const C_HIGH = 7; // first byte of a multi-byte UTF-8 sequence (or an invalid byte)
const C_BAD = 8; // a control character XML does not allow

const CLS = new Uint8Array(256);
const NAME_START = new Uint8Array(128);
const NAME_CHAR = new Uint8Array(256); // 1 for ASCII name chars; bytes >= 0x80 are checked by decoding
for (let c = 0; c < 256; c++) {
  if (c >= 0x80) CLS[c] = C_HIGH;
  else if (c < 0x20) CLS[c] = c === 0x09 ? C_SPACE : c === 0x0a ? C_LF : c === 0x0d ? C_CR : C_BAD;
  else if (c === 0x20) CLS[c] = C_SPACE;
  else if (c === 0x3c) CLS[c] = C_LT;
  else if (c === 0x26) CLS[c] = C_AMP;
  else if (c === 0x3e) CLS[c] = C_GT;
  else CLS[c] = C_PLAIN;
  if (c < 128) {
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const start = letter || c === 0x5f || c === 0x3a;
    NAME_START[c] = start ? 1 : 0;
    NAME_CHAR[c] = start || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e ? 1 : 0;
  }
}

/**
 * 1 for the bytes a value may hold on the row fast path (matchRow): printable ASCII and tab, less
 * '<', '&' and '>'. Anything else (references, line breaks, UTF-8, "]]>", control characters)
 * sends the row to the general path.
 */
const VAL_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) VAL_PLAIN[c] = c === 0x26 || c === 0x3c || c === 0x3e ? 0 : 1;
VAL_PLAIN[0x09] = 1;

function isNameStartCp(cp: number): boolean {
  if (cp < 0x80) return NAME_START[cp] === 1;
  return (
    (cp >= 0xc0 && cp <= 0xd6) ||
    (cp >= 0xd8 && cp <= 0xf6) ||
    (cp >= 0xf8 && cp <= 0x2ff) ||
    (cp >= 0x370 && cp <= 0x37d) ||
    (cp >= 0x37f && cp <= 0x1fff) ||
    (cp >= 0x200c && cp <= 0x200d) ||
    (cp >= 0x2070 && cp <= 0x218f) ||
    (cp >= 0x2c00 && cp <= 0x2fef) ||
    (cp >= 0x3001 && cp <= 0xd7ff) ||
    (cp >= 0xf900 && cp <= 0xfdcf) ||
    (cp >= 0xfdf0 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0xeffff)
  );
}

function isNameCp(cp: number): boolean {
  if (cp < 0x80) return NAME_CHAR[cp] === 1;
  return isNameStartCp(cp) || cp === 0xb7 || (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x203f && cp <= 0x2040);
}

function isWsByte(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

function describeCp(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

const S_TEXT = 0;
const S_LT = 1;
const S_STAG_NAME = 2;
const S_STAG_REST = 3;
const S_STAG_SLASH = 4;
const S_ETAG_NAME = 5;
const S_ETAG_REST = 6;
const S_BANG = 7;
const S_COMMENT = 8;
const S_CDATA = 9;
const S_PI_TARGET = 10;
const S_PI_BODY = 11;
const S_PI_END = 12;
const S_ENTITY = 13;

// Text modes: WS = only whitespace may appear (containers, after a child, outside root);
// COLLECT = the element may be a leaf, so its text is kept (known leaf) or measured (unknown).
const TM_WS = 0;
const TM_COLLECT = 1;

/** Buffer's own latin1 decoder, without toString's argument handling (a hot call per row). */
const latin1Slice = (
  Buffer.prototype as unknown as { latin1Slice: (this: Buffer, s: number, e: number) => string }
).latin1Slice;

/** V8 makes substrings of this many characters or more views into their parent string. */
const FLAT_MIN = 13;

/** The latin1 string of buf[s..s + n), n < FLAT_MIN, made in JavaScript. */
function shortText(buf: Buffer, s: number, n: number): string {
  switch (n) {
    case 0:
      return '';
    case 1:
      return String.fromCharCode(buf[s]);
    case 2:
      return String.fromCharCode(buf[s], buf[s + 1]);
    case 3:
      return String.fromCharCode(buf[s], buf[s + 1], buf[s + 2]);
    case 4:
      return String.fromCharCode(buf[s], buf[s + 1], buf[s + 2], buf[s + 3]);
    case 5:
      return String.fromCharCode(buf[s], buf[s + 1], buf[s + 2], buf[s + 3], buf[s + 4]);
    case 6:
      return String.fromCharCode(buf[s], buf[s + 1], buf[s + 2], buf[s + 3], buf[s + 4], buf[s + 5]);
    case 7:
      return String.fromCharCode(
        buf[s],
        buf[s + 1],
        buf[s + 2],
        buf[s + 3],
        buf[s + 4],
        buf[s + 5],
        buf[s + 6],
      );
    case 8:
      return String.fromCharCode(
        buf[s],
        buf[s + 1],
        buf[s + 2],
        buf[s + 3],
        buf[s + 4],
        buf[s + 5],
        buf[s + 6],
        buf[s + 7],
      );
    case 9:
      return String.fromCharCode(
        buf[s],
        buf[s + 1],
        buf[s + 2],
        buf[s + 3],
        buf[s + 4],
        buf[s + 5],
        buf[s + 6],
        buf[s + 7],
        buf[s + 8],
      );
    case 10:
      return String.fromCharCode(
        buf[s],
        buf[s + 1],
        buf[s + 2],
        buf[s + 3],
        buf[s + 4],
        buf[s + 5],
        buf[s + 6],
        buf[s + 7],
        buf[s + 8],
        buf[s + 9],
      );
    case 11:
      return String.fromCharCode(
        buf[s],
        buf[s + 1],
        buf[s + 2],
        buf[s + 3],
        buf[s + 4],
        buf[s + 5],
        buf[s + 6],
        buf[s + 7],
        buf[s + 8],
        buf[s + 9],
        buf[s + 10],
      );
    default:
      return String.fromCharCode(
        buf[s],
        buf[s + 1],
        buf[s + 2],
        buf[s + 3],
        buf[s + 4],
        buf[s + 5],
        buf[s + 6],
        buf[s + 7],
        buf[s + 8],
        buf[s + 9],
        buf[s + 10],
        buf[s + 11],
      );
  }
}
const CACHE_MAX_BYTES = 48;
const CACHE_START_BITS = 6;
const CACHE_MAX_BITS = 14;
/** lookups before a TextCache judges whether its field repeats enough to be worth it */
const CACHE_TRIAL = 1024;

/**
 * The strings made for one field's values (read in place, so ASCII), by their bytes: branch ids,
 * Plaid ids and the like repeat from row to row, and are made once each while they stay here. A
 * repeated value is then the very same string as before, which the validator compares in no time,
 * and nothing is allocated for it. Direct-mapped and bounded: it starts small and grows up to
 * 2^CACHE_MAX_BITS entries of at most CACHE_MAX_BYTES bytes as it fills. A field that misses more
 * often than not in its first CACHE_TRIAL lookups stops using it (loan numbers, and employee fields
 * early in a file, where most employees are new): a miss costs more than making the string.
 * Strings made here are flat and own their characters.
 */
class TextCache {
  private bits = CACHE_START_BITS;
  private inserts = 0;
  private gets = 0;
  private hits = 0;
  private off = false;
  private keys = new Int32Array(1 << CACHE_START_BITS);
  private strs: string[] = new Array<string>(1 << CACHE_START_BITS).fill('');
  private bytes = new Uint8Array(CACHE_MAX_BYTES << CACHE_START_BITS);
  private view = new DataView(this.bytes.buffer);

  /** The string of buf[s..e) (dv views buf). */
  get(buf: Buffer, dv: DataView, s: number, e: number): string {
    const len = e - s;
    if (this.off || len > CACHE_MAX_BYTES) return makeText(buf, s, len);
    if (++this.gets === CACHE_TRIAL && this.hits * 2 < this.gets) this.off = true;
    const key = len + 1; // 0 marks an empty entry
    let h = Math.imul(key, 0x9e3779b1);
    if (len >= 4) {
      h = Math.imul(h ^ dv.getInt32(s, true), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 15) ^ dv.getInt32(e - 4, true), 0xc2b2ae35);
      if (len >= 8) h = Math.imul(h ^ (h >>> 13) ^ dv.getInt32(e - 8, true), 0x9e3779b1);
    } else {
      for (let o = 0; o < len; o++) h = Math.imul(h ^ buf[s + o], 0x85ebca6b);
    }
    h ^= h >>> 16;
    let slot = h >>> (32 - this.bits);
    const at = slot * CACHE_MAX_BYTES;
    if (this.keys[slot] === key) {
      const bytes = this.bytes;
      let same = true;
      if (len >= 4) {
        const view = this.view;
        same = dv.getInt32(e - 4, true) === view.getInt32(at + len - 4, true);
        for (let o = 0; same && o < len - 4; o += 4)
          same = dv.getInt32(s + o, true) === view.getInt32(at + o, true);
      } else {
        for (let o = 0; same && o < len; o++) same = buf[s + o] === bytes[at + o];
      }
      if (same) {
        this.hits++;
        return this.strs[slot];
      }
    }
    const str = makeText(buf, s, len);
    if (++this.inserts > 1 << this.bits && this.bits < CACHE_MAX_BITS) {
      // Full enough: start again four times larger.
      this.bits = Math.min(this.bits + 2, CACHE_MAX_BITS);
      this.inserts = 1;
      this.keys = new Int32Array(1 << this.bits);
      this.strs = new Array<string>(1 << this.bits).fill('');
      this.bytes = new Uint8Array(CACHE_MAX_BYTES << this.bits);
      this.view = new DataView(this.bytes.buffer);
      slot = h >>> (32 - this.bits);
    }
    this.keys[slot] = key;
    this.strs[slot] = str;
    const bytes = this.bytes;
    const to = slot * CACHE_MAX_BYTES;
    for (let o = 0; o < len; o++) bytes[to + o] = buf[s + o];
    return str;
  }
}

/** A flat string of the latin1 bytes buf[s..s + n). */
function makeText(buf: Buffer, s: number, n: number): string {
  return n < FLAT_MIN ? shortText(buf, s, n) : latin1Slice.call(buf, s, s + n);
}

/** Longest run of a group's values (with the markup between them) that BlockMemo keeps. */
const MEMO_MAX_BYTES = 512;
const MEMO_MIN_BYTES = 16;
const MEMO_START_BITS = 4;
const MEMO_MAX_BITS = 10;
/** lookups before BlockMemo.useful() judges */
const MEMO_TRIAL = 512;

/**
 * The bytes of a group of consecutive values (the fields of <Payor>, see MEMO_GROUPS) as they were
 * read in earlier rows, from the start of the group's first value to the end of its last one (so
 * with the markup between them), with the value strings made for them. A row whose bytes there
 * are the same has the same values: matchRow then takes the strings from here and skips reading
 * those bytes a second time. Direct-mapped on a hash of the first bytes, bounded: it starts small
 * and grows up to 2^MEMO_MAX_BITS entries of at most MEMO_MAX_BYTES bytes as it fills.
 */
class BlockMemo {
  /** values in the group */
  readonly n: number;
  private bits = MEMO_START_BITS;
  private inserts = 0;
  /** lookups and hits so far: a group that rarely repeats is not worth remembering, see useful() */
  private finds = 0;
  private hits = 0;
  /** per entry: length of its bytes (0: empty), the lines they add, the offsets of their last CR
   * or LF and of their last CR (-1: none) */
  lens = new Int32Array(1 << MEMO_START_BITS);
  nls = new Int32Array(1 << MEMO_START_BITS);
  lastNls = new Int32Array(1 << MEMO_START_BITS);
  lastCrs = new Int32Array(1 << MEMO_START_BITS);
  /** entry e's strings are strs[e * n .. e * n + n) */
  strs: string[];
  private bytes = new Uint8Array(MEMO_MAX_BYTES << MEMO_START_BITS);
  private view = new DataView(this.bytes.buffer);

  constructor(n: number) {
    this.n = n;
    this.strs = new Array<string>(n << MEMO_START_BITS).fill('');
  }

  private slotOf(dv: DataView, p: number): number {
    let h = Math.imul(dv.getInt32(p + 4, true), 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dv.getInt32(p + 8, true), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ dv.getInt32(p + 12, true), 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> (32 - this.bits);
  }

  /**
   * The entry whose bytes are at dv[p..), all before end, or -1. Compared 8 bytes at a time as
   * float64s: an entry's bytes are printable ASCII, tab and line breaks, so none of its words is
   * a NaN or a zero, and equal float64s then have equal bits.
   */
  find(dv: DataView, p: number, end: number): number {
    this.finds++;
    if (p + MEMO_MIN_BYTES > end) return -1;
    const e = this.slotOf(dv, p);
    const len = this.lens[e];
    if (len === 0 || p + len > end) return -1;
    const view = this.view;
    const at = e * MEMO_MAX_BYTES;
    for (let o = 0; o + 8 < len; o += 8) {
      if (dv.getFloat64(p + o, true) !== view.getFloat64(at + o, true)) return -1;
    }
    if (dv.getFloat64(p + len - 8, true) !== view.getFloat64(at + len - 8, true)) return -1;
    this.hits++;
    return e;
  }

  /** False once enough lookups show that most of them miss (each miss costs an insert). */
  useful(): boolean {
    return this.finds < MEMO_TRIAL || this.hits * 4 >= this.finds * 3;
  }

  /** Remembers buf[s..e) (dv views buf) with the group's strings vStr[fields[k0 + j]]. */
  insert(
    buf: Buffer,
    dv: DataView,
    s: number,
    e: number,
    fields: Uint8Array,
    k0: number,
    vStr: string[],
  ): void {
    const len = e - s;
    if (len < MEMO_MIN_BYTES || len > MEMO_MAX_BYTES) return;
    if (++this.inserts > 1 << this.bits && this.bits < MEMO_MAX_BITS) {
      // Full enough: start again four times larger.
      this.bits = Math.min(this.bits + 2, MEMO_MAX_BITS);
      this.inserts = 1;
      const size = 1 << this.bits;
      this.lens = new Int32Array(size);
      this.nls = new Int32Array(size);
      this.lastNls = new Int32Array(size);
      this.lastCrs = new Int32Array(size);
      this.strs = new Array<string>(this.n * size).fill('');
      this.bytes = new Uint8Array(MEMO_MAX_BYTES * size);
      this.view = new DataView(this.bytes.buffer);
    }
    const slot = this.slotOf(dv, s);
    const bytes = this.bytes;
    const at = slot * MEMO_MAX_BYTES;
    let nl = 0;
    let lastNl = -1;
    let lastCr = -1;
    for (let o = 0; o < len; o++) {
      const c = buf[s + o];
      bytes[at + o] = c;
      if (c === 0x0d) {
        nl++;
        lastNl = o;
        lastCr = o;
      } else if (c === 0x0a) {
        if (o === 0 || buf[s + o - 1] !== 0x0d) nl++;
        lastNl = o;
      }
    }
    this.lens[slot] = len;
    this.nls[slot] = nl;
    this.lastNls[slot] = lastNl;
    this.lastCrs[slot] = lastCr;
    for (let j = 0; j < this.n; j++) this.strs[slot * this.n + j] = vStr[fields[k0 + j]];
  }
}

const CDATA_OPEN = Buffer.from('[CDATA[', 'latin1');
const MAX_DECL_BYTES = 256;
const XML_DECL_RE =
  /^[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])([^"']*)\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"']*)\3)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])([^"']*)\5)?[ \t\r\n]*$/;

// ---------------------------------------------------------------------------------------------

class Reader {
  readonly onRow: RowHandler;
  readonly maxDepth: number;
  readonly maxText: number;
  readonly maxName: number;

  pending: PromiseLike<unknown> | null = null;
  /** bytes of the prepared buffer to process (the rest is an incomplete UTF-8 tail) */
  end = 0;
  /** bytes to skip at the start of the prepared buffer (a UTF-8 BOM) */
  skip = 0;
  rowCount = 0;

  // Input position. base = absolute offset of buf[0]; cont counts UTF-8 continuation bytes
  // consumed so far so that columns can be given in characters.
  private base = 0;
  private carry: Buffer | null = null;
  private startChecked = false;
  private sawNonBom = false;
  private bomLen = 0;
  private tail0 = -1;
  private tail1 = -1;
  private line = 1;
  private lineStart = 0;
  private cont = 0;
  private contAtLineStart = 0;
  private lastCR = -2;
  private tokLine = 1;
  private tokCol = 1;
  private tokAbs = 0;

  private state = S_TEXT;

  // Element stack, index = depth (root is 1).
  private depth = 0;
  private rootSeen = false;
  private rootClosed = false;
  private readonly nodes: (SchemaNode | null)[];
  private readonly names: Uint8Array[];
  private readonly hasChild: Uint8Array;
  private readonly openLine: Int32Array;
  private readonly openCol: Int32Array;

  // Text of the innermost element.
  private textMode = TM_WS;
  private fast = false;
  private textStart = 0;
  private segEnd = -1;
  private readonly scratch: Buffer;
  private sLen = 0;
  private textOverflow = false;
  private brackets = 0;
  private dashes = 0;
  private piQ = false;

  // Names being read.
  private readonly nameBuf: Buffer;
  private nameLen = 0;
  private nameStart = -1;
  private piIsDecl = false;
  private readonly declBuf: Buffer;
  private declLen = 0;
  private bangLen = 0;
  private bangFirst = 0;

  // Entity reference being read.
  private entLine = 0;
  private entCol = 0;
  private entKind = 0; // 0 = unknown yet, 1 = named, 2 = decimal, 3 = hex (after 'x')
  private entLen = 0;
  private entValue = 0;
  private entName = '';

  // Current row.
  private rowLine = 0;
  private field = -1;
  private fieldSkip = false;
  private seenMask = 0;
  private readonly vKind = new Uint8Array(FIELD_COUNT); // 0 none, 1 offsets into buf, 2 string
  private readonly vStart = new Int32Array(FIELD_COUNT);
  private readonly vEnd = new Int32Array(FIELD_COUNT);
  private readonly vStr: string[] = new Array<string>(FIELD_COUNT).fill('');
  private repeated: string[] | null = null;
  private unknown: string[] | null = null;
  private readonly decodeLen = { n: 0 };
  private readonly hints = new Uint8Array(nodeCount);
  /** absolute offset of the current row's '<', and of the byte after its end tag's '>' (or -1) */
  private rowTokAbs = -1;
  private rowEndAbs = -1;

  // The learned row layout for matchRow: FIELD_COUNT + 1 segments of markup and whitespace with
  // a value between each two. Segment k is skSegStart[k + 1] - skSegStart[k] bytes long and is
  // compared 8 bytes at a time as float64s (skWords[skWordStart[k]..skWordStart[k + 1]), the last
  // one overlapping). Equal float64s have equal bits except for NaN (never equal) and ±0; a segment
  // is printable ASCII and whitespace, so none of its 8-byte words is a NaN, an infinity or a zero.
  private skOk = false;
  private skRetryAt = 1;
  private skFails = 0;
  private skWords = new Float64Array(0);
  private readonly skSegStart = new Int32Array(FIELD_COUNT + 2);
  private readonly skWordStart = new Int32Array(FIELD_COUNT + 2);
  /** field index of the value after segment k */
  private readonly skField = new Uint8Array(FIELD_COUNT);
  /** per segment: lines it adds, offset of its last CR or LF, offset of its last CR (-1: none) */
  private readonly skNl = new Int32Array(FIELD_COUNT + 1);
  private readonly skLastNl = new Int32Array(FIELD_COUNT + 1);
  private readonly skLastCr = new Int32Array(FIELD_COUNT + 1);
  /** 32-bit view of the buffer being run */
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private dvBuf: Buffer | null = null;
  /** per slot: the memo of the group of values starting there (see BlockMemo), or null */
  private memos: (BlockMemo | null)[] = new Array<BlockMemo | null>(FIELD_COUNT).fill(null);
  /** per group start slot: the memo entry matchRow found (-1: none); bit k: insert the group at k */
  private readonly memoHit = new Int32Array(FIELD_COUNT);
  private memoMiss = 0;
  private readonly textCaches: TextCache[] = Array.from({ length: FIELD_COUNT }, () => new TextCache());
  /** results of a successful matchRow: line after the row and where that line starts (or -1) */
  private mLine = 0;
  private mLineStart = -1;

  constructor(onRow: RowHandler, limits: ReaderLimits) {
    this.onRow = onRow;
    this.maxDepth = limits.maxDepth ?? 16;
    this.maxText = limits.maxTextBytes ?? 10_000;
    this.maxName = limits.maxNameBytes ?? 100;
    const slots = this.maxDepth + 2;
    this.nodes = new Array<SchemaNode | null>(slots).fill(null);
    this.names = new Array<Uint8Array>(slots).fill(ROOT_NODE.bytes);
    this.hasChild = new Uint8Array(slots);
    this.openLine = new Int32Array(slots);
    this.openCol = new Int32Array(slots);
    this.scratch = Buffer.allocUnsafe(this.maxText + 8);
    this.nameBuf = Buffer.allocUnsafe(this.maxName + 8);
    this.declBuf = Buffer.allocUnsafe(MAX_DECL_BYTES + 8);
  }

  // ----- positions and errors -----

  private colAt(abs: number): number {
    return abs - this.lineStart - (this.cont - this.contAtLineStart) + 1;
  }

  private fail(message: string, line: number, column: number): never {
    throw new XmlError(message, line, column);
  }

  private failAt(message: string, i: number): never {
    throw new XmlError(message, this.line, this.colAt(this.base + i));
  }

  private failTok(message: string): never {
    throw new XmlError(message, this.tokLine, this.tokCol);
  }

  private markTok(i: number): void {
    const abs = this.base + i;
    this.tokAbs = abs;
    this.tokLine = this.line;
    this.tokCol = this.colAt(abs);
  }

  private newline(abs: number, isCR: boolean): void {
    if (isCR) {
      this.line++;
      this.lastCR = abs;
    } else if (this.lastCR !== abs - 1) {
      this.line++;
    }
    this.lineStart = abs + 1;
    this.contAtLineStart = this.cont;
  }

  /**
   * Decodes the UTF-8 sequence starting at buf[i] (whose lead byte is >= 0x80), strictly: no
   * overlongs, no surrogates, nothing above U+10FFFF, and only characters XML allows. Sets
   * decodeLen.n and counts the continuation bytes for columns.
   *
   * It looks as far as the end of buf, past the bytes prepare() held back: a valid sequence never
   * reaches them (they start at a lead byte), and seeing them makes an error the same whatever
   * the chunking.
   */
  private decode(buf: Buffer, i: number): number {
    const end = buf.length;
    const c0 = buf[i];
    let cp = -1;
    let n = 0;
    if (c0 >= 0xc2 && c0 <= 0xdf) {
      n = 2;
      if (i + 1 < end) {
        const c1 = buf[i + 1];
        if ((c1 & 0xc0) === 0x80) cp = ((c0 & 0x1f) << 6) | (c1 & 0x3f);
      }
    } else if (c0 >= 0xe0 && c0 <= 0xef) {
      n = 3;
      if (i + 2 < end) {
        const c1 = buf[i + 1];
        const c2 = buf[i + 2];
        if ((c1 & 0xc0) === 0x80 && (c2 & 0xc0) === 0x80) {
          const v = ((c0 & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
          if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) cp = v;
        }
      }
    } else if (c0 >= 0xf0 && c0 <= 0xf4) {
      n = 4;
      if (i + 3 < end) {
        const c1 = buf[i + 1];
        const c2 = buf[i + 2];
        const c3 = buf[i + 3];
        if ((c1 & 0xc0) === 0x80 && (c2 & 0xc0) === 0x80 && (c3 & 0xc0) === 0x80) {
          const v = ((c0 & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
          if (v >= 0x10000 && v <= 0x10ffff) cp = v;
        }
      }
    }
    if (cp < 0) {
      // The lead byte and what follows it up to the first byte that cannot continue it: the same
      // bytes whatever the chunking.
      let shownEnd = i + 1;
      while (shownEnd < end && shownEnd < i + n) {
        const c = buf[shownEnd++];
        if ((c & 0xc0) !== 0x80) break;
      }
      const shown = Array.from(buf.subarray(i, shownEnd))
        .map((x) => x.toString(16).toUpperCase().padStart(2, '0'))
        .join(' ');
      this.failAt(`invalid UTF-8 byte sequence (${shown}); the file must be UTF-8 encoded`, i);
    }
    if (cp === 0xfffe || cp === 0xffff) {
      this.failAt(`character ${describeCp(cp)} is not allowed in XML`, i);
    }
    this.decodeLen.n = n;
    return cp;
  }

  private badControl(buf: Buffer, i: number): never {
    this.failAt(`control character ${describeCp(buf[i])} is not allowed in XML`, i);
  }

  // ----- chunk management -----

  /** Returns the buffer to run over (or null when more bytes are needed first) and sets end. */
  prepare(chunk: Uint8Array): Buffer | null {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, buf]);
      this.carry = null;
    }
    if (!this.startChecked) {
      if (buf.length < 4) {
        this.carry = Buffer.from(buf);
        return null;
      }
      this.checkStart(buf);
    }
    // Hold back an incomplete UTF-8 sequence at the end so that every state can decode a
    // multi-byte character from one buffer.
    let end = buf.length;
    for (let j = buf.length - 1; j >= 0 && j >= buf.length - 3; j--) {
      const c = buf[j];
      if ((c & 0xc0) === 0x80) continue;
      if (c >= 0xc0) {
        const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (buf.length - j < need) end = j;
      }
      break;
    }
    if (end < buf.length) this.carry = Buffer.from(buf.subarray(end));
    this.end = end;
    return buf;
  }

  private checkStart(buf: Buffer): void {
    this.startChecked = true;
    const b0 = buf[0];
    const b1 = buf.length > 1 ? buf[1] : -1;
    if (b0 === 0xef && b1 === 0xbb && buf.length > 2 && buf[2] === 0xbf) {
      this.skip = 3;
      this.bomLen = 3;
      this.cont = 3; // the BOM takes no column
      this.contAtLineStart = 0;
      return;
    }
    if ((b0 === 0xfe && b1 === 0xff) || (b0 === 0xff && b1 === 0xfe)) {
      this.fail('the file is UTF-16 encoded (byte order mark found); it must be UTF-8', 1, 1);
    }
    if (b0 === 0x00 && b1 === 0x00) {
      this.fail('the file looks UTF-32 encoded; it must be UTF-8', 1, 1);
    }
    if ((b0 === 0x3c && b1 === 0x00) || (b0 === 0x00 && b1 === 0x3c)) {
      this.fail('the file looks UTF-16 encoded; it must be UTF-8', 1, 1);
    }
  }

  /** Moves everything that still points into buf into owned memory before buf goes away. */
  endBuffer(buf: Buffer, end: number): void {
    if (this.textMode === TM_COLLECT && this.fast) {
      const e = this.state === S_TEXT ? end : this.segEnd;
      this.fastToScratch(buf, e);
    }
    if (this.nameStart >= 0) {
      this.appendName(buf, this.nameStart, end);
      this.nameStart = -1;
    }
    for (let f = 0; f < FIELD_COUNT; f++) {
      if (this.vKind[f] === 1) {
        this.vStr[f] = buf.toString('latin1', this.vStart[f], this.vEnd[f]);
        this.vKind[f] = 2;
      }
    }
    this.dvBuf = null;
    if (end >= 2) {
      this.tail0 = buf[end - 2];
      this.tail1 = buf[end - 1];
    } else if (end === 1) {
      this.tail0 = this.tail1;
      this.tail1 = buf[0];
    }
    this.base += end;
  }

  /** The bytes still held back at EOF (a short file, or an incomplete UTF-8 sequence). */
  takeFinal(): Buffer | null {
    const buf = this.carry;
    if (buf === null) return null;
    this.carry = null;
    if (!this.startChecked) this.checkStart(buf);
    // decode() reports an incomplete sequence, since nothing follows it now.
    this.end = buf.length;
    return buf;
  }

  finish(): void {
    const line = this.line;
    const col = this.colAt(this.base);
    if (!this.sawNonBom) this.fail('the file is empty', line, col);
    if (this.state !== S_TEXT) {
      const what =
        this.state === S_COMMENT
          ? 'a comment'
          : this.state === S_CDATA
            ? 'a CDATA section'
            : this.state === S_PI_BODY || this.state === S_PI_TARGET || this.state === S_PI_END
              ? 'a processing instruction'
              : this.state === S_ENTITY
                ? 'an entity reference'
                : 'a tag';
      this.fail(`the file ends in the middle of ${what} (truncated?)`, line, col);
    }
    if (!this.rootSeen) this.fail('the file has no <root> element', line, col);
    if (this.depth > 0) {
      const name = Buffer.from(this.names[this.depth]).toString('utf8');
      this.fail(
        `the file ends before <${name}> (opened at line ${this.openLine[this.depth]}, column ${this.openCol[this.depth]}) is closed (truncated?)`,
        line,
        col,
      );
    }
  }

  // ----- text helpers -----

  /** Copies the fast (untouched ASCII) text segment into the scratch buffer. */
  private fastToScratch(buf: Buffer, e: number): void {
    this.fast = false;
    const len = e - this.textStart;
    if (len <= 0) return;
    if (this.sLen + len > this.maxText) {
      this.overflow(buf, this.textStart, e);
      return;
    }
    buf.copy(this.scratch, this.sLen, this.textStart, e);
    this.sLen += len;
  }

  /**
   * The text of the current element passed the limit. That is an error unless all of it is
   * whitespace, which is still fine if a child element follows (then it is indentation).
   */
  private overflow(buf: Buffer | null, s: number, e: number): void {
    const sc = this.scratch;
    let ws = true;
    for (let k = 0; k < this.sLen && ws; k++) ws = isWsByte(sc[k]);
    if (buf !== null) for (let k = s; k < e && ws; k++) ws = isWsByte(buf[k]);
    if (!ws) this.failTooLong();
    this.textOverflow = true;
    this.textMode = TM_WS;
    this.fast = false;
    this.sLen = 0;
  }

  private failTooLong(): never {
    const d = this.depth;
    const name = Buffer.from(this.names[d]).toString('utf8');
    this.fail(
      `the text of <${name}> is longer than ${this.maxText} bytes`,
      this.openLine[d],
      this.openCol[d],
    );
  }

  /** Appends one decoded character (as UTF-8) to the current text, honouring the text mode. */
  private emitCp(cp: number, line: number, col: number): void {
    if (this.textMode === TM_WS) {
      if (cp === 0x20 || cp === 0x0a || cp === 0x09 || cp === 0x0d) return;
      this.failNotWs(line, col);
    }
    let n = 1;
    if (cp >= 0x10000) n = 4;
    else if (cp >= 0x800) n = 3;
    else if (cp >= 0x80) n = 2;
    if (this.sLen + n > this.maxText) {
      this.overflow(null, 0, 0);
      if (!isWsByte(cp)) this.failTooLong();
      return;
    }
    const sc = this.scratch;
    let p = this.sLen;
    if (n === 1) sc[p++] = cp;
    else if (n === 2) {
      sc[p++] = 0xc0 | (cp >> 6);
      sc[p++] = 0x80 | (cp & 0x3f);
    } else if (n === 3) {
      sc[p++] = 0xe0 | (cp >> 12);
      sc[p++] = 0x80 | ((cp >> 6) & 0x3f);
      sc[p++] = 0x80 | (cp & 0x3f);
    } else {
      sc[p++] = 0xf0 | (cp >> 18);
      sc[p++] = 0x80 | ((cp >> 12) & 0x3f);
      sc[p++] = 0x80 | ((cp >> 6) & 0x3f);
      sc[p++] = 0x80 | (cp & 0x3f);
    }
    this.sLen = p;
  }

  /** Appends raw, already validated bytes (ASCII or one UTF-8 character). */
  private emitBytes(buf: Buffer, s: number, n: number, i: number): void {
    if (this.textMode === TM_WS) {
      if (n === 1 && isWsByte(buf[s])) return;
      this.failNotWs(this.line, this.colAt(this.base + i));
    }
    if (this.sLen + n > this.maxText) {
      this.overflow(null, 0, 0);
      if (n > 1 || !isWsByte(buf[s])) this.failTooLong();
      return;
    }
    for (let k = 0; k < n; k++) this.scratch[this.sLen++] = buf[s + k];
  }

  private failNotWs(line: number, col: number): never {
    const d = this.depth;
    if (d === 0) {
      if (this.rootClosed) this.fail('unexpected content after </root>', line, col);
      this.fail('unexpected text before the <root> element', line, col);
    }
    if (this.textOverflow) this.failTooLong();
    const node = this.nodes[d];
    const name = Buffer.from(this.names[d]).toString('utf8');
    if (node !== null && node.kind !== K_LEAF) {
      this.fail(`text is not allowed directly inside <${name}>`, line, col);
    }
    this.fail(`text mixed with child elements inside <${name}> is not allowed`, line, col);
  }

  /** True when the text collected so far for the current element is whitespace only. */
  private textIsWs(buf: Buffer, i: number): boolean {
    if (this.textMode === TM_WS) return true;
    const sc = this.scratch;
    for (let k = 0; k < this.sLen; k++) if (!isWsByte(sc[k])) return false;
    if (this.fast) {
      const e = this.segEnd >= 0 ? this.segEnd : i;
      for (let k = this.textStart; k < e; k++) if (!isWsByte(buf[k])) return false;
    }
    return true;
  }

  /** A comment, PI or CDATA interrupts the text: keep what we have in scratch. */
  private interruptText(buf: Buffer): void {
    if (this.textMode === TM_COLLECT && this.fast) this.fastToScratch(buf, this.segEnd);
  }

  private appendName(buf: Buffer, s: number, e: number): void {
    const len = e - s;
    if (this.nameLen + len > this.maxName) {
      this.failTok(`a name longer than ${this.maxName} bytes`);
    }
    buf.copy(this.nameBuf, this.nameLen, s, e);
    this.nameLen += len;
  }

  // ----- elements -----

  private startElement(buf: Buffer, src: Uint8Array, s: number, e: number, i: number): void {
    const d = this.depth;
    let node: SchemaNode | null = null;
    if (d === 0) {
      if (this.rootClosed) this.failTok('unexpected content after </root>');
      if (!bytesEqual(src, s, e, ROOT_NODE.bytes)) {
        this.failTok(`the root element must be <root>, not <${nameText(src, s, e)}>`);
      }
      node = ROOT_NODE;
      this.rootSeen = true;
    } else {
      if (!this.textIsWs(buf, i)) {
        const name = Buffer.from(this.names[d]).toString('utf8');
        this.failTok(`text mixed with child elements inside <${name}> is not allowed`);
      }
      this.hasChild[d] = 1;
      if (d + 1 > this.maxDepth) {
        this.failTok(`elements are nested deeper than ${this.maxDepth} levels`);
      }
      const parent = this.nodes[d];
      if (parent !== null) {
        if (parent.kind === K_ROOT) {
          if (!bytesEqual(src, s, e, ROW_NODE.bytes)) {
            this.failTok(`only <row> elements are allowed inside <root>, found <${nameText(src, s, e)}>`);
          }
          node = ROW_NODE;
        } else {
          if (parent.kind !== K_LEAF) node = findChild(parent, src, s, e);
          if (node === null) {
            const name = nameText(src, s, e);
            const path = parent.kind === K_ROW ? name : `${parent.path}/${name}`;
            if (this.unknown === null) this.unknown = [path];
            else if (!this.unknown.includes(path)) this.unknown.push(path);
          }
        }
      }
    }
    this.pushElement(node, node !== null ? node.bytes : new Uint8Array(src.subarray(s, e)));
  }

  /** Pushes a resolved element (checks done) and sets up its text and row bookkeeping. */
  private pushElement(node: SchemaNode | null, name: Uint8Array): void {
    const nd = this.depth + 1;
    this.depth = nd;
    this.nodes[nd] = node;
    this.names[nd] = name;
    this.hasChild[nd] = 0;
    this.openLine[nd] = this.tokLine;
    this.openCol[nd] = this.tokCol;
    this.textOverflow = false;
    this.sLen = 0;
    this.fast = false;
    if (node === null) {
      this.textMode = TM_COLLECT;
      this.field = -1;
    } else if (node.kind === K_LEAF) {
      this.textMode = TM_COLLECT;
      const bit = node.bit;
      this.field = node.field;
      if (this.seenMask & bit) {
        this.fieldSkip = true;
        this.noteRepeated(node.path);
      } else {
        this.fieldSkip = false;
        this.seenMask |= bit;
      }
    } else {
      this.textMode = TM_WS;
      this.field = -1;
      if (node.kind === K_ROW) {
        this.rowCount++;
        this.rowLine = this.tokLine;
        this.rowTokAbs = this.tokAbs;
        this.rowEndAbs = -1;
        this.vKind.fill(0);
        this.seenMask = 0;
        this.repeated = null;
        this.unknown = null;
      }
    }
  }

  private noteRepeated(path: string): void {
    if (this.repeated === null) this.repeated = [path];
    else if (!this.repeated.includes(path)) this.repeated.push(path);
  }

  /** Called at the '>' of a start tag: the element's text starts at i. */
  private beginText(i: number): void {
    if (this.textMode === TM_COLLECT) {
      this.fast = true;
      this.textStart = i;
      this.segEnd = -1;
    }
  }

  /** Ends the innermost element. Returns true when onRow returned a promise. */
  private endElement(buf: Buffer, selfClosing: boolean): boolean {
    const d = this.depth;
    const node = this.nodes[d];
    if (this.hasChild[d] === 0) {
      if (this.textOverflow) this.failTooLong();
      if (node !== null && node.kind === K_LEAF && !this.fieldSkip) {
        const f = this.field;
        if (selfClosing) {
          this.vKind[f] = 2;
          this.vStr[f] = '';
        } else if (this.fast) {
          const len = this.segEnd - this.textStart;
          if (len > this.maxText) this.failTooLong();
          this.vKind[f] = 1;
          this.vStart[f] = this.textStart;
          this.vEnd[f] = this.segEnd;
        } else {
          this.vKind[f] = 2;
          this.vStr[f] = this.sLen === 0 ? '' : this.scratch.toString('utf8', 0, this.sLen);
        }
      } else if (this.fast && this.segEnd - this.textStart > this.maxText) {
        this.failTooLong();
      }
    }
    this.fast = false;
    this.sLen = 0;
    this.textOverflow = false;
    this.depth = d - 1;
    this.textMode = TM_WS;
    if (node !== null) {
      if (node.kind === K_ROW) return this.finishRow(buf);
      if (node.kind === K_ROOT) {
        this.rootClosed = true;
        if (this.rowCount === 0) this.failTok('the file has no <row> elements');
      }
    }
    return false;
  }

  private finishRow(buf: Buffer): boolean {
    if (this.rowCount >= this.skRetryAt && this.unknown === null && this.repeated === null) this.learn(buf);
    return this.emitRow(buf);
  }

  /** Hands the current row (values in vKind/vStart/vEnd/vStr) to onRow. True when it is pending. */
  private emitRow(buf: Buffer): boolean {
    const vKind = this.vKind;
    const vStr = this.vStr;
    let all = true;
    // Values read in place (ASCII) come from their field's TextCache, or are made as flat strings
    // that own their characters: a substring of a larger string would be a view into it ("sliced
    // string"), keeping it alive and comparing far slower.
    for (let f = 0; f < FIELD_COUNT; f++) {
      const k = vKind[f];
      if (k === 1) vStr[f] = this.textCaches[f].get(buf, this.dv, this.vStart[f], this.vEnd[f]);
      else if (k === 0) {
        all = false;
      }
    }
    if (this.memoMiss !== 0) this.memoInsert(buf);
    let values: Partial<Record<FieldPath, string>>;
    if (all) {
      values = {
        'Employee/DunkinId': vStr[0],
        'Employee/DunkinBranch': vStr[1],
        'Employee/FirstName': vStr[2],
        'Employee/LastName': vStr[3],
        'Employee/DOB': vStr[4],
        'Employee/PhoneNumber': vStr[5],
        'Payor/DunkinId': vStr[6],
        'Payor/ABARouting': vStr[7],
        'Payor/AccountNumber': vStr[8],
        'Payor/Name': vStr[9],
        'Payor/DBA': vStr[10],
        'Payor/EIN': vStr[11],
        'Payor/Address/Line1': vStr[12],
        'Payor/Address/City': vStr[13],
        'Payor/Address/State': vStr[14],
        'Payor/Address/Zip': vStr[15],
        'Payee/PlaidId': vStr[16],
        'Payee/LoanAccountNumber': vStr[17],
        Amount: vStr[18],
      };
    } else {
      values = {};
      for (let f = 0; f < FIELD_COUNT; f++) if (vKind[f] !== 0) values[FIELD_PATHS[f]] = vStr[f];
    }
    vKind.fill(0);
    const row: RawRow = {
      rowNumber: this.rowCount,
      values,
      unknownPaths: this.unknown ?? NONE,
      repeatedPaths: this.repeated ?? NONE,
      line: this.rowLine,
    };
    this.unknown = null;
    this.repeated = null;
    const r = this.onRow(row);
    if (r !== undefined && r !== null && typeof (r as PromiseLike<unknown>).then === 'function') {
      this.pending = r as PromiseLike<unknown>;
      return true;
    }
    return false;
  }

  // ----- the state machine -----

  /** Processes buf[i..end). Returns where it stopped: end, or earlier when onRow is pending. */
  run(buf: Buffer, start: number, end: number): number {
    if (this.dvBuf !== buf) {
      this.dvBuf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    let i = start;
    if (i < end) this.sawNonBom = true;
    const base = this.base;
    for (;;) {
      switch (this.state) {
        case S_TEXT: {
          if (this.textMode === TM_WS && this.depth > 0) {
            i = this.fastScan(buf, i, end);
            if (this.pending !== null) return i;
          }
          if (this.textMode === TM_WS) {
            for (; i < end; i++) {
              const c = buf[i];
              if (c === 0x20) continue;
              if (c === 0x0a) {
                if (this.lastCR !== base + i - 1) this.line++;
                this.lineStart = base + i + 1;
                this.contAtLineStart = this.cont;
                continue;
              }
              if (c === 0x3c || c === 0x26) break;
              if (c === 0x09) continue;
              if (c === 0x0d) {
                this.newline(base + i, true);
                continue;
              }
              if (c >= 0x80) this.decode(buf, i);
              else if (CLS[c] === C_BAD) this.badControl(buf, i);
              this.failNotWs(this.line, this.colAt(base + i));
            }
            if (i >= end) return end;
            if (buf[i] === 0x26) {
              if (this.depth === 0) this.failNotWs(this.line, this.colAt(base + i));
              this.beginEntity(i);
              i++;
              this.state = S_ENTITY;
              continue;
            }
            this.markTok(i);
            i++;
            this.state = S_LT;
            continue;
          }
          if (this.fast) {
            for (; i < end; i++) {
              const k = CLS[buf[i]];
              if (k <= C_SPACE) continue;
              if (k === C_LT) break;
              if (k === C_LF) {
                if (this.lastCR !== base + i - 1) this.line++;
                this.lineStart = base + i + 1;
                this.contAtLineStart = this.cont;
                continue;
              }
              if (k === C_GT) {
                if (this.cdEndBefore(buf, i)) this.failAt('"]]>" is not allowed in text', i);
                continue;
              }
              if (k === C_BAD) this.badControl(buf, i);
              this.fastToScratch(buf, i);
              break;
            }
            if (i >= end) return end;
            if (this.fast) {
              // At '<' with the text untouched: the common case.
              this.segEnd = i;
              if (i - this.textStart > this.maxText) this.overflow(buf, this.textStart, i);
              this.markTok(i);
              i++;
              this.state = S_LT;
              continue;
            }
            if (this.textMode !== TM_COLLECT) continue;
          }
          // Slow text: decode into scratch.
          for (; i < end; i++) {
            const c = buf[i];
            const k = CLS[c];
            if (k <= C_SPACE) {
              if (this.sLen >= this.maxText) {
                this.overflow(null, 0, 0);
                if (k !== C_SPACE) this.failTooLong();
                i++;
                break;
              }
              this.scratch[this.sLen++] = c;
              continue;
            }
            if (k === C_LT || k === C_AMP) break;
            if (k === C_LF) {
              const afterCR = this.lastCR === base + i - 1;
              this.newline(base + i, false);
              if (!afterCR) this.emitBytes(buf, i, 1, i);
              if (this.textMode !== TM_COLLECT) {
                i++;
                break;
              }
              continue;
            }
            if (k === C_CR) {
              this.newline(base + i, true);
              this.emitCp(0x0a, 0, 0);
              if (this.textMode !== TM_COLLECT) {
                i++;
                break;
              }
              continue;
            }
            if (k === C_GT) {
              if (this.cdEndBefore(buf, i)) this.failAt('"]]>" is not allowed in text', i);
              this.emitBytes(buf, i, 1, i);
              continue;
            }
            if (k === C_HIGH) {
              this.decode(buf, i);
              const n = this.decodeLen.n;
              this.emitBytes(buf, i, n, i);
              this.cont += n - 1;
              i += n - 1;
              if (this.textMode !== TM_COLLECT) {
                i++;
                break;
              }
              continue;
            }
            this.badControl(buf, i);
          }
          if (i >= end) return end;
          if (this.textMode !== TM_COLLECT) continue;
          if (buf[i] === 0x26) {
            this.beginEntity(i);
            i++;
            this.state = S_ENTITY;
            continue;
          }
          if (buf[i] !== 0x3c) continue;
          this.markTok(i);
          i++;
          this.state = S_LT;
          continue;
        }

        case S_LT: {
          if (i >= end) return end;
          const c = buf[i];
          if (c === 0x2f) {
            i++;
            this.nameStart = i;
            this.nameLen = 0;
            this.state = S_ETAG_NAME;
            continue;
          }
          if (c === 0x21) {
            i++;
            this.bangLen = 0;
            this.state = S_BANG;
            continue;
          }
          if (c === 0x3f) {
            i++;
            this.interruptText(buf);
            this.nameStart = i;
            this.nameLen = 0;
            this.state = S_PI_TARGET;
            continue;
          }
          if (c < 0x80 && NAME_START[c] !== 1) {
            this.failAt(`"<" must start a tag, but it is followed by ${showByte(c)}`, i);
          }
          this.nameStart = i;
          this.nameLen = 0;
          this.state = S_STAG_NAME;
          continue;
        }

        case S_STAG_NAME:
        case S_ETAG_NAME:
        case S_PI_TARGET: {
          const st = this.state;
          // A name continued from the previous buffer restarts at 0 here (its start is in nameBuf).
          if (this.nameStart < 0) this.nameStart = i;
          let c = 0;
          for (; i < end; i++) {
            c = buf[i];
            if (NAME_CHAR[c] === 1) continue;
            if (c < 0x80) break;
            const cp = this.decode(buf, i);
            const first = i === this.nameStart && this.nameLen === 0;
            if (first ? !isNameStartCp(cp) : !isNameCp(cp)) break;
            const n = this.decodeLen.n;
            this.cont += n - 1;
            i += n - 1;
          }
          if (i >= end) return end;
          let src: Uint8Array = buf;
          let s = this.nameStart;
          let e = i;
          if (this.nameLen > 0) {
            this.appendName(buf, s, i);
            src = this.nameBuf;
            s = 0;
            e = this.nameLen;
          } else if (e - s > this.maxName) {
            this.failTok(`a name longer than ${this.maxName} bytes`);
          }
          this.nameStart = -1;
          if (e === s) {
            if (st === S_STAG_NAME) {
              this.failAt(`"<" must be followed by an element name`, i);
            }
            if (st === S_PI_TARGET) {
              this.failAt('a processing instruction must start with a name (its target)', i);
            }
            this.failAt(`"</" must be followed by an element name, found ${showByte(c)}`, i);
          }
          if (st === S_STAG_NAME) {
            this.startElement(buf, src, s, e, i);
            this.state = S_STAG_REST;
          } else if (st === S_ETAG_NAME) {
            const d = this.depth;
            if (d === 0) {
              this.failTok(`unexpected end tag </${nameText(src, s, e)}>: no element is open`);
            }
            if (!bytesEqual(src, s, e, this.names[d])) {
              const open = Buffer.from(this.names[d]).toString('utf8');
              this.failTok(
                `end tag </${nameText(src, s, e)}> does not match <${open}>, which was opened at line ${this.openLine[d]}, column ${this.openCol[d]}`,
              );
            }
            this.state = S_ETAG_REST;
          } else {
            // "<?name?>": skip the '?' so S_PI_END sees the '>'.
            if (this.beginPI(src, s, e, buf, i)) i++;
          }
          continue;
        }

        case S_STAG_REST: {
          for (; i < end; i++) {
            const c = buf[i];
            if (c === 0x3e) break;
            if (c === 0x20 || c === 0x09) continue;
            if (c === 0x0a || c === 0x0d) {
              this.newline(base + i, c === 0x0d);
              continue;
            }
            if (c === 0x2f) break;
            const prev = i > 0 ? buf[i - 1] : this.tail1;
            if ((c >= 0x80 || NAME_START[c] === 1) && isWsByte(prev)) {
              const name = Buffer.from(this.names[this.depth]).toString('utf8');
              this.failAt(`attributes are not allowed (found one on <${name}>)`, i);
            }
            if (c >= 0x80) this.decode(buf, i);
            this.failAt(`unexpected ${showByte(c)} in a start tag`, i);
          }
          if (i >= end) return end;
          if (buf[i] === 0x2f) {
            i++;
            this.state = S_STAG_SLASH;
            continue;
          }
          i++;
          this.beginText(i);
          this.state = S_TEXT;
          continue;
        }

        case S_STAG_SLASH: {
          if (i >= end) return end;
          if (buf[i] !== 0x3e) this.failAt('"/" in a start tag must be followed by ">"', i);
          i++;
          this.state = S_TEXT;
          if (this.endElement(buf, true)) return i;
          continue;
        }

        case S_ETAG_REST: {
          for (; i < end; i++) {
            const c = buf[i];
            if (c === 0x3e) break;
            if (c === 0x20 || c === 0x09) continue;
            if (c === 0x0a || c === 0x0d) {
              this.newline(base + i, c === 0x0d);
              continue;
            }
            if (c >= 0x80) this.decode(buf, i);
            this.failAt(`unexpected ${showByte(c)} in an end tag`, i);
          }
          if (i >= end) return end;
          i++;
          this.state = S_TEXT;
          this.rowEndAbs = base + i;
          if (this.endElement(buf, false)) return i;
          continue;
        }

        case S_BANG: {
          for (; i < end; i++) {
            const c = buf[i];
            const k = this.bangLen++;
            if (k === 0) {
              this.bangFirst = c;
              if (c === 0x2d || c === 0x5b) continue;
              if (c === 0x44 || c === 0x64) {
                this.failTok('DOCTYPE declarations are not allowed (no DTD, no entity declarations)');
              }
              if (c === 0x45) this.failTok('ENTITY and ELEMENT declarations are not allowed');
              this.failTok('"<!" must start a comment ("<!--") or a CDATA section ("<![CDATA[")');
            }
            if (this.bangFirst === 0x2d) {
              if (c !== 0x2d) this.failTok('"<!-" must be followed by "-" to start a comment');
              i++;
              this.interruptText(buf);
              this.dashes = 0;
              this.state = S_COMMENT;
              break;
            }
            if (c !== CDATA_OPEN[k]) this.failTok('"<![" must start a CDATA section "<![CDATA["');
            if (k === CDATA_OPEN.length - 1) {
              i++;
              if (this.depth === 0) {
                if (this.rootClosed) this.failTok('unexpected content after </root>');
                this.failTok('a CDATA section is not allowed outside the <root> element');
              }
              this.interruptText(buf);
              this.brackets = 0;
              this.state = S_CDATA;
              break;
            }
          }
          if (this.state === S_BANG) return end;
          continue;
        }

        case S_COMMENT: {
          for (; i < end; i++) {
            const c = buf[i];
            if (c === 0x2d) {
              this.dashes++;
              continue;
            }
            if (this.dashes >= 2) {
              if (c === 0x3e && this.dashes === 2) break;
              this.failAt('"--" is not allowed inside a comment', i - this.dashes);
            }
            this.dashes = 0;
            if (c < 0x20) {
              if (c === 0x0a || c === 0x0d) this.newline(base + i, c === 0x0d);
              else if (c !== 0x09) this.badControl(buf, i);
            } else if (c >= 0x80) {
              this.decode(buf, i);
              const n = this.decodeLen.n;
              this.cont += n - 1;
              i += n - 1;
            }
          }
          if (i >= end) return end;
          i++;
          this.state = S_TEXT;
          continue;
        }

        case S_CDATA: {
          for (; i < end; i++) {
            const c = buf[i];
            if (c === 0x5d) {
              this.brackets++;
              continue;
            }
            if (c === 0x3e && this.brackets >= 2) {
              this.flushBrackets(this.brackets - 2, i);
              break;
            }
            if (this.brackets > 0) this.flushBrackets(this.brackets, i);
            if (c < 0x80) {
              const k = CLS[c];
              if (k === C_LF) {
                const afterCR = this.lastCR === base + i - 1;
                this.newline(base + i, false);
                if (!afterCR) this.emitCp(0x0a, this.line, 1);
              } else if (k === C_CR) {
                this.newline(base + i, true);
                this.emitCp(0x0a, this.line, 1);
              } else if (k === C_BAD) {
                this.badControl(buf, i);
              } else {
                this.emitBytes(buf, i, 1, i);
              }
            } else {
              this.decode(buf, i);
              const n = this.decodeLen.n;
              this.emitBytes(buf, i, n, i);
              this.cont += n - 1;
              i += n - 1;
            }
          }
          if (i >= end) return end;
          i++;
          this.brackets = 0;
          this.state = S_TEXT;
          continue;
        }

        case S_PI_BODY: {
          for (; i < end; i++) {
            const c = buf[i];
            if (c === 0x3e && this.piQ) break;
            this.piQ = c === 0x3f;
            if (this.piIsDecl) {
              if (this.declLen >= MAX_DECL_BYTES) this.failTok('the XML declaration is too long');
              this.declBuf[this.declLen++] = c;
            }
            if (c < 0x20) {
              if (c === 0x0a || c === 0x0d) this.newline(base + i, c === 0x0d);
              else if (c !== 0x09) this.badControl(buf, i);
            } else if (c >= 0x80) {
              this.decode(buf, i);
              const n = this.decodeLen.n;
              if (this.piIsDecl) this.failAt('the XML declaration must be ASCII', i);
              this.cont += n - 1;
              i += n - 1;
            }
          }
          if (i >= end) return end;
          i++;
          this.piQ = false;
          this.state = S_TEXT;
          if (this.piIsDecl) this.checkDecl();
          continue;
        }

        case S_PI_END: {
          if (i >= end) return end;
          if (buf[i] !== 0x3e) {
            this.failAt('a processing instruction\'s name must be followed by a space or by "?>"', i);
          }
          i++;
          this.state = S_TEXT;
          if (this.piIsDecl) this.checkDecl();
          continue;
        }

        case S_ENTITY: {
          for (; i < end; i++) {
            const c = buf[i];
            if (c === 0x3b) break;
            this.entityByte(c);
          }
          if (i >= end) return end;
          i++;
          this.endEntity();
          this.state = S_TEXT;
          continue;
        }

        default:
          throw new Error(`internal: bad reader state ${this.state}`);
      }
    }
  }

  /**
   * The common case at full speed: indentation, plainly written start and end tags of schema
   * elements (<Name>, </Name>) and plain ASCII leaf values, each complete within this buffer.
   * Anything else goes back to the general state machine at a token boundary, in exactly the
   * state the general path would have reached.
   */
  private fastScan(buf: Buffer, start: number, end: number): number {
    const base = this.base;
    let lastCR = this.lastCR;
    const vKind = this.vKind;
    const vStart = this.vStart;
    const vEnd = this.vEnd;
    const hints = this.hints;
    let i = start;
    let line = this.line;
    let lineStart = this.lineStart;
    let contDelta = this.cont - this.contAtLineStart;
    for (;;) {
      let c = 0x20;
      for (; i < end; i++) {
        c = buf[i];
        if (c === 0x20) continue;
        if (c === 0x0a) {
          if (lastCR !== base + i - 1) line++;
          lineStart = base + i + 1;
          contDelta = 0;
          continue;
        }
        if (c === 0x09) continue;
        if (c === 0x0d) {
          line++;
          lastCR = base + i;
          lineStart = base + i + 1;
          contDelta = 0;
          continue;
        }
        break;
      }
      if (c !== 0x3c || i + 2 >= end) break;
      const d = this.depth;
      if (buf[i + 1] === 0x2f) {
        const name = this.names[d];
        const close = i + 2 + name.length;
        if (d === 0 || close >= end || buf[close] !== 0x3e || !bytesAt(buf, i + 2, name)) break;
        this.tokLine = line;
        this.tokCol = base + i - lineStart - contDelta + 1;
        this.tokAbs = base + i;
        i = close + 1;
        this.rowEndAbs = base + i;
        if (this.endElement(buf, false)) break;
        continue;
      }
      if (d === 1 && this.skOk) {
        // A row: replayed whole when it has the learned layout.
        const r = this.matchRow(buf, i, end, line);
        if (r >= 0) {
          i = r;
          line = this.mLine;
          if (this.mLineStart >= 0) {
            lineStart = this.mLineStart;
            contDelta = 0;
          }
          lastCR = this.lastCR;
          if (this.emitRow(buf)) break;
          continue;
        }
        // Not this time: learn again from the row the general path is about to read.
        if (this.skRetryAt > this.rowCount + 1) this.skRetryAt = this.rowCount + 1;
      }
      const parent = this.nodes[d];
      if (parent === null || d >= this.maxDepth) break;
      const children = parent.children;
      const n = children.length;
      const hint = hints[parent.id];
      let node: SchemaNode | null = null;
      let close = 0;
      for (let k = 0; k < n; k++) {
        let idx = hint + k;
        if (idx >= n) idx -= n;
        const bytes = children[idx].bytes;
        const cl = i + 1 + bytes.length;
        if (cl < end && buf[cl] === 0x3e && bytesAt(buf, i + 1, bytes)) {
          node = children[idx];
          close = cl;
          hints[parent.id] = idx + 1 === n ? 0 : idx + 1;
          break;
        }
      }
      if (node === null) break;
      // The parent is in whitespace mode, so a child is never mixed content here.
      this.hasChild[d] = 1;
      if (node.kind === K_LEAF) {
        // A whole plain leaf in view is recorded without being pushed: it cannot fail.
        const vs = close + 1;
        let j = vs;
        while (j < end && CLS[buf[j]] <= C_SPACE) j++;
        const bytes = node.bytes;
        const cl = j + 2 + bytes.length;
        if (
          cl < end &&
          buf[j] === 0x3c &&
          buf[j + 1] === 0x2f &&
          buf[cl] === 0x3e &&
          j - vs <= this.maxText &&
          bytesAt(buf, j + 2, bytes)
        ) {
          if ((this.seenMask & node.bit) === 0) {
            this.seenMask |= node.bit;
            const f = node.field;
            vKind[f] = 1;
            vStart[f] = vs;
            vEnd[f] = j;
          } else {
            this.noteRepeated(node.path);
          }
          i = cl + 1;
          continue;
        }
      }
      this.tokLine = line;
      this.tokCol = base + i - lineStart - contDelta + 1;
      this.tokAbs = base + i;
      this.pushElement(node, node.bytes);
      i = close + 1;
      if (node.kind === K_LEAF) {
        this.beginText(i);
        break;
      }
    }
    if (line !== this.line || lineStart !== this.lineStart) {
      this.line = line;
      this.lineStart = lineStart;
      this.contAtLineStart = this.cont - contDelta;
    }
    this.lastCR = lastCR;
    return i;
  }

  /**
   * The row fast path. When the row whose '<' is at buf[i] has exactly the learned layout and
   * only VAL_PLAIN bytes in its values, all within buf[i..end), records its values (vStart/vEnd,
   * vKind 1), counts it and returns the offset after its end tag, with the line after it in mLine
   * and where that line starts in mLineStart (-1: the row has no line break). Otherwise returns -1
   * having changed nothing the general path reads. The row is then exactly what the general path
   * would have read: the learned markup was checked by learn(), and plain values cannot change how
   * it parses.
   */
  private matchRow(buf: Buffer, i: number, end: number, line: number): number {
    const dv = this.dv;
    const words = this.skWords;
    const segStart = this.skSegStart;
    const wordStart = this.skWordStart;
    const fields = this.skField;
    const skNl = this.skNl;
    const vStart = this.vStart;
    const vEnd = this.vEnd;
    const maxText = this.maxText;
    const memos = this.memos;
    const memoHit = this.memoHit;
    const rowLine = line;
    let p = i;
    let lineStart = -1;
    let lastCr = -1;
    let miss = 0;
    for (let k = 0; ; k++) {
      const len = segStart[k + 1] - segStart[k];
      if (p + len > end) return -1;
      const last = wordStart[k + 1] - 1;
      let q = p;
      for (let w = wordStart[k]; w < last; w++) {
        if (dv.getFloat64(q, true) !== words[w]) return -1;
        q += 8;
      }
      if (dv.getFloat64(p + len - 8, true) !== words[last]) return -1;
      const nl = skNl[k];
      if (nl !== 0) {
        line += nl;
        lineStart = p + this.skLastNl[k] + 1;
        const cr = this.skLastCr[k];
        if (cr >= 0) lastCr = p + cr;
      }
      p += len;
      if (k === FIELD_COUNT) break;
      const memo = memos[k];
      if (memo !== null) {
        // The first value of a group: the same bytes as in an earlier row give its values.
        const hit = memo.find(dv, p, end);
        memoHit[k] = hit;
        if (hit >= 0) {
          if (memo.nls[hit] !== 0) {
            line += memo.nls[hit];
            lineStart = p + memo.lastNls[hit] + 1;
            const cr = memo.lastCrs[hit];
            if (cr >= 0) lastCr = p + cr;
          }
          p += memo.lens[hit];
          k += memo.n - 1;
          continue;
        }
        miss |= 1 << k;
      }
      const vs = p;
      // Four bytes at a time while all of them are plain (no high bit, none below 0x20, none of
      // '<' '>' '&': the usual zero-byte tests), then byte by byte up to the end of the value.
      while (p + 4 <= end) {
        const x = dv.getInt32(p, true);
        const y = (x | 0x02020202) ^ 0x3e3e3e3e; // a zero byte where x has '<' or '>'
        const z = x ^ 0x26262626; // a zero byte where x has '&'
        if ((x | (x - 0x20202020) | ((y - 0x01010101) & ~y) | ((z - 0x01010101) & ~z)) & 0x80808080) break;
        p += 4;
      }
      while (p < end && VAL_PLAIN[buf[p]] === 1) p++;
      if (p - vs > maxText) return -1;
      const f = fields[k];
      vStart[f] = vs;
      vEnd[f] = p;
    }
    this.rowCount++;
    this.rowLine = rowLine;
    const vKind = this.vKind;
    vKind.fill(1);
    for (let k = 0; k < FIELD_COUNT; k++) {
      const memo = memos[k];
      if (memo === null) continue;
      const hit = memoHit[k];
      if (hit < 0) continue;
      const strs = memo.strs;
      for (let j = 0; j < memo.n; j++) {
        const f = fields[k + j];
        vKind[f] = 2;
        this.vStr[f] = strs[hit * memo.n + j];
      }
    }
    this.memoMiss = miss;
    this.mLine = line;
    this.mLineStart = lineStart < 0 ? -1 : this.base + lineStart;
    if (lastCr >= 0) this.lastCR = this.base + lastCr;
    return p;
  }

  /** Remembers the groups matchRow read value by value in the row just made (see BlockMemo). */
  private memoInsert(buf: Buffer): void {
    const miss = this.memoMiss;
    this.memoMiss = 0;
    for (let k = 0; k < FIELD_COUNT; k++) {
      const memo = this.memos[k];
      if (memo === null || (miss & (1 << k)) === 0) continue;
      if (!memo.useful()) {
        this.memos[k] = null;
        continue;
      }
      const fields = this.skField;
      const s = this.vStart[fields[k]];
      const e = this.vEnd[fields[k + memo.n - 1]];
      memo.insert(buf, this.dv, s, e, fields, k, this.vStr);
    }
  }

  /**
   * Learns the layout of the row just read for matchRow, when it is of the kind matchRow replays:
   * every field once, as <Name>value</Name> with the value read as one plain run, the whole row
   * within this buffer, and between the values only whitespace and the plain start and end tags
   * of the schema's elements, properly nested, each value directly inside its own leaf. Anything
   * else is not learned, and learning waits a while before trying again, so that files of another
   * shape do not pay for it on every row.
   */
  private learn(buf: Buffer): void {
    const s = this.rowTokAbs - this.base;
    const e = this.rowEndAbs - this.base;
    const order = learnOrder(this.vKind, this.vStart, this.vEnd, s, e);
    if (order === null || !checkLayout(buf, s, e, order, this.vStart, this.vEnd)) {
      this.skFails++;
      this.skRetryAt = this.rowCount + Math.min(1 << Math.min(this.skFails, 12), 4096);
      return;
    }
    const vStart = this.vStart;
    const vEnd = this.vEnd;
    const segS = new Int32Array(FIELD_COUNT + 1);
    const segE = new Int32Array(FIELD_COUNT + 1);
    for (let k = 0; k <= FIELD_COUNT; k++) {
      segS[k] = k === 0 ? s : vEnd[order[k - 1]];
      segE[k] = k === FIELD_COUNT ? e : vStart[order[k]];
    }
    let total = 0;
    let nWords = 0;
    for (let k = 0; k <= FIELD_COUNT; k++) {
      const len = segE[k] - segS[k];
      total += len;
      nWords += (len + 7) >> 3;
    }
    const bytes = Buffer.alloc(total);
    const words = new Float64Array(nWords);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    let w = 0;
    for (let k = 0; k <= FIELD_COUNT; k++) {
      const len = segE[k] - segS[k];
      buf.copy(bytes, at, segS[k], segE[k]);
      this.skSegStart[k] = at;
      this.skWordStart[k] = w;
      // Whole words, then the last 8 bytes (overlapping the previous word when len % 8 !== 0).
      for (let o = 0; o + 8 < len; o += 8) words[w++] = view.getFloat64(at + o, true);
      words[w++] = view.getFloat64(at + len - 8, true);
      let nl = 0;
      let lastNl = -1;
      let lastCr = -1;
      for (let o = 0; o < len; o++) {
        const c = bytes[at + o];
        if (c === 0x0d) {
          nl++;
          lastNl = o;
          lastCr = o;
        } else if (c === 0x0a) {
          if (o === 0 || bytes[at + o - 1] !== 0x0d) nl++;
          lastNl = o;
        }
      }
      this.skNl[k] = nl;
      this.skLastNl[k] = lastNl;
      this.skLastCr[k] = lastCr;
      if (k < FIELD_COUNT) this.skField[k] = order[k];
      at += len;
    }
    this.skSegStart[FIELD_COUNT + 1] = at;
    this.skWordStart[FIELD_COUNT + 1] = w;
    this.skWords = words;
    this.memos = memoGroups(order);
    this.memoMiss = 0;
    this.skOk = true;
    this.skFails = 0;
    this.skRetryAt = 0x7fffffff;
  }

  /** True when the '>' at buf[i] ends "]]>" (looking back across the buffer boundary). */
  private cdEndBefore(buf: Buffer, i: number): boolean {
    const p1 = i >= 1 ? buf[i - 1] : this.tail1;
    const p2 = i >= 2 ? buf[i - 2] : i === 1 ? this.tail1 : this.tail0;
    return p1 === 0x5d && p2 === 0x5d;
  }

  private flushBrackets(count: number, i: number): void {
    for (let k = 0; k < count; k++) this.emitCp(0x5d, this.line, this.colAt(this.base + i));
    this.brackets = 0;
  }

  /** Sets up the PI after its target; true when the target is directly followed by "?". */
  private beginPI(src: Uint8Array, s: number, e: number, buf: Buffer, i: number): boolean {
    const c = buf[i];
    const len = e - s;
    const isXml =
      len === 3 && (src[s] | 0x20) === 0x78 && (src[s + 1] | 0x20) === 0x6d && (src[s + 2] | 0x20) === 0x6c;
    this.piIsDecl = false;
    if (src[s] < 0x80 && NAME_START[src[s]] !== 1) {
      this.failTok('a processing instruction must start with a name (its target)');
    }
    if (isXml) {
      const exact = src[s] === 0x78 && src[s + 1] === 0x6d && src[s + 2] === 0x6c;
      if (!exact || this.tokAbs !== this.bomLen) {
        this.failTok('the XML declaration (<?xml ...?>) is only allowed at the very start of the file');
      }
      this.piIsDecl = true;
      this.declLen = 0;
    }
    if (c === 0x3f) {
      this.state = S_PI_END;
      return true;
    }
    if (!isWsByte(c)) {
      this.failAt('a processing instruction\'s name must be followed by a space or by "?>"', i);
    }
    this.piQ = false;
    this.state = S_PI_BODY;
    return false;
  }

  private checkDecl(): void {
    this.piIsDecl = false;
    // The body still holds the trailing '?' of "?>".
    const body = this.declBuf.toString('latin1', 0, this.declLen > 0 ? this.declLen - 1 : 0);
    const m = XML_DECL_RE.exec(body);
    if (m === null) this.failTok('malformed XML declaration');
    if (m[2] !== '1.0') this.failTok(`XML version "${m[2]}" is not supported; it must be 1.0`);
    if (m[4] !== undefined && m[4].toLowerCase() !== 'utf-8') {
      this.failTok(`the file declares encoding "${m[4]}"; it must be UTF-8`);
    }
    if (m[6] !== undefined && m[6] !== 'yes' && m[6] !== 'no') {
      this.failTok('standalone must be "yes" or "no"');
    }
  }

  private beginEntity(i: number): void {
    // The fast text loop never passes a '&', so any text before it is already in scratch.
    this.entLine = this.line;
    this.entCol = this.colAt(this.base + i);
    this.entKind = 0;
    this.entLen = 0;
    this.entValue = 0;
    this.entName = '';
  }

  private entityByte(c: number): void {
    const k = this.entLen++;
    if (this.entKind === 0) {
      if (k === 0 && c === 0x23) {
        this.entKind = 2;
        return;
      }
      if (c < 0x80 && NAME_START[c] === 1) {
        this.entKind = 1;
        this.entName = String.fromCharCode(c);
        return;
      }
      this.failEnt(`"&" must start an entity reference such as &amp; (write "&amp;" for a literal "&")`);
    }
    if (this.entKind === 1) {
      if (c < 0x80 && NAME_CHAR[c] === 1) {
        if (this.entName.length < 32) this.entName += String.fromCharCode(c);
        return;
      }
      this.failEnt(`malformed entity reference "&${this.entName}..." (missing ";"?)`);
    }
    if (this.entKind === 2 && k === 1 && c === 0x78) {
      this.entKind = 3;
      return;
    }
    let digit = -1;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (this.entKind === 3 && c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
    else if (this.entKind === 3 && c >= 0x41 && c <= 0x46) digit = c - 0x41 + 10;
    if (digit < 0) this.failEnt('malformed character reference');
    const v = this.entValue * (this.entKind === 3 ? 16 : 10) + digit;
    this.entValue = v > 0x10ffff ? 0x110000 : v;
  }

  private failEnt(message: string): never {
    this.fail(message, this.entLine, this.entCol);
  }

  private endEntity(): void {
    let cp: number;
    if (this.entKind === 1) {
      switch (this.entName) {
        case 'amp':
          cp = 0x26;
          break;
        case 'lt':
          cp = 0x3c;
          break;
        case 'gt':
          cp = 0x3e;
          break;
        case 'quot':
          cp = 0x22;
          break;
        case 'apos':
          cp = 0x27;
          break;
        default:
          this.failEnt(
            `undeclared entity &${this.entName}; (only &amp; &lt; &gt; &quot; &apos; and character references are allowed)`,
          );
      }
    } else if (this.entKind === 0) {
      this.failEnt('empty entity reference "&;"');
    } else {
      const digits = this.entLen - (this.entKind === 3 ? 2 : 1);
      if (digits <= 0) this.failEnt('malformed character reference');
      cp = this.entValue;
      const ok =
        cp === 0x09 ||
        cp === 0x0a ||
        cp === 0x0d ||
        (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) ||
        (cp >= 0x10000 && cp <= 0x10ffff);
      if (!ok) {
        this.failEnt(
          cp > 0x10ffff
            ? 'character reference beyond U+10FFFF'
            : `character reference to ${describeCp(cp)}, which XML does not allow`,
        );
      }
    }
    this.emitCp(cp, this.entLine, this.entCol);
  }
}

/**
 * The fields of a row in file order, when every one was read as a single plain run (vKind 1) and
 * they lie in order, apart, inside the row buf[s..e) and with markup before the first and after
 * the last; null otherwise.
 */
function learnOrder(
  vKind: Uint8Array,
  vStart: Int32Array,
  vEnd: Int32Array,
  s: number,
  e: number,
): number[] | null {
  if (s < 0 || e <= s) return null;
  const order: number[] = [];
  for (let f = 0; f < FIELD_COUNT; f++) {
    if (vKind[f] !== 1) return null;
    let k = order.length;
    while (k > 0 && vStart[order[k - 1]] > vStart[f]) k--;
    order.splice(k, 0, f);
  }
  let prev = s;
  for (const f of order) {
    if (vStart[f] <= prev || vEnd[f] < vStart[f]) return null;
    prev = vEnd[f];
  }
  return prev < e ? order : null;
}

/**
 * Containers whose values repeat from row to row as a whole: a payor's (a file has a handful of
 * payor accounts). An employee's do not, often enough: most have one or a few rows in a file.
 */
const MEMO_GROUPS = ['Payor/'];

/** Per slot of a learned layout (order: fields in file order), a memo for each group starting there. */
function memoGroups(order: readonly number[]): (BlockMemo | null)[] {
  const memos = new Array<BlockMemo | null>(FIELD_COUNT).fill(null);
  for (const prefix of MEMO_GROUPS) {
    let first = -1;
    let count = 0;
    for (let k = 0; k < order.length; k++) {
      if (!FIELD_PATHS[order[k]].startsWith(prefix)) continue;
      if (first < 0) first = k;
      count++;
    }
    // Only a group whose values follow each other (as they do when their container is written once).
    let contiguous = first >= 0;
    for (let k = first; contiguous && k < first + count; k++)
      contiguous = FIELD_PATHS[order[k]].startsWith(prefix);
    if (contiguous) memos[first] = new BlockMemo(count);
  }
  return memos;
}

/**
 * Checks the markup of a row, buf[s..e) less its values (order[k] is the field of the k-th value
 * in the file): "<row>" at s, then only whitespace (space, tab, CR, LF) and the start and end
 * tags of the schema's elements written plainly ("<Name>", "</Name>"), properly nested, where
 * each value sits directly between its own leaf's start and end tags and no other text appears,
 * and the row's "</row>" ending at e. Each segment between values is at least 8 bytes long.
 */
function checkLayout(
  buf: Buffer,
  s: number,
  e: number,
  order: readonly number[],
  vStart: Int32Array,
  vEnd: Int32Array,
): boolean {
  const stack: SchemaNode[] = [];
  let k = 0;
  let p = s;
  let segFrom = s;
  while (p < e) {
    const top = stack.length > 0 ? stack[stack.length - 1] : null;
    if (k < order.length && p === vStart[order[k]]) {
      // A value: directly after its leaf's start tag, directly before an end tag.
      if (top === null || top.kind !== K_LEAF || top.field !== order[k]) return false;
      if (buf[p - 1] !== 0x3e || p - segFrom < 8) return false;
      p = vEnd[order[k]];
      segFrom = p;
      k++;
      if (buf[p] !== 0x3c || buf[p + 1] !== 0x2f) return false;
      continue;
    }
    const c = buf[p];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      if (top === null || top.kind === K_LEAF) return false;
      p++;
      continue;
    }
    if (c !== 0x3c) return false;
    if (buf[p + 1] === 0x2f) {
      if (top === null) return false;
      const name = top.bytes;
      const close = p + 2 + name.length;
      if (close >= e || buf[close] !== 0x3e || !bytesAt(buf, p + 2, name)) return false;
      stack.pop();
      p = close + 1;
      if (stack.length === 0) return p === e && k === order.length && e - segFrom >= 8;
      continue;
    }
    let node: SchemaNode | null = null;
    if (top === null) {
      if (p !== s) return false;
      node = ROW_NODE;
    } else if (top.kind !== K_LEAF) {
      for (const child of top.children) {
        const close = p + 1 + child.bytes.length;
        if (close < e && buf[close] === 0x3e && bytesAt(buf, p + 1, child.bytes)) node = child;
      }
    }
    if (node === null) return false;
    stack.push(node);
    p += node.bytes.length + 2;
    // A leaf holds its value and nothing else.
    if (node.kind === K_LEAF && (k >= order.length || p !== vStart[order[k]])) return false;
  }
  return false;
}

function bytesEqual(src: Uint8Array, s: number, e: number, name: Uint8Array): boolean {
  const len = e - s;
  if (len !== name.length) return false;
  for (let k = 0; k < len; k++) if (src[s + k] !== name[k]) return false;
  return true;
}

function bytesAt(buf: Uint8Array, pos: number, name: Uint8Array): boolean {
  for (let k = 0; k < name.length; k++) if (buf[pos + k] !== name[k]) return false;
  return true;
}

function findChild(parent: SchemaNode, src: Uint8Array, s: number, e: number): SchemaNode | null {
  const children = parent.children;
  for (let k = 0; k < children.length; k++) {
    if (bytesEqual(src, s, e, children[k].bytes)) return children[k];
  }
  return null;
}

function nameText(src: Uint8Array, s: number, e: number): string {
  return Buffer.from(src.buffer, src.byteOffset + s, e - s).toString('utf8');
}

function showByte(c: number): string {
  if (c >= 0x21 && c < 0x7f) return `"${String.fromCharCode(c)}"`;
  if (c === 0x20) return 'a space';
  if (c === 0x0a || c === 0x0d) return 'a line break';
  return `byte 0x${c.toString(16).toUpperCase().padStart(2, '0')}`;
}
