// The compact table of a file's new loans: each loan found again by its employee, Plaid id and
// fingerprint, however many share a hash slot, with its parts (and number, when kept) given back.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/server/ids.js';
import { NewLoanTable } from '../../src/server/ingest/ingest.service.js';
import { Cipher } from '../../src/server/secrets.js';

/** A fingerprint digest, as `Cipher.fingerprintDigest` gives it; its text is the first 24 bytes in base64url. */
const fp = (s: string) => createHmac('sha256', 'k').update(s).digest();
const text = (digest: Buffer) => digest.toString('base64url', 0, 24);

describe('NewLoanTable', () => {
  it('gives every distinct loan its own index, the same one again for a repeat, and its parts back', () => {
    const t = new NewLoanTable();
    const n = 200_000;
    const loan = (i: number) => {
      const plaidId = `ins_${i % 97}`;
      const loanNumber = String(1_000_000_000 + i * 7919);
      return [`EMP-${100000 + (i % 30000)}`, plaidId, loanNumber, fp(`${plaidId}:${loanNumber}`)] as const;
    };
    for (let i = 0; i < n; i++) expect(t.indexOf(...loan(i))).toBe(i);
    expect(t.size).toBe(n);
    for (let i = n - 1; i >= 0; i -= 13) expect(t.indexOf(...loan(i))).toBe(i);
    expect(t.size).toBe(n);
    for (const i of [0, 1, 4242, n - 1]) {
      const [employeeId, plaidId, loanNumber, digest] = loan(i);
      expect(t.get(i)).toEqual({ employeeId, plaidId, loanNumber, fingerprint: text(digest) });
    }
  });

  it('a loan is its employee, Plaid id and fingerprint: any one differing makes another loan', () => {
    const t = new NewLoanTable();
    const f = fp('ins_1:123456');
    expect(t.indexOf('EMP-1', 'ins_1', '123456', f)).toBe(0);
    expect(t.indexOf('EMP-2', 'ins_1', '123456', f)).toBe(1);
    expect(t.indexOf('EMP-1', 'ins_2', '123456', f)).toBe(2);
    expect(t.indexOf('EMP-1', 'ins_1', '123457', fp('ins_1:123457'))).toBe(3);
    expect(t.indexOf('EMP-1', 'ins_1', '123456', f)).toBe(0);
    expect(t.get(1)).toEqual({
      employeeId: 'EMP-2',
      plaidId: 'ins_1',
      loanNumber: '123456',
      fingerprint: text(f),
    });
  });

  it('tells apart the many loans of one employee at one servicer by their fingerprints', () => {
    const t = new NewLoanTable();
    const f = (i: number) => fp(`ins_1:${i}`);
    for (let i = 0; i < 50_000; i++) expect(t.indexOf('EMP-1', 'ins_1', String(i), f(i))).toBe(i);
    for (let i = 0; i < 50_000; i += 7) expect(t.indexOf('EMP-1', 'ins_1', String(i), f(i))).toBe(i);
    expect(t.size).toBe(50_000);
  });

  it('keeps numbers in UTF-8 across blocks', () => {
    const t = new NewLoanTable();
    const long = 'é'.repeat(300_000); // 600 KB: the second one starts a new 1 MB block
    t.indexOf('EMP-1', 'ins_1', long, fp('a'));
    t.indexOf('EMP-1', 'ins_1', `${long}x`, fp('b'));
    expect(t.get(0).loanNumber).toBe(long);
    expect(t.get(1).loanNumber).toBe(`${long}x`);
  });
});

describe('Cipher.fingerprintDigest', () => {
  it('is the digest of fingerprint(`a:b`): its first 24 bytes are that fingerprint, as stored for every loan', () => {
    const c = new Cipher('c'.repeat(64));
    for (const [a, b] of [
      ['ins_1', '123456789'],
      ['ins_116', '0042'],
      ['ins_é', '9'],
    ]) {
      expect(c.fingerprintDigest(a, b).toString('base64url', 0, 24)).toBe(c.fingerprint(`${a}:${b}`));
    }
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
