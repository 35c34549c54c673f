import { describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/server/audit/audit.repository.js';
import { ConfigError, loadConfig } from '../../src/server/config.js';
import { withTransaction } from '../../src/server/db.js';
import { Cipher, maskAccount } from '../../src/server/secrets.js';
import { createTestDatabase } from '../support/db.js';

const actor = { userId: null, username: 'tester', clientAddress: '127.0.0.1' };

describe('audit', () => {
  it('is written in the same transaction as the change: a rolled-back change leaves no audit row', async () => {
    const db = await createTestDatabase();
    await expect(
      withTransaction(db.pool, async (tx) => {
        await tx.query("INSERT INTO users (username, password_hash, role) VALUES ('temp', 'x', 'auditor')");
        await recordAudit(tx, actor, 'user.create', 'user', 'temp');
        throw new Error('boom after the audit row');
      }),
    ).rejects.toThrow('boom');
    const r = await db.pool.query("SELECT count(*)::int AS n FROM audit_log WHERE entity_id = 'temp'");
    expect(r.rows[0].n).toBe(0);
    await withTransaction(db.pool, (tx) => recordAudit(tx, actor, 'user.create', 'user', 'kept'));
    const k = await db.pool.query("SELECT username, client_address FROM audit_log WHERE entity_id = 'kept'");
    expect(k.rows).toEqual([{ username: 'tester', client_address: '127.0.0.1' }]);
  });

  it('is append-only: updates and deletes are refused by the database', async () => {
    const db = await createTestDatabase();
    await recordAudit(db.pool, actor, 'x', 'thing', '1');
    await expect(db.pool.query("UPDATE audit_log SET action = 'y'")).rejects.toThrow(/append-only/);
    await expect(db.pool.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(db.pool.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });
});

describe('secrets', () => {
  const key1 = '0'.repeat(63) + '1';
  const key2 = '0'.repeat(63) + '2';

  it('encrypts account numbers with AES-256-GCM and decrypts them back', () => {
    const c = new Cipher(key1);
    const sealed = c.encrypt('40909581');
    expect(sealed).not.toContain('40909581');
    expect(c.encrypt('40909581')).not.toBe(sealed);
    expect(c.decrypt(sealed)).toBe('40909581');
  });

  it('refuses a value sealed with another key, or tampered with', () => {
    const sealed = new Cipher(key1).encrypt('04807469');
    expect(() => new Cipher(key2).decrypt(sealed)).toThrow(/wrong ENCRYPTION_KEY/);
    const parts = sealed.split(':');
    parts[3] = Buffer.from('99999999').toString('base64url');
    expect(() => new Cipher(key1).decrypt(parts.join(':'))).toThrow();
    expect(() => new Cipher('short')).toThrow(/64 hex/);
  });

  it('encrypts many values at once, each decrypted alone, with keystream never shared', () => {
    const c = new Cipher(key1);
    // lengths around the 16-byte blocks, an empty value, UTF-8, and a repeat
    const plains = [
      '',
      '1',
      '123456789012345',
      '1234567890123456',
      '12345678901234567',
      'é€😀',
      '40909581',
      '40909581',
    ];
    const a = c.encryptMany(plains);
    const b = c.encryptMany(plains);
    expect(a.map((s) => c.decrypt(s))).toEqual(plains);
    expect(b.map((s) => c.decrypt(s))).toEqual(plains);
    for (const s of a) expect(s).toMatch(/^v2:[\w-]{22}:[\w-]{22}:[\w-]*$/);
    expect(a[6]).not.toContain('40909581');
    // Every value has a counter block of its own, within a call and across calls.
    const counters = [...a, ...b].map((s) => s.split(':')[1]);
    expect(new Set(counters).size).toBe(counters.length);
    // Within a call the blocks follow each other: a value of n bytes takes max(1, ceil(n / 16)).
    const n = (s: string) => Buffer.from(s.split(':')[1], 'base64url').readBigUInt64BE(8);
    expect(n(a[3]) - n(a[2])).toBe(1n);
    expect(n(a[4]) - n(a[3])).toBe(1n);
    expect(n(a[5]) - n(a[4])).toBe(2n);
    // Same plaintext, different ciphertext.
    expect(a[6].split(':')[3]).not.toBe(a[7].split(':')[3]);
  });

  it('refuses a bulk-encrypted value sealed with another key, or with any part changed', () => {
    const [sealed] = new Cipher(key1).encryptMany(['04807469']);
    expect(new Cipher(key1).decrypt(sealed)).toBe('04807469');
    expect(() => new Cipher(key2).decrypt(sealed)).toThrow(/wrong ENCRYPTION_KEY/);
    const parts = sealed.split(':');
    for (const at of [1, 2, 3]) {
      const bytes = Buffer.from(parts[at], 'base64url');
      bytes[bytes.length - 1] ^= 1;
      const changed = [...parts];
      changed[at] = bytes.toString('base64url');
      expect(() => new Cipher(key1).decrypt(changed.join(':')), `part ${at}`).toThrow();
    }
    expect(() => new Cipher(key1).decrypt(`${sealed}:x`)).toThrow(/not an encrypted value/);
    expect(() => new Cipher(key1).decrypt('v2:abc')).toThrow(/not an encrypted value/);
  });

  it('masks to the last four digits', () => {
    expect(maskAccount('40909581')).toBe('••••9581');
    expect(maskAccount('')).toBe('');
  });
});

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      maxUploadMb: 100,
      annualLimitCents: 525000,
      methodPaymentsPerMinute: 114,
      simulatorPort: 4010,
      requireSecondApprover: true,
    });
    expect(c.publicUrl).toBe('http://127.0.0.1:3000');
  });

  it('names every bad value', () => {
    try {
      loadConfig({
        PORT: 'abc',
        REQUIRE_SECOND_APPROVER: 'maybe',
        DATABASE_URL: 'postgres://x@h/db',
        SIMULATOR_FAULTS: '[1',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg).toContain('PORT must be a whole number');
      expect(msg).toContain('REQUIRE_SECOND_APPROVER must be true or false');
      expect(msg).toContain('ENCRYPTION_KEY is required when DATABASE_URL is set');
      expect(msg).toContain('METHOD_WEBHOOK_SECRET is required');
      expect(msg).toContain('SIMULATOR_FAULTS must be a JSON object');
    }
  });
});
