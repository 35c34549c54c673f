import { describe, expect, it } from 'vitest';
import { parseAmountCents } from '../../src/server/ingest/validate.js';
import { FIELD_PATHS, readRows, XmlError } from '../../src/server/ingest/xml-reader.js';
import { referenceRead } from './reference-reader.js';
import {
  comparable,
  docXml,
  type ReadOutcome,
  readAll,
  rowXml,
  sample,
  sampleNames,
  utf8,
} from './support.js';

/** Row count and total of every sample, computed independently with a regex over the text. */
function regexFacts(text: string): { rows: number; cents: number } {
  const rows = text.match(/<row>/g)?.length ?? 0;
  let cents = 0;
  for (const m of text.matchAll(/<Amount>\$(\d+)\.(\d\d)<\/Amount>/g))
    cents += Number(m[1]) * 100 + Number(m[2]);
  return { rows, cents };
}

// Checked once by hand against the regex totals above (and the MANIFEST's files).
const SAMPLE_FACTS: Record<string, { rows: number; cents: number }> = {
  'jakedjohnson_medium_27rows_minified.xml': { rows: 27, cents: 17_299 },
  'jakedjohnson_small_2rows_handedited.xml': { rows: 2, cents: 1_410 },
  'ninjapanda47_testData_2rows_row2addressEdited.xml': { rows: 2, cents: 971 },
  'reconstructed_first200rows_originalformat.xml': { rows: 200, cents: 112_466 },
  'rexmeeks_SHORTESTdunkinFixedZipCodes_426rows_zipAltered_minified.xml': { rows: 426, cents: 242_740 },
  'rexmeeks_dunkinShort_18rows_original.xml': { rows: 18, cents: 10_512 },
  'rexmeeks_dunkinSingle_1row_original.xml': { rows: 1, cents: 815 },
};

function ok(outcome: ReadOutcome) {
  if (!outcome.ok) throw new Error(`expected rows, got: ${outcome.message}`);
  return outcome.rows;
}

async function refused(input: string | Uint8Array, splits: number[] = []) {
  const outcome = await readAll(typeof input === 'string' ? utf8(input) : input, splits);
  if (outcome.ok) throw new Error('expected XML_MALFORMED, the file was accepted');
  return outcome;
}

describe('the real samples', () => {
  it('covers every sample file in the folder', () => {
    expect(sampleNames()).toEqual(Object.keys(SAMPLE_FACTS).sort());
  });

  for (const [name, facts] of Object.entries(SAMPLE_FACTS)) {
    it(`${name}: ${facts.rows} rows, ${facts.cents} cents`, async () => {
      const bytes = sample(name);
      expect(regexFacts(bytes.toString('utf8'))).toEqual(facts);
      const rows = ok(await readAll(bytes));
      expect(rows.length).toBe(facts.rows);
      let cents = 0;
      for (const r of rows) {
        const a = parseAmountCents(r.values.Amount ?? '');
        if (typeof a !== 'number') throw new Error(`row ${r.rowNumber}: ${a.message}`);
        cents += a;
        expect(Object.keys(r.values)).toEqual([...FIELD_PATHS]);
        expect(r.unknownPaths).toEqual([]);
        expect(r.repeatedPaths).toEqual([]);
      }
      expect(cents).toBe(facts.cents);
      expect(rows.map((r) => r.rowNumber)).toEqual(rows.map((_, k) => k + 1));
      // The same rows as the saxes-based reference.
      const ref = referenceRead(bytes);
      expect(ref.ok).toBe(true);
      if (ref.ok) expect(comparable(rows)).toEqual(ref.rows);
    });
  }

  it('gives each row the line of its <row> tag', async () => {
    const rows = ok(await readAll(sample('rexmeeks_dunkinShort_18rows_original.xml')));
    expect(rows.map((r) => r.line)).toEqual(rows.map((_, k) => 2 + 29 * k));
    const minified = ok(await readAll(sample('jakedjohnson_medium_27rows_minified.xml')));
    expect(new Set(minified.map((r) => r.line))).toEqual(new Set([1]));
  });

  it('reads the first row exactly, apostrophes raw and values untrimmed', async () => {
    const [row] = ok(await readAll(sample('rexmeeks_dunkinSingle_1row_original.xml')));
    expect(row.values).toEqual({
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
    });
  });
});

describe('chunk boundaries', () => {
  it('gives the same rows whatever byte the input is split at', async () => {
    const bytes = sample('rexmeeks_dunkinSingle_1row_original.xml');
    const whole = comparable(ok(await readAll(bytes)));
    for (let at = 1; at < bytes.length; at++) {
      expect(comparable(ok(await readAll(bytes, [at], undefined, at % 2 === 0)))).toEqual(whole);
    }
  });

  it('splits inside multi-byte characters, references, CDATA, comments and CRLF the same', async () => {
    const text = `\uFEFF<?xml version="1.0" encoding="utf-8"?>\r\n<!-- héllo -->\r\n${docXml([
      rowXml({
        FirstName: 'Zoë&#x20;&#233;😀',
        LastName: 'O&apos;Brien-Łukasz',
        Name: "<![CDATA[Dunkin' & <Co>]]>",
        City: 'Kerl<!-- c -->ukemouth<?pi x?>',
        Line1: 'a\r\nb\rc',
        DBA: '&lt;&gt;&amp;&quot;&#39;&#x10FFFF;',
      }),
    ])}\r\n`;
    const bytes = utf8(text);
    const whole = ok(await readAll(bytes));
    expect(whole[0].values['Employee/FirstName']).toBe('Zoë é😀');
    expect(whole[0].values['Employee/LastName']).toBe("O'Brien-Łukasz");
    expect(whole[0].values['Payor/Name']).toBe("Dunkin' & <Co>");
    expect(whole[0].values['Payor/Address/City']).toBe('Kerlukemouth');
    expect(whole[0].values['Payor/Address/Line1']).toBe('a\nb\nc');
    expect(whole[0].values['Payor/DBA']).toBe(`<>&"'\u{10FFFF}`);
    const ref = referenceRead(bytes);
    expect(ref.ok && ref.rows).toEqual(comparable(whole));
    for (let at = 1; at < bytes.length; at++) {
      expect(comparable(ok(await readAll(bytes, [at])))).toEqual(comparable(whole));
    }
  });

  it('reports the same error at the same place whatever the split', async () => {
    const cases = [
      docXml([rowXml({ FirstName: 'Zoë\u0001' })]),
      docXml([rowXml({ City: 'a&nope;b' })]),
      `${docXml([rowXml()])}<!-- trailing -- comment -->`,
      docXml([rowXml({ LastName: 'Hay</LastName>' })]),
    ];
    for (const text of cases) {
      const bytes = utf8(text);
      const whole = await refused(bytes);
      for (let at = 1; at < bytes.length; at += 3) {
        expect(await refused(bytes, [at])).toEqual(whole);
      }
    }
  });

  it('gives the same rows for random chunk sizes on the 426-row and 200-row samples', async () => {
    for (const name of [
      'rexmeeks_SHORTESTdunkinFixedZipCodes_426rows_zipAltered_minified.xml',
      'reconstructed_first200rows_originalformat.xml',
    ]) {
      const bytes = sample(name);
      const whole = ok(await readAll(bytes));
      let seed = 12345;
      const rand = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed;
      };
      for (let trial = 0; trial < 20; trial++) {
        const splits: number[] = [];
        const maxChunk = 1 + (rand() % 5000);
        for (let p = 0; p < bytes.length; p += 1 + (rand() % maxChunk)) splits.push(p);
        const rows = ok(await readAll(bytes, splits, undefined, trial % 2 === 1));
        expect(rows).toEqual(whole);
      }
    }
  });
});

describe('hostile and malformed input is refused with a position', () => {
  const row = rowXml({}, '');
  const cases: { name: string; input: string | Uint8Array; message: RegExp; line: number; column: number }[] =
    [
      {
        name: 'a DTD',
        input: `<!DOCTYPE root [<!ELEMENT root ANY>]><root>${row}</root>`,
        message: /DOCTYPE declarations are not allowed/,
        line: 1,
        column: 1,
      },
      {
        name: 'an internal entity declaration outside a DTD',
        input: `<root><!ENTITY x "y">${row}</root>`,
        message: /ENTITY and ELEMENT declarations are not allowed/,
        line: 1,
        column: 7,
      },
      {
        name: 'billion laughs',
        input:
          '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n<root>&lol3;</root>',
        message: /DOCTYPE/,
        line: 2,
        column: 1,
      },
      {
        name: 'an external entity (XXE)',
        input: '<!DOCTYPE root [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<root>&xxe;</root>',
        message: /DOCTYPE/,
        line: 1,
        column: 1,
      },
      {
        name: 'a parameter entity',
        input: '<!DOCTYPE root [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]><root/>',
        message: /DOCTYPE/,
        line: 1,
        column: 1,
      },
      {
        name: 'an undeclared entity reference',
        input: `<root>\n  <row><Amount>&foo;</Amount></row>\n</root>`,
        message: /undeclared entity &foo;/,
        line: 2,
        column: 16,
      },
      {
        name: 'an entity reference without ";"',
        input: `<root><row><Amount>AT&T</Amount></row></root>`,
        message: /malformed entity reference/,
        line: 1,
        column: 22,
      },
      {
        name: 'a truncated file',
        input: `<root>\n${row}\n<row><Employee><First`,
        message: /ends in the middle of a tag/,
        line: 3,
        column: 22,
      },
      {
        name: 'a file cut between rows',
        input: `<root>\n${row}\n`,
        message: /ends before <root> \(opened at line 1, column 1\) is closed/,
        line: 3,
        column: 1,
      },
      {
        name: 'a wrong root element',
        input: `<rows>${row}</rows>`,
        message: /must be <root>, not <rows>/,
        line: 1,
        column: 1,
      },
      { name: 'an empty file', input: '', message: /the file is empty/, line: 1, column: 1 },
      { name: 'a file with only a BOM', input: '\uFEFF', message: /the file is empty/, line: 1, column: 1 },
      { name: 'no <root>', input: '<!-- nothing -->\n', message: /no <root> element/, line: 2, column: 1 },
      { name: 'no rows', input: '<root>\n</root>', message: /no <row> elements/, line: 2, column: 1 },
      {
        name: 'another element under <root>',
        input: `<root>${row}<total>1</total></root>`,
        message: /only <row> elements are allowed inside <root>, found <total>/,
        line: 1,
        column: row.length + 7,
      },
      {
        name: 'invalid UTF-8 inside a value',
        input: Buffer.concat([
          utf8('<root><row><Amount>$8'),
          Buffer.from([0xc3, 0x28]),
          utf8('</Amount></row></root>'),
        ]),
        message: /invalid UTF-8 byte sequence \(C3 28\)/,
        line: 1,
        column: 22,
      },
      {
        name: 'an overlong UTF-8 encoding',
        input: Buffer.concat([
          utf8('<root><row><City>'),
          Buffer.from([0xc0, 0xaf]),
          utf8('</City></row></root>'),
        ]),
        message: /invalid UTF-8/,
        line: 1,
        column: 18,
      },
      {
        name: 'a UTF-8 encoded surrogate',
        input: Buffer.concat([
          utf8('<root><row><City>ab'),
          Buffer.from([0xed, 0xa0, 0x80]),
          utf8('</City></row></root>'),
        ]),
        message: /invalid UTF-8/,
        line: 1,
        column: 20,
      },
      {
        name: 'a code point above U+10FFFF',
        input: Buffer.concat([
          utf8('<root><row><City>'),
          Buffer.from([0xf4, 0x90, 0x80, 0x80]),
          utf8('</City></row></root>'),
        ]),
        message: /invalid UTF-8/,
        line: 1,
        column: 18,
      },
      {
        name: 'invalid UTF-8 in a comment',
        input: Buffer.concat([utf8('<!-- '), Buffer.from([0xff]), utf8(' -->')]),
        message: /invalid UTF-8/,
        line: 1,
        column: 6,
      },
      {
        name: 'a truncated multi-byte character at the end',
        input: Buffer.concat([utf8(`<root>${row}</root>\n<!-- `), Buffer.from([0xe2, 0x82])]),
        message: /invalid UTF-8 byte sequence \(E2 82\)/,
        line: 2,
        column: 6,
      },
      {
        name: 'a UTF-16 file',
        input: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<root>${row}</root>`, 'utf16le')]),
        message: /UTF-16/,
        line: 1,
        column: 1,
      },
      {
        name: 'UTF-16 without a byte order mark',
        input: Buffer.from(`<root>${row}</root>`, 'utf16le'),
        message: /UTF-16/,
        line: 1,
        column: 1,
      },
      {
        name: 'nesting deeper than 16',
        input: `<root><row>${'<a>'.repeat(15)}x${'</a>'.repeat(15)}</row></root>`,
        message: /nested deeper than 16 levels/,
        line: 1,
        column: 12 + 3 * 14,
      },
      {
        name: 'a text value over 10,000 bytes',
        input: `<root><row>\n<FirstName>${'a'.repeat(10_001)}</FirstName></row></root>`,
        message: /text of <FirstName> is longer than 10000 bytes/,
        line: 2,
        column: 1,
      },
      {
        name: 'a tag name over 100 bytes',
        input: `<root><row><${'n'.repeat(101)}>x</${'n'.repeat(101)}></row></root>`,
        message: /name longer than 100 bytes/,
        line: 1,
        column: 12,
      },
      {
        name: 'garbage after the root',
        input: `<root>${row}</root>\ngarbage`,
        message: /unexpected content after <\/root>/,
        line: 2,
        column: 1,
      },
      {
        name: 'a second root',
        input: `<root>${row}</root><root>${row}</root>`,
        message: /unexpected content after <\/root>/,
        line: 1,
        column: row.length + 14,
      },
      {
        name: 'mismatched tags',
        input: `<root>\n<row>\n<Amount>1</amount>\n</row>\n</root>`,
        message: /end tag <\/amount> does not match <Amount>, which was opened at line 3, column 1/,
        line: 3,
        column: 10,
      },
      {
        name: 'a control character',
        input: '<root><row><City>a\u0001b</City></row></root>',
        message: /control character U\+0001/,
        line: 1,
        column: 19,
      },
      {
        name: 'a NUL byte',
        input: Buffer.from('<root><row><City>a\u0000b</City></row></root>', 'latin1'),
        message: /control character U\+0000/,
        line: 1,
        column: 19,
      },
      {
        name: 'an attribute',
        input: `<root><row id="1">${row}</row></root>`,
        message: /attributes are not allowed/,
        line: 1,
        column: 12,
      },
      {
        name: 'a namespace declaration',
        input: `<root xmlns="urn:x">${row}</root>`,
        message: /attributes are not allowed/,
        line: 1,
        column: 7,
      },
      {
        name: 'mixed content',
        input: '<root><row><Employee><FirstName>Ar<b/>iel</FirstName></Employee></row></root>',
        message: /text mixed with child elements inside <FirstName>/,
        line: 1,
        column: 35,
      },
      {
        name: 'text directly inside <row>',
        input: '<root><row>8.15<Amount>1</Amount></row></root>',
        message: /text is not allowed directly inside <row>/,
        line: 1,
        column: 12,
      },
      {
        name: '"]]>" in text',
        input: '<root><row><City>a]]>b</City></row></root>',
        message: /"\]\]>" is not allowed in text/,
        line: 1,
        column: 21,
      },
      {
        name: 'a character reference to a forbidden character',
        input: '<root><row><City>a&#0;</City></row></root>',
        message: /character reference to U\+0000/,
        line: 1,
        column: 19,
      },
      {
        name: 'a character reference to a surrogate',
        input: '<root><row><City>&#xD800;</City></row></root>',
        message: /character reference to U\+D800/,
        line: 1,
        column: 18,
      },
      {
        name: 'a character reference beyond Unicode',
        input: '<root><row><City>&#x110000;</City></row></root>',
        message: /beyond U\+10FFFF/,
        line: 1,
        column: 18,
      },
      {
        name: 'an XML declaration that is not first',
        input: `\n<?xml version="1.0"?><root>${row}</root>`,
        message: /only allowed at the very start/,
        line: 2,
        column: 1,
      },
      {
        name: 'XML 1.1',
        input: `<?xml version="1.1"?><root>${row}</root>`,
        message: /version "1.1" is not supported/,
        line: 1,
        column: 1,
      },
      {
        name: 'a non-UTF-8 encoding declaration',
        input: `<?xml version="1.0" encoding="ISO-8859-1"?><root>${row}</root>`,
        message: /declares encoding "ISO-8859-1"; it must be UTF-8/,
        line: 1,
        column: 1,
      },
      {
        name: '"--" inside a comment',
        input: `<root><!-- a -- b -->${row}</root>`,
        message: /"--" is not allowed inside a comment/,
        line: 1,
        column: 14,
      },
      {
        name: 'CDATA outside the root',
        input: `<![CDATA[x]]><root>${row}</root>`,
        message: /CDATA section is not allowed outside/,
        line: 1,
        column: 1,
      },
      {
        name: 'an unclosed comment',
        input: `<root>${row}</root><!-- never closed`,
        message: /ends in the middle of a comment/,
        line: 1,
        column: row.length + 31,
      },
    ];

  for (const c of cases) {
    it(`${c.name}`, async () => {
      const bytes = typeof c.input === 'string' ? utf8(c.input) : c.input;
      const outcome = await refused(bytes);
      expect(outcome.message).toMatch(c.message);
      expect({ line: outcome.line, column: outcome.column }).toEqual({ line: c.line, column: c.column });
      expect(outcome.message).toContain(`(line ${c.line}, column ${c.column})`);
      // The saxes-based reference refuses it too (for its own reasons).
      expect(referenceRead(bytes).ok).toBe(false);
    });
  }

  it('counts columns in characters, not bytes', async () => {
    const outcome = await refused('<root><row><City>Zoë😀\u0001</City></row></root>');
    // <root><row><City> is 17 characters, then Z o ë 😀: the control character is the 22nd.
    expect(outcome.column).toBe(22);
  });

  it('throws XmlError with code XML_MALFORMED', async () => {
    const err = await readRows(
      (async function* () {
        yield utf8('<root>');
      })(),
      () => {},
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XmlError);
    expect(err).toMatchObject({ code: 'XML_MALFORMED', line: 1, column: 7 });
  });
});

describe('what is accepted', () => {
  it('an XML declaration, a UTF-8 BOM, comments, processing instructions and CDATA', async () => {
    const text = `\uFEFF<?xml version='1.0' encoding='UTF-8' standalone="yes" ?>\n<?app hint?>\n<!-- export -->\n<root>\n<!-- a -->${rowXml(
      {
        Amount: '<![CDATA[$8.15]]>',
      },
    )}<?next?>\n</root>\n<!-- end -->\n`;
    const rows = ok(await readAll(utf8(text)));
    expect(rows[0].values.Amount).toBe('$8.15');
  });

  it('empty elements as empty strings, untrimmed values and whitespace-only values', async () => {
    const rows = ok(
      await readAll(
        utf8(
          docXml([
            rowXml({ FirstName: '  Ariel ', LastName: '', DOB: ' ' }).replace(
              "<DBA>Dunkin' Donuts</DBA>",
              '<DBA/>',
            ),
          ]),
        ),
      ),
    );
    expect(rows[0].values['Employee/FirstName']).toBe('  Ariel ');
    expect(rows[0].values['Employee/LastName']).toBe('');
    expect(rows[0].values['Employee/DOB']).toBe(' ');
    expect(rows[0].values['Payor/DBA']).toBe('');
  });

  it('reports unknown elements and repeated leaves, keeping the first value', async () => {
    const text = docXml([
      rowXml({
        FirstName: 'Ariel</FirstName><MiddleName>J</MiddleName><FirstName>Other',
        Amount: '$8.15</Amount><Amount>$9.99</Amount><Note><Deep>x</Deep></Note><Amount>$1.00',
      }),
    ]);
    const [row] = ok(await readAll(utf8(text)));
    expect(row.values['Employee/FirstName']).toBe('Ariel');
    expect(row.values.Amount).toBe('$8.15');
    expect(row.unknownPaths).toEqual(['Employee/MiddleName', 'Note']);
    expect(row.repeatedPaths).toEqual(['Employee/FirstName', 'Amount']);
  });

  it('an element inside a leaf makes the leaf unknown content, not a value', async () => {
    const [row] = ok(await readAll(utf8(docXml([rowXml({ Zip: '<Plus4>1234</Plus4>' })]))));
    expect(row.values['Payor/Address/Zip']).toBeUndefined();
    expect(row.unknownPaths).toEqual(['Payor/Address/Zip/Plus4']);
  });

  it('whitespace between elements of any length, and tabs, CR and LF inside tags', async () => {
    const text = `<root${'\n'.repeat(3)}>${' '.repeat(20_000)}<row\t>${rowXml({}, '')
      .replace(/^<row>/, '')
      .replace('<Amount>', '<Amount\r\n>')}\n</root\n>`;
    const rows = ok(await readAll(utf8(text)));
    expect(rows).toHaveLength(1);
    expect(rows[0].values.Amount).toBe('$8.15');
  });

  it('a comment of several megabytes, streamed in small chunks', async () => {
    const bytes = Buffer.concat([
      utf8('<!--'),
      Buffer.alloc(3_000_000, 0x61),
      utf8('-->\n'),
      utf8(docXml([rowXml()])),
    ]);
    const splits = Array.from({ length: Math.ceil(bytes.length / 65_536) }, (_, k) => k * 65_536);
    expect(ok(await readAll(bytes, splits))).toHaveLength(1);
  });

  it('awaits a promise returned by onRow before reading on', async () => {
    const bytes = sample('reconstructed_first200rows_originalformat.xml');
    let inFlight = 0;
    let maxInFlight = 0;
    const seen: number[] = [];
    async function* slow() {
      for (let p = 0; p < bytes.length; p += 4096) yield bytes.subarray(p, p + 4096);
    }
    const { rowCount } = await readRows(slow(), async (row) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      seen.push(row.rowNumber);
      inFlight--;
    });
    expect(rowCount).toBe(200);
    expect(maxInFlight).toBe(1);
    expect(seen).toEqual(Array.from({ length: 200 }, (_, k) => k + 1));
  });

  it('honours custom limits', async () => {
    const text = docXml([rowXml({ FirstName: 'Abcdefghij' })]);
    expect((await readAll(utf8(text), [], { maxTextBytes: 9 })).ok).toBe(false);
    expect((await readAll(utf8(text), [], { maxTextBytes: 42 })).ok).toBe(true);
    expect((await readAll(utf8(text), [], { maxDepth: 4 })).ok).toBe(false);
    expect((await readAll(utf8(text), [], { maxDepth: 5 })).ok).toBe(true);
  });
});
