// Method's webhook authentication (method.md §6.5), shared by the simulator (signs) and LoanPay's
// webhook route (verifies): Authorization = base64(auth_token); HMAC-SHA256 over `timestamp:rawBody`.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'method-webhook-signature';
export const TIMESTAMP_HEADER = 'method-webhook-timestamp';

/** Method's digest encoding was not visible in the docs; hex is assumed (method.md §9.4). */
export function signWebhook(hmacSecret: string, timestampSeconds: number | string, rawBody: string): string {
  return createHmac('sha256', hmacSecret).update(`${timestampSeconds}:${rawBody}`).digest('hex');
}

export function webhookAuthorization(authToken: string): string {
  return Buffer.from(authToken).toString('base64');
}

/** The headers Method sends with a delivery. */
export function webhookHeaders(opts: {
  rawBody: string;
  authToken?: string | null;
  hmacSecret?: string | null;
  timestampSeconds?: number;
}): Record<string, string> {
  const ts = opts.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    [TIMESTAMP_HEADER]: String(ts),
  };
  if (opts.authToken) headers.authorization = webhookAuthorization(opts.authToken);
  if (opts.hmacSecret) headers[SIGNATURE_HEADER] = signWebhook(opts.hmacSecret, ts, opts.rawBody);
  return headers;
}

export type WebhookVerification =
  | { ok: true }
  | { ok: false; reason: 'missing_signature' | 'bad_signature' | 'stale_timestamp' | 'bad_authorization' };

/**
 * Checks whichever of the two mechanisms is configured (both when both are). `rawBody` must be the
 * exact bytes received: re-serialised JSON does not match the signature.
 */
export function verifyWebhook(opts: {
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  hmacSecret?: string | null;
  authToken?: string | null;
  nowSeconds?: number;
  /** Freshness window; Method calls the check optional but recommended. */
  toleranceSeconds?: number;
}): WebhookVerification {
  const header = (name: string) => {
    const v = opts.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  if (opts.authToken) {
    const got = header('authorization') ?? '';
    if (!safeEqual(got, webhookAuthorization(opts.authToken)))
      return { ok: false, reason: 'bad_authorization' };
  }
  if (opts.hmacSecret) {
    const signature = header(SIGNATURE_HEADER);
    const ts = header(TIMESTAMP_HEADER);
    if (!signature || !ts || !/^\d+$/.test(ts)) return { ok: false, reason: 'missing_signature' };
    const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
    if (Math.abs(now - Number(ts)) > (opts.toleranceSeconds ?? 300))
      return { ok: false, reason: 'stale_timestamp' };
    if (!safeEqual(signature.toLowerCase(), signWebhook(opts.hmacSecret, ts, opts.rawBody))) {
      return { ok: false, reason: 'bad_signature' };
    }
  }
  return { ok: true };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
