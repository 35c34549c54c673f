// Helpers shared by the ingest tests: feeding bytes to the reader in chosen chunks, and the sample
// files of the real export.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type RawRow, type ReaderLimits, readRows, XmlError } from '../../src/server/ingest/xml-reader.js';

export const SAMPLES_DIR = fileURLToPath(new URL('../../../shared/samples/dunkin-peers/', import.meta.url));

export function sampleNames(): string[] {
  return readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith('.xml'))
    .sort();
}

export function sample(name: string): Buffer {
  return readFileSync(SAMPLES_DIR + name);
}

/** Yields bytes in pieces: split points are offsets into bytes (sorted, deduplicated here). */
export async function* pieces(bytes: Uint8Array, splits: readonly number[], asUint8 = false) {
  const points = [...new Set(splits)].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
  let start = 0;
  for (const p of [...points, bytes.length]) {
    const part = bytes.subarray(start, p);
    // Some pieces as plain Uint8Array copies, to exercise both input types.
    yield asUint8 ? new Uint8Array(part) : Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    start = p;
  }
}

export type ReadOutcome =
  | { ok: true; rows: RawRow[] }
  | { ok: false; message: string; line: number; column: number };

export async function readAll(
  bytes: Uint8Array,
  splits: readonly number[] = [],
  limits?: ReaderLimits,
  asUint8 = false,
): Promise<ReadOutcome> {
  const rows: RawRow[] = [];
  try {
    const { rowCount } = await readRows(
      pieces(bytes, splits, asUint8),
      (r) => {
        rows.push(r);
      },
      limits,
    );
    if (rowCount !== rows.length) throw new Error(`rowCount ${rowCount} but ${rows.length} rows`);
    return { ok: true, rows };
  } catch (err) {
    if (err instanceof XmlError) {
      expectCode(err);
      return { ok: false, message: err.message, line: err.line, column: err.column };
    }
    throw err;
  }
}

function expectCode(err: XmlError): void {
  if (err.code !== 'XML_MALFORMED') throw new Error(`unexpected code ${err.code}`);
}

/** The parts of a row the reference reader also knows (it has no line numbers). */
export function comparable(rows: readonly RawRow[]) {
  return rows.map((r) => ({
    rowNumber: r.rowNumber,
    values: r.values,
    unknownPaths: r.unknownPaths,
    repeatedPaths: r.repeatedPaths,
  }));
}

export function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** One well-formed row in the real layout (4-space indent), with values overridable. */
export function rowXml(over: Record<string, string> = {}, indent = '    '): string {
  const v: Record<string, string> = {
    DunkinId: 'EMP-a7f138d9-1885-43db-b5c7-6b7c09020b4f',
    DunkinBranch: 'BRC-bbfbdfe5-0173-4613-8b07-aadb828e67f6',
    FirstName: 'Ariel',
    LastName: 'Hayes',
    DOB: '03-26-1987',
    PhoneNumber: '+14594036784',
    CorpId: 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8',
    ABARouting: '403911437',
    AccountNumber: '40909581',
    Name: "Dunkin' Donuts LLC",
    DBA: "Dunkin' Donuts",
    EIN: '32120240',
    Line1: '999 Hayes Lights',
    City: 'Kerlukemouth',
    State: 'IA',
    Zip: '67485',
    PlaidId: 'ins_116248',
    LoanAccountNumber: '04807469',
    Amount: '$8.15',
    ...over,
  };
  const i1 = indent;
  const i2 = indent.repeat(2);
  const i3 = indent.repeat(3);
  const i4 = indent.repeat(4);
  const nl = indent === '' ? '' : '\n';
  return [
    `${i1}<row>`,
    `${i2}<Employee>`,
    `${i3}<DunkinId>${v.DunkinId}</DunkinId>`,
    `${i3}<DunkinBranch>${v.DunkinBranch}</DunkinBranch>`,
    `${i3}<FirstName>${v.FirstName}</FirstName>`,
    `${i3}<LastName>${v.LastName}</LastName>`,
    `${i3}<DOB>${v.DOB}</DOB>`,
    `${i3}<PhoneNumber>${v.PhoneNumber}</PhoneNumber>`,
    `${i2}</Employee>`,
    `${i2}<Payor>`,
    `${i3}<DunkinId>${v.CorpId}</DunkinId>`,
    `${i3}<ABARouting>${v.ABARouting}</ABARouting>`,
    `${i3}<AccountNumber>${v.AccountNumber}</AccountNumber>`,
    `${i3}<Name>${v.Name}</Name>`,
    `${i3}<DBA>${v.DBA}</DBA>`,
    `${i3}<EIN>${v.EIN}</EIN>`,
    `${i3}<Address>`,
    `${i4}<Line1>${v.Line1}</Line1>`,
    `${i4}<City>${v.City}</City>`,
    `${i4}<State>${v.State}</State>`,
    `${i4}<Zip>${v.Zip}</Zip>`,
    `${i3}</Address>`,
    `${i2}</Payor>`,
    `${i2}<Payee>`,
    `${i3}<PlaidId>${v.PlaidId}</PlaidId>`,
    `${i3}<LoanAccountNumber>${v.LoanAccountNumber}</LoanAccountNumber>`,
    `${i2}</Payee>`,
    `${i2}<Amount>${v.Amount}</Amount>`,
    `${i1}</row>`,
  ].join(nl);
}

export function docXml(rows: string[], indent = '    '): string {
  const nl = indent === '' ? '' : '\n';
  return `<root>${nl}${rows.join(nl)}${nl}</root>`;
}
