// Time-ordered ids (UUIDv7, RFC 9562) made in the process, for rows whose id must be known before
// they are written (an upload's batch and new source accounts; its new loans take one id's first
// 28 characters and count in the rest, see DraftStream). Each
// new id lands at the right edge of its primary-key index, as the database's own uuidv7() would.
import { randomBytes } from 'node:crypto';

const POOL = 16 * 256;
let pool = randomBytes(POOL);
let offset = 0;
let lastMs = 0;
let seq = 0;

/** `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`: 48 bits of Unix milliseconds, 12 bits of sequence, 62 random. */
export function uuidv7(): string {
  if (offset + 16 > POOL) {
    pool = randomBytes(POOL);
    offset = 0;
  }
  const b = pool.subarray(offset, offset + 16);
  offset += 16;
  let ms = Date.now();
  // Within one millisecond a 12-bit counter keeps the ids in creation order (RFC 9562, method 1).
  if (ms <= lastMs) {
    seq++;
    if (seq > 0xfff) {
      lastMs++;
      seq = 0;
    }
    ms = lastMs;
  } else {
    lastMs = ms;
    seq = b.readUInt16BE(6) & 0x3ff; // a random start leaves room to count up
  }
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = (b[8] & 0x3f) | 0x80;
  // Written as ASCII and decoded once: one flat string, not a tree of slices joined by a template.
  const out = Buffer.allocUnsafe(36);
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out[o++] = 0x2d;
    out[o++] = HEX[b[i] >> 4];
    out[o++] = HEX[b[i] & 15];
  }
  return out.toString('latin1');
}

const HEX = Buffer.from('0123456789abcdef');
