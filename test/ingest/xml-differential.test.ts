// Differential tests: the byte-level reader must accept exactly what a saxes-based reference with
// the same policy accepts, extract the same values, and not care where the input is split.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referenceRead } from './reference-reader.js';
import { comparable, docXml, readAll, rowXml, sample, utf8 } from './support.js';

const BASES: Buffer[] = [
  sample('rexmeeks_dunkinSingle_1row_original.xml'),
  sample('jakedjohnson_small_2rows_handedited.xml'),
  utf8(docXml([rowXml({}, ''), rowXml({ FirstName: 'Zoë', Amount: '$1,234.56' }, '')], '')),
  utf8(
    `\uFEFF<?xml version="1.0" encoding="UTF-8"?>\r\n<!-- export -->\r\n${docXml([
      rowXml({
        FirstName: 'Zoë&#x20;&#233;😀',
        LastName: 'O&apos;Brien',
        Name: "<![CDATA[Dunkin' & <Co>]]>",
        City: 'Kerl<!-- c -->ukemouth<?pi x?>',
        Line1: 'a\r\nb',
        DBA: '&lt;&gt;&amp;&quot;&#39;',
      }),
      rowXml({ Amount: '<![CDATA[]]>$2.00' }, '\t'),
    ])}\r\n`,
  ),
  // Several rows in one layout: the reader learns it from the first and reads the others on its
  // row fast path (mutations then land mostly there).
  utf8(docXml(Array.from({ length: 5 }, (_, k) => rowXml(fastRowValues(k))))),
  utf8(
    docXml(
      Array.from({ length: 5 }, (_, k) => rowXml(fastRowValues(k), '\t')),
      '\t',
    ).replace(/\n/g, '\r\n'),
  ),
];

/** Values for the k-th of several rows: the payor repeats, the rest varies in length. */
function fastRowValues(k: number): Record<string, string> {
  return {
    FirstName: ['Ariel', 'Bo', 'Christopher-Jean'][k % 3],
    LastName: 'x'.repeat(k * 5),
    PhoneNumber: `+1459403678${k}`,
    LoanAccountNumber: String(10_000_000 + k * 7919),
    Amount: `$${k + 1}.0${k}`,
  };
}

const SNIPPETS: (string | number[])[] = [
  '&',
  '<',
  '>',
  ']]>',
  ']]',
  ']',
  '&amp;',
  '&lt;',
  '&apos;',
  '&foo;',
  '&#x41;',
  '&#65;',
  '&#0;',
  '&#9;',
  '&#32;',
  '&#xD800;',
  '&#x10FFFF;',
  '&#x110000;',
  '&#X41;',
  '&#;',
  '&#x;',
  '&a',
  '<!-- c -->',
  '<!-- a -- b -->',
  '<!--->',
  '<!---->',
  '-->',
  '<![CDATA[x<y&z]]>',
  '<![CDATA[ ]]>',
  '<![CDATA[',
  '<![cdata[x]]>',
  '<?pi x?>',
  '<?pi?>',
  '<??>',
  '<?xml version="1.0"?>',
  '<?XML version="1.0"?>',
  '<?xml-stylesheet x?>',
  'é',
  '€',
  '😀',
  '\uFFFE',
  '\u0085',
  '\u2028',
  '\r\n',
  '\r',
  '\n',
  '\t',
  ' ',
  '    ',
  '<x/>',
  '<x>',
  '</x>',
  '<x >',
  '<x/ >',
  '< x>',
  '</ x>',
  '<1x>',
  '<é/>',
  '<a:b/>',
  '</row>',
  '<row>',
  '<row/>',
  '<root>',
  '</root>',
  ' a="1"',
  '<!DOCTYPE x>',
  '<!ENTITY y "z">',
  '<!X>',
  '\u0001',
  '\u0000',
  '\u007f',
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  '\uFEFF',
  '<Amount>1</Amount>',
  '<FirstName>x</FirstName>',
  '<FirstName>',
  '</FirstName>',
  '<Employee>',
  '</Employee>',
  '<Address/>',
  '<DBA/>',
  '<!-- x --->',
  '<!-- x -- -->',
  '<!---',
  '<!--',
  '<!',
  '<?',
  '</',
  '\uFFFF',
  '\uFFFD',
  '<![CDATA[]]]>',
  '<![CDATA[]]]]>',
  ']]]>',
  '&#xFFFE;',
  '&#xFFFF;',
  '&#xFFFD;',
  '&#x0D;',
  '&#13;\n',
  '&#x1F600;',
  '&#128512;',
  '&#00000065;',
  '&amp',
  '&gt;',
  '<?x ?>',
  '<?x??>',
  '<?x ?? ?>',
  '<?x?>',
  '</row >',
  '<row\n>',
  '<row\t/>',
  '<a b>',
  '<a\u00b7/>',
  '<\u00b7a/>',
  '<a\u0300/>',
  '<\u0300a/>',
  '<a\u3000/>',
  '<a\u3001/>',
  '<\u200c/>',
  '<\u216b/>',
  '<a.b-c_d/>',
  '<:a/>',
  '<-a/>',
  '<.a/>',
  '<a\uFFFD/>',
  '<\uD7FF/>',
  '<\u{10000}/>',
  '<\u{F0000}/>',
  '<a\u2040/>',
  '<a\u203F/>',
  '<a\u00D7/>',
  '<\u00F7/>',
];

/** Well-formed by themselves: inserted right after a '>' they often keep the document valid. */
const BENIGN: string[] = [
  ' ',
  '\n',
  '\r\n',
  '\t',
  '<!-- c -->',
  '<!---->',
  '<?pi x?>',
  '<![CDATA[ ]]>',
  '&#32;',
  '&#x9;',
  '&#13;',
  '&amp;',
  '&lt;&gt;',
  '&apos;&quot;',
  'é',
  '😀',
  '<![CDATA[x&y]]>',
  '&#233;',
  '&#x1F600;',
  '<Extra/>',
  '<Extra>1</Extra>',
  '<DBA/>',
  '<Amount>$1.00</Amount>',
];

type Op =
  | { kind: 'benign'; at: number; snippet: number }
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'insert'; at: number; snippet: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'duplicate'; at: number; len: number }
  | { kind: 'truncate'; at: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('benign' as const), at: fc.nat(), snippet: fc.nat(BENIGN.length - 1) }),
  fc.record({ kind: fc.constant('benign' as const), at: fc.nat(), snippet: fc.nat(BENIGN.length - 1) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), snippet: fc.nat(SNIPPETS.length - 1) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), snippet: fc.nat(SNIPPETS.length - 1) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 100, max: 3000 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(base: Buffer, ops: readonly Op[]): Buffer {
  let b = base;
  for (const o of ops) {
    const at = b.length === 0 ? 0 : o.at % (b.length + 1);
    switch (o.kind) {
      case 'benign': {
        const gt = b.indexOf(0x3e, at);
        const p = gt < 0 ? b.length : gt + 1;
        b = Buffer.concat([b.subarray(0, p), utf8(BENIGN[o.snippet]), b.subarray(p)]);
        break;
      }
      case 'flip':
        if (at < b.length) {
          b = Buffer.from(b);
          b[at] = o.byte;
        }
        break;
      case 'insert': {
        const s = SNIPPETS[o.snippet];
        const bytes = typeof s === 'string' ? utf8(s) : Buffer.from(s);
        b = Buffer.concat([b.subarray(0, at), bytes, b.subarray(at)]);
        break;
      }
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + o.len)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + o.len), b.subarray(at)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/**
 * saxes accepts "<?target?x ... ?>" (a processing-instruction name followed by "?" but not "?>"),
 * which XML 1.0 does not allow (PI ::= '<?' PITarget (S ...)? '?>'); our reader refuses it.
 */
function hitsKnownSaxesLeniency(bytes: Buffer): boolean {
  return /<\?[^\s?>]+\?(?!>)/.test(bytes.toString('latin1'));
}

const splitPoints = fc.array(fc.nat(), { maxLength: 8 });

describe('differential against saxes', () => {
  it('agrees on every base document', async () => {
    for (const base of BASES) {
      const mine = await readAll(base);
      const ref = referenceRead(base);
      expect(mine.ok).toBe(true);
      expect(ref.ok).toBe(true);
      if (mine.ok && ref.ok) expect(comparable(mine.rows)).toEqual(ref.rows);
    }
  });

  it('agrees on accept/reject and values for randomly mutated documents', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(BASES.length - 1),
        fc.array(op, { minLength: 1, maxLength: 4 }),
        splitPoints,
        async (baseIndex, ops, splits) => {
          const bytes = mutate(BASES[baseIndex], ops);
          fc.pre(!hitsKnownSaxesLeniency(bytes));
          const ref = referenceRead(bytes);
          const mine = await readAll(
            bytes,
            splits.map((p) => p % (bytes.length + 1)),
          );
          if (mine.ok !== ref.ok) {
            throw new Error(
              `disagree: mine ${mine.ok ? 'accepts' : `refuses (${mine.message})`}, saxes ${ref.ok ? 'accepts' : `refuses (${ref.reason})`}\n${JSON.stringify(bytes.toString('latin1'))}`,
            );
          }
          if (mine.ok && ref.ok) expect(comparable(mine.rows)).toEqual(ref.rows);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('agrees on documents built from random pieces of markup', async () => {
    const piece = fc.oneof(
      fc.constantFrom(...SNIPPETS),
      fc.constantFrom('<row>', '</row>', '<Amount>', '</Amount>', '$8.15', 'Ariel', '<Payor>', '</Payor>'),
      fc.constantFrom('<row></row>', '<row/>', '<root>', '</root>', '<row><Amount>1</Amount></row>'),
      fc.string({ maxLength: 6 }),
      fc.string({ unit: 'binary', maxLength: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 12 }),
        fc.nat(2),
        splitPoints,
        async (parts, wrap, splits) => {
          const inner = Buffer.concat(parts.map((s) => (typeof s === 'string' ? utf8(s) : Buffer.from(s))));
          const [before, after] = [
            ['<root><row>', '</row></root>'],
            ['<root>', '</root>'],
            ['', ''],
          ][wrap];
          const bytes = Buffer.concat([utf8(before), inner, utf8(after)]);
          fc.pre(!hitsKnownSaxesLeniency(bytes));
          const ref = referenceRead(bytes);
          const mine = await readAll(
            bytes,
            splits.map((p) => p % (bytes.length + 1)),
          );
          if (mine.ok !== ref.ok) {
            throw new Error(
              `disagree: mine ${mine.ok ? 'accepts' : `refuses (${mine.message})`}, saxes ${ref.ok ? 'accepts' : `refuses (${ref.reason})`}\n${JSON.stringify(bytes.toString('latin1'))}`,
            );
          }
          if (mine.ok && ref.ok) expect(comparable(mine.rows)).toEqual(ref.rows);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('gives identical results, errors and positions included, however the input is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(BASES.length - 1),
        fc.array(op, { maxLength: 3 }),
        splitPoints,
        async (baseIndex, ops, splits) => {
          const bytes = mutate(BASES[baseIndex], ops);
          const whole = await readAll(bytes);
          const split = await readAll(
            bytes,
            splits.map((p) => p % (bytes.length + 1)),
            undefined,
            true,
          );
          expect(split).toEqual(whole);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('XML 1.0 (5th edition) name characters, against saxes', () => {
  // Every code point up to U+3100 (where the ranges are dense), then each side of every range
  // boundary above it.
  const boundaries = [
    0x3001, 0xd7ff, 0xe000, 0xf8ff, 0xf900, 0xfdcf, 0xfdd0, 0xfdef, 0xfdf0, 0xfffd, 0x10000, 0xeffff, 0xf0000,
    0x10ffff,
  ];
  const codePoints: number[] = [];
  for (let cp = 0x21; cp <= 0x3100; cp++) codePoints.push(cp);
  for (const b of boundaries) codePoints.push(b - 1, b, b + 1);

  it('accepts and refuses the same characters at the start of and inside element names', async () => {
    const disagreements: string[] = [];
    for (const cp of codePoints) {
      if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp === 0x3e || cp === 0x2f) continue;
      const ch = String.fromCodePoint(cp);
      for (const name of [`a${ch}`, `${ch}a`]) {
        const bytes = utf8(`<root><row><${name}/></row></root>`);
        const mine = await readAll(bytes);
        const ref = referenceRead(bytes);
        if (mine.ok !== ref.ok)
          disagreements.push(`U+${cp.toString(16)} in <${name}>: mine ${mine.ok}, saxes ${ref.ok}`);
      }
    }
    expect(disagreements).toEqual([]);
  });
});

describe('XML declarations, against saxes', () => {
  const body = docXml([rowXml({}, '')], '');
  const decls = [
    `<?xml version='1.0'?>`,
    `<?xml version="1.0" standalone="yes"?>`,
    `<?xml version="1.0"encoding="UTF-8"?>`,
    `<?xml  version = "1.0" ?>`,
    `<?xml version="1.0" encoding="utf8"?>`,
    `<?xml version="1.0" standalone="yes" encoding="UTF-8"?>`,
    `<?xml version="1.0" encoding="UTF-8" standalone="maybe"?>`,
    `<?xml version="1.0" encoding='UTF-8"?>`,
    `<?xml version="1.0" ?><?xml version="1.0"?>`,
    `<?xml\tversion="1.0"\n?>`,
    `<?xml version="1.0"  encoding = 'uTf-8'  standalone= "no" ?>`,
    `<?xml version="1.00"?>`,
    `<?xml version="1.1"?>`,
    `<?xml encoding="UTF-8"?>`,
    `<?xml?>`,
    `<?xml ?>`,
    `<?xml version="1.0"??>`,
    ` <?xml version="1.0"?>`,
    `\uFEFF<?xml version="1.0"?>`,
    `<?XML version="1.0"?>`,
  ];
  for (const decl of decls) {
    it(`agrees on ${JSON.stringify(decl)}`, async () => {
      const bytes = utf8(decl + body);
      expect((await readAll(bytes)).ok).toBe(referenceRead(bytes).ok);
    });
  }
});
