// The oracle for the differential tests: the same policy as src/server/ingest/xml-reader.ts, built
// on saxes (a conformant XML parser) and the platform's strict UTF-8 decoder instead of bytes.
// Slow and simple on purpose.
import { SaxesParser } from 'saxes';
import { FIELD_PATHS, type FieldPath } from '../../src/server/ingest/xml-reader.js';

export interface RefRow {
  rowNumber: number;
  values: Partial<Record<FieldPath, string>>;
  unknownPaths: string[];
  repeatedPaths: string[];
}

export type RefResult = { ok: true; rows: RefRow[] } | { ok: false; reason: string };

export interface RefLimits {
  maxDepth: number;
  maxTextBytes: number;
  maxNameBytes: number;
}

const DEFAULT_LIMITS: RefLimits = { maxDepth: 16, maxTextBytes: 10_000, maxNameBytes: 100 };

const CONTAINERS = new Set(['Employee', 'Payor', 'Payor/Address', 'Payee']);
const LEAVES = new Set<string>(FIELD_PATHS);
const WS = /^[ \t\r\n]*$/;

interface Frame {
  name: string;
  /** path relative to <row>; null outside a row or inside an unknown element */
  path: string | null;
  known: boolean;
  container: boolean;
  hasChild: boolean;
  /** the first element with this leaf path in the row (later ones are repeats, not values) */
  first: boolean;
  text: string;
}

class Reject extends Error {}

export function referenceRead(bytes: Uint8Array, limits: RefLimits = DEFAULT_LIMITS): RefResult {
  try {
    return { ok: true, rows: run(bytes, limits) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

function run(bytes: Uint8Array, limits: RefLimits): RefRow[] {
  // ignoreBOM keeps a BOM in the text, so saxes sees exactly what is in the file (it skips one
  // leading U+FEFF itself); fatal refuses any invalid UTF-8.
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  if (text.length === 0 || text === '\uFEFF') throw new Reject('empty');
  const parser = new SaxesParser({ xmlns: false });
  const stack: Frame[] = [];
  const rows: RefRow[] = [];
  let row: RefRow | null = null;
  let seenLeaves = new Set<string>();
  let sawRoot = false;

  const fail = (why: string): never => {
    throw new Reject(why);
  };
  const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');
  const addText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (!WS.test(t)) fail('text outside root');
      return;
    }
    if (top.container || top.hasChild) {
      if (!WS.test(t)) fail(`text in <${top.name}>`);
      return;
    }
    top.text += t;
  };

  parser.on('doctype', () => fail('doctype'));
  parser.on('xmldecl', (decl) => {
    if (decl.version !== '1.0') fail('version');
    if (decl.encoding !== undefined && decl.encoding.toLowerCase() !== 'utf-8') fail('encoding');
  });
  parser.on('processinginstruction', (pi) => {
    if (byteLength(pi.target) > limits.maxNameBytes) fail('long PI target');
  });
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('opentag', (tag) => {
    if (Object.keys(tag.attributes).length > 0) fail('attribute');
    if (byteLength(tag.name) > limits.maxNameBytes) fail('long name');
    const parent = stack[stack.length - 1];
    if (stack.length + 1 > limits.maxDepth) fail('too deep');
    let frame: Frame;
    if (parent === undefined) {
      if (sawRoot) fail('second root');
      if (tag.name !== 'root') fail('root name');
      sawRoot = true;
      frame = {
        name: tag.name,
        path: null,
        known: true,
        container: true,
        hasChild: false,
        first: false,
        text: '',
      };
    } else {
      if (!WS.test(parent.text)) fail('mixed content');
      parent.hasChild = true;
      parent.text = '';
      if (stack.length === 1) {
        if (tag.name !== 'row') fail('not a row');
        row = { rowNumber: rows.length + 1, values: {}, unknownPaths: [], repeatedPaths: [] };
        seenLeaves = new Set<string>();
        frame = {
          name: 'row',
          path: '',
          known: true,
          container: true,
          hasChild: false,
          first: false,
          text: '',
        };
      } else {
        let path: string | null = null;
        let known = false;
        let container = false;
        let first = false;
        if (parent.known && parent.path !== null) {
          path = parent.path === '' ? tag.name : `${parent.path}/${tag.name}`;
          known = !LEAVES.has(parent.path) && (CONTAINERS.has(path) || LEAVES.has(path));
          container = known && CONTAINERS.has(path);
          if (!known && row !== null && !row.unknownPaths.includes(path)) row.unknownPaths.push(path);
          if (known && !container && row !== null) {
            first = !seenLeaves.has(path);
            if (!first && !row.repeatedPaths.includes(path)) row.repeatedPaths.push(path);
            seenLeaves.add(path);
          }
        }
        frame = { name: tag.name, path, known, container, hasChild: false, first, text: '' };
      }
    }
    stack.push(frame);
  });
  parser.on('closetag', () => {
    const frame = stack.pop();
    if (frame === undefined) return;
    if (!frame.hasChild && !frame.container) {
      if (byteLength(frame.text) > limits.maxTextBytes) fail('text too long');
      if (frame.first && row !== null) row.values[frame.path as FieldPath] = frame.text;
    }
    if (stack.length === 1 && row !== null) {
      const { rowNumber, values, unknownPaths, repeatedPaths } = row;
      rows.push({ rowNumber, values, unknownPaths, repeatedPaths });
      row = null;
    }
    if (stack.length === 0 && rows.length === 0) fail('no rows');
  });

  parser.write(text);
  parser.close();
  if (!sawRoot) fail('no root');
  return rows;
}
