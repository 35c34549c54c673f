// The compact table of a file's new loans: each loan found again under its key, however many keys
// share a hash slot or a 31-bit hash, with its parts as they were given.
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/server/ids.js';
import { NewLoanTable } from '../../src/server/ingest/ingest.service.js';

describe('NewLoanTable', () => {
  it('gives every distinct loan its own index, the same one again for a repeat, and its parts back', () => {
    const t = new NewLoanTable();
    const n = 200_000; // enough keys that some 31-bit hashes coincide (≈ 9 expected pairs)
    const key = (i: number) =>
      [`EMP-${100000 + (i % 30000)}`, `ins_${i % 97}`, String(1_000_000_000 + i * 7919), `fp${i}`] as const;
    for (let i = 0; i < n; i++) expect(t.indexOf(...key(i))).toBe(i);
    expect(t.size).toBe(n);
    for (let i = n - 1; i >= 0; i -= 13) expect(t.indexOf(...key(i))).toBe(i);
    expect(t.size).toBe(n);
    for (const i of [0, 1, 4242, n - 1]) {
      const [employeeId, plaidId, loanNumber, fingerprint] = key(i);
      expect(t.get(i)).toEqual({ employeeId, plaidId, loanNumber, fingerprint });
    }
  });

  it('tells apart keys that differ only where the fields meet, and keeps UTF-8 intact', () => {
    const t = new NewLoanTable();
    expect(t.indexOf('EMP-1', 'ins_12', '3456', 'a')).toBe(0);
    expect(t.indexOf('EMP-1', 'ins_1', '23456', 'b')).toBe(1);
    expect(t.indexOf('EMP-1é', 'ins_1', '23456', 'c')).toBe(2);
    expect(t.indexOf('EMP-1', 'ins_12', '3456', 'ignored for a known loan')).toBe(0);
    expect(t.get(2)).toEqual({
      employeeId: 'EMP-1é',
      plaidId: 'ins_1',
      loanNumber: '23456',
      fingerprint: 'c',
    });
  });
});

describe('uuidv7', () => {
  it('makes RFC 9562 version-7 ids, unique and in creation order', () => {
    const ids = Array.from({ length: 50_000 }, () => uuidv7());
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    // The first 48 bits are the Unix time in milliseconds.
    const ms = Number.parseInt(ids[0].replace('-', '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
  });
});
