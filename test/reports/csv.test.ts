// The hand-written RFC 4180 writer against csv-stringify (what it replaced) on awkward values:
// byte for byte the same records.
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { csvRecord, csvRecords } from '../../src/server/reports/csv.js';

const AWKWARD = [
  '',
  'plain',
  'a,b',
  'say "hi"',
  '"',
  '""',
  'line one\nline two',
  'cr\ronly',
  'crlf\r\nend',
  '\n',
  ' leading and trailing ',
  'Dunkin\' "Donuts", LLC — Café & Crème',
  'tab\there',
  'back\\slash \\N',
  '=1+2',
  '-5',
  'é ✓ 💸',
  'semi;colon',
];

describe('csvRecord', () => {
  it('matches csv-stringify (CRLF records, line breaks quoted) on every awkward value', () => {
    const rows: (string | number)[][] = AWKWARD.map((v, i) => [v, i, `${v}|${v}`, 0, -12, '1187.50']);
    rows.push(AWKWARD);
    const expected = stringify(rows, { record_delimiter: '\r\n', quote_record_delimiter: true });
    expect(csvRecords(rows)).toBe(expected);
    for (const row of rows)
      expect(csvRecord(row)).toBe(
        stringify([row], { record_delimiter: '\r\n', quote_record_delimiter: true }),
      );
  });

  it('quotes exactly the fields holding a quote, comma, CR or LF', () => {
    expect(csvRecord(['a', 'b c', 'd,e', 'f"g', 'h\ni', 'j\rk', ''])).toBe(
      'a,b c,"d,e","f""g","h\ni","j\rk",\r\n',
    );
  });
});
