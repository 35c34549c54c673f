// Secrets at rest: account numbers encrypted (AES-256-GCM one by one; a file's new loans together,
// AES-256-CTR with HMAC-SHA256), the generated keys of the embedded default, and masking (last 4)
// for every place an account number is shown.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HmacSha256 } from './hmac-sha256.js';

const VERSION = 'v1';
/** Bulk-encrypted values: AES-256-CTR, then HMAC-SHA256 over version, counter block and ciphertext. */
const BULK_VERSION = 'v2';
const BULK_TAG_BYTES = 16;

export class Cipher {
  private readonly key: Buffer;
  /** HMAC-SHA256 under the fingerprint key (a key derived from the encryption key) */
  private readonly fingerprintHmac: HmacSha256;
  /** v2's keys, derived from the encryption key: one to encrypt, one to authenticate */
  private readonly bulkKey: Buffer;
  private readonly bulkHmac: HmacSha256;
  /** version ‖ counter block: what a v2 tag covers before the ciphertext */
  private readonly bulkHeader = Buffer.from(`${BULK_VERSION}${'\0'.repeat(16)}`, 'latin1');
  /** Fresh random IVs, drawn 1,024 at a time: one randomBytes call per IV was 40 % of encrypt's cost. */
  private ivPool = Buffer.alloc(0);
  private ivOffset = 0;

  constructor(hexKey: string) {
    if (!/^[0-9a-fA-F]{64}$/.test(hexKey)) throw new Error('encryption key must be 64 hex characters');
    this.key = Buffer.from(hexKey, 'hex');
    this.fingerprintHmac = new HmacSha256(
      createHmac('sha256', this.key).update('loanpay-fingerprint-v1').digest(),
    );
    this.bulkKey = createHmac('sha256', this.key).update('loanpay-bulk-encrypt-v2').digest();
    this.bulkHmac = new HmacSha256(createHmac('sha256', this.key).update('loanpay-bulk-mac-v2').digest());
  }

  /**
   * A keyed, deterministic digest for finding equal secrets (same loan number, same bank details)
   * without decrypting; useless to anyone without the key.
   */
  fingerprint(plain: string): string {
    return this.fingerprintHmac.digest(plain).toString('base64url', 0, 24);
  }

  /**
   * The digest `fingerprint(`${a}:${b}`)` is made of, without building that string: its first 24
   * bytes, as base64url, are the fingerprint. The buffer is reused by the next call (an upload
   * takes one per row): copy what must outlive it.
   */
  fingerprintDigest(a: string, b: string): Buffer {
    return this.fingerprintHmac.digestJoined(a, 0x3a, b);
  }

  /** `v1:<iv>:<tag>:<ciphertext>`, base64url parts; a fresh 96-bit IV each time. */
  encrypt(plain: string): string {
    if (this.ivOffset + 12 > this.ivPool.length) {
      this.ivPool = randomBytes(12 * 1024);
      this.ivOffset = 0;
    }
    const iv = this.ivPool.subarray(this.ivOffset, this.ivOffset + 12);
    this.ivOffset += 12;
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [
      VERSION,
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      ct.toString('base64url'),
    ].join(':');
  }

  /**
   * Many values at once, each sealed on its own (`v2:<counter block>:<tag>:<ciphertext>`, base64url
   * parts) and decrypted alone by `decrypt`. One AES-256-CTR keystream from a random 128-bit counter
   * block covers them all, each value starting on a block of its own, so no two values (nor two
   * calls) share keystream; each is authenticated by HMAC-SHA256 over version, counter block and
   * ciphertext (encrypt-then-MAC, keys of their own). `encrypt` costs about 7 µs a value, nearly all
   * of it creating node:crypto's cipher object; this, about 2.5 µs (measured over 50,000 loan numbers).
   */
  encryptMany(plains: readonly string[]): string[] {
    const lengths = plains.map((p) => Buffer.byteLength(p, 'utf8'));
    const starts: number[] = [];
    let blocks = 0;
    for (const n of lengths) {
      starts.push(blocks);
      blocks += Math.max(1, Math.ceil(n / 16));
    }
    const plain = Buffer.alloc(blocks * 16);
    for (let i = 0; i < plains.length; i++) plain.write(plains[i], starts[i] * 16, 'utf8');
    const first = randomBytes(16);
    const stream = createCipheriv('aes-256-ctr', this.bulkKey, first).update(plain);
    const counter = Buffer.alloc(16);
    return plains.map((_, i) => {
      setCounter(counter, first, starts[i]);
      const ct = stream.subarray(starts[i] * 16, starts[i] * 16 + lengths[i]);
      const tag = this.bulkTag(counter, ct);
      return `${BULK_VERSION}:${counter.toString('base64url')}:${tag.toString('base64url')}:${ct.toString('base64url')}`;
    });
  }

  /** A v2 value's tag: HMAC-SHA256(version ‖ counter block ‖ ciphertext), its first BULK_TAG_BYTES. */
  private bulkTag(counter: Buffer, ct: Buffer): Buffer {
    counter.copy(this.bulkHeader, 2);
    return this.bulkHmac.digest2(this.bulkHeader, ct).subarray(0, BULK_TAG_BYTES);
  }

  /** Throws when the value was written with another key or was tampered with. */
  decrypt(sealed: string): string {
    if (sealed.startsWith(`${BULK_VERSION}:`)) return this.decryptBulk(sealed);
    const [version, iv, tag, ct] = sealed.split(':');
    if (version !== VERSION || !iv || !tag || ct === undefined) throw new Error('not an encrypted value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new Error('cannot decrypt: wrong ENCRYPTION_KEY or corrupted value');
    }
  }

  private decryptBulk(sealed: string): string {
    const [, counter64, tag64, ct64, extra] = sealed.split(':');
    if (counter64 === undefined || tag64 === undefined || ct64 === undefined || extra !== undefined) {
      throw new Error('not an encrypted value');
    }
    const counter = Buffer.from(counter64, 'base64url');
    const tag = Buffer.from(tag64, 'base64url');
    const ct = Buffer.from(ct64, 'base64url');
    if (counter.length !== 16 || tag.length !== BULK_TAG_BYTES) throw new Error('not an encrypted value');
    if (!timingSafeEqual(tag, this.bulkTag(counter, ct))) {
      throw new Error('cannot decrypt: wrong ENCRYPTION_KEY or corrupted value');
    }
    return createDecipheriv('aes-256-ctr', this.bulkKey, counter).update(ct).toString('utf8');
  }
}

/** Sets `out` to the 128-bit big-endian counter block `block` + `n`, as AES-CTR counts (modulo 2^128). */
function setCounter(out: Buffer, block: Buffer, n: number): void {
  let carry = n;
  for (let i = 15; i >= 0; i--) {
    const sum = block[i] + (carry % 256);
    out[i] = sum & 0xff;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
}

/** `••••1234` — the only way an account number is ever shown. */
export function maskAccount(value: string | null | undefined): string {
  if (!value) return '';
  return `••••${value.slice(-4)}`;
}

export function last4(value: string): string {
  return value.slice(-4);
}

/**
 * Reads `name` from DATA_DIR/secrets, generating it on first use (embedded default only; an
 * external database requires the value in the environment, checked by config).
 */
export function loadOrCreateSecret(dataDir: string, name: string, generate: () => string): string {
  const dir = path.join(dataDir, 'secrets');
  const file = path.join(dir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const value = generate();
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return value;
}

export const randomHex = (bytes: number) => () => randomBytes(bytes).toString('hex');
