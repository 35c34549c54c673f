import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacSha256 } from '../../src/server/hmac-sha256.js';
import { Cipher } from '../../src/server/secrets.js';

const native = (key: Uint8Array, text: string) =>
  createHmac('sha256', key).update(text, 'utf8').digest('hex');

describe('HmacSha256', () => {
  it('gives the RFC 4231 test vectors', () => {
    const cases: [Buffer, string, string][] = [
      [
        Buffer.alloc(20, 0x0b),
        'Hi There',
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      ],
      [
        Buffer.from('Jefe'),
        'what do ya want for nothing?',
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      ],
      [
        Buffer.alloc(131, 0xaa),
        'Test Using Larger Than Block-Size Key - Hash Key First',
        '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      ],
    ];
    for (const [key, text, hex] of cases) expect(new HmacSha256(key).digest(text).toString('hex')).toBe(hex);
  });

  it('equals node:crypto for every message length around the block boundaries', () => {
    const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
    const h = new HmacSha256(key);
    for (let n = 0; n <= 300; n++) {
      const text = 'x'.repeat(n);
      expect(h.digest(text).toString('hex'), `length ${n}`).toBe(native(key, text));
    }
    // UTF-8 of several bytes a character, and a lone surrogate (encoded as U+FFFD by both).
    for (const text of ['é'.repeat(30), '€'.repeat(19), '😀'.repeat(14), 'a\ud800b', `${'x'.repeat(54)}é`]) {
      expect(h.digest(text).toString('hex'), text).toBe(native(key, text));
    }
  });

  it('equals node:crypto for random keys and texts, ASCII or not, one instance reused', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 150 }),
        fc.array(fc.tuple(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (key, texts) => {
          const h = new HmacSha256(key);
          for (const [a, b] of texts) {
            expect(h.digest(a).toString('hex')).toBe(native(key, a));
            expect(h.digest(b).toString('hex')).toBe(native(key, b));
            expect(h.digestJoined(a, 0x3a, b).toString('hex')).toBe(native(key, `${a}:${b}`));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Cipher fingerprints', () => {
  it('are the first 24 bytes of an HMAC-SHA256 under the key derived from the encryption key', () => {
    const hex = 'c'.repeat(64);
    const c = new Cipher(hex);
    const fpKey = createHmac('sha256', Buffer.from(hex, 'hex')).update('loanpay-fingerprint-v1').digest();
    for (const text of ['ins_116944:1234567890', '021000021:000123456789', 'ins_é:9', '']) {
      expect(c.fingerprint(text)).toBe(
        createHmac('sha256', fpKey).update(text).digest('base64url').slice(0, 32),
      );
    }
  });
});
