// Secrets at rest: AES-256-GCM for account numbers, the generated keys of the embedded default,
// and masking (last 4) for every place an account number is shown.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HmacSha256 } from './hmac-sha256.js';

const VERSION = 'v1';

export class Cipher {
  private readonly key: Buffer;
  /** HMAC-SHA256 under the fingerprint key (a key derived from the encryption key) */
  private readonly fingerprintHmac: HmacSha256;
  /** Fresh random IVs, drawn 1,024 at a time: one randomBytes call per IV was 40 % of encrypt's cost. */
  private ivPool = Buffer.alloc(0);
  private ivOffset = 0;

  constructor(hexKey: string) {
    if (!/^[0-9a-fA-F]{64}$/.test(hexKey)) throw new Error('encryption key must be 64 hex characters');
    this.key = Buffer.from(hexKey, 'hex');
    this.fingerprintHmac = new HmacSha256(
      createHmac('sha256', this.key).update('loanpay-fingerprint-v1').digest(),
    );
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

  /** Throws when the value was written with another key or was tampered with. */
  decrypt(sealed: string): string {
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
