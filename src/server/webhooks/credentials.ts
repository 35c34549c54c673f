// What LoanPay registers with Method to authenticate its deliveries, all derived from
// METHOD_WEBHOOK_SECRET: the HMAC secret itself, an auth token, and a fingerprint kept in the
// webhook's metadata so a changed secret is noticed (Method never shows secrets back).
import { createHash, createHmac } from 'node:crypto';

export interface WebhookCredentials {
  hmacSecret: string;
  authToken: string;
  fingerprint: string;
}

export function webhookCredentials(secret: string): WebhookCredentials {
  return {
    hmacSecret: secret,
    authToken: createHmac('sha256', secret).update('loanpay-webhook-auth-token').digest('hex'),
    fingerprint: createHash('sha256').update(`loanpay-webhook:${secret}`).digest('hex').slice(0, 16),
  };
}

/** A UUID (v4 layout) derived from `text`: the same registration always sends the same key. */
export function derivedUuid(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  const variant = ((Number.parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const webhookUrl = (publicUrl: string) => `${publicUrl.replace(/\/+$/, '')}/webhooks/method`;
