// Pure rules of the simulated Method resources: request validation with Method's error sub_types,
// and the objects Method returns (field names and shapes from method.md §2–6).
import { randomBytes } from 'node:crypto';
import type {
  Account,
  Entity,
  EntityVerificationSession,
  Merchant,
  Payment,
  Reversal,
  Webhook,
} from '../method/types.js';
import { findMerchant, merchantAcceptsPayments } from './catalogue.js';
import { invalid, type MethodApiError } from './envelope.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Method-style ids: a prefix and 15 base62 characters (`pmt_zR3nJG3c99P3X`). */
export function newId(prefix: string): string {
  const bytes = randomBytes(15);
  let s = '';
  for (const b of bytes) s += BASE62[b % 62];
  return `${prefix}_${s}`;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const METADATA_MAX_BYTES = 1024;

function checkMetadata(v: unknown, subType = 'INVALID_REQUEST'): Json | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw invalid('INVALID_REQUEST', '"metadata" must be an object.');
  if (Buffer.byteLength(JSON.stringify(v)) > METADATA_MAX_BYTES) {
    throw invalid(subType, 'Metadata cannot exceed 1KB.');
  }
  return v;
}

function optString(obj: Json, key: string, path: string, pattern?: RegExp, hint?: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid('INVALID_REQUEST', `"${path}" must be a string.`);
  if (pattern && !pattern.test(v)) throw invalid('INVALID_REQUEST', `"${path}" ${hint ?? 'is invalid'}.`);
  return v;
}

function isRealDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return (
    d.getUTCFullYear() === Number(m[1]) &&
    d.getUTCMonth() === Number(m[2]) - 1 &&
    d.getUTCDate() === Number(m[3])
  );
}

// ---- entities -------------------------------------------------------------------------------------

const CORPORATE_TYPES = [
  'corporation',
  'c_corporation',
  's_corporation',
  'llc',
  'partnership',
  'sole_proprietorship',
];

export function buildEntity(body: unknown, now: string): Entity {
  if (!isObject(body)) throw invalid('INVALID_REQUEST', 'Request body must be an object.');
  const type = body.type;
  if (typeof type !== 'string' || (type !== 'individual' && !CORPORATE_TYPES.includes(type))) {
    throw invalid(
      'INVALID_REQUEST',
      '"type" must be one of [individual, corporation, c_corporation, s_corporation, llc, partnership, sole_proprietorship].',
    );
  }
  const metadata = checkMetadata(body.metadata);
  let address: Entity['address'] = null;
  if (body.address !== undefined && body.address !== null) {
    if (!isObject(body.address)) throw invalid('INVALID_REQUEST', '"address" must be an object.');
    const a = body.address;
    address = {
      line1: optString(a, 'line1', 'address.line1'),
      line2: optString(a, 'line2', 'address.line2'),
      city: optString(a, 'city', 'address.city'),
      state: optString(a, 'state', 'address.state', /^[A-Z]{2}$/, 'must be a two-letter state code'),
      zip: optString(a, 'zip', 'address.zip', /^\d{5}(-\d{4})?$/, 'must be a 5-digit ZIP code'),
    };
  }
  let individual: Entity['individual'] = null;
  let corporation: Entity['corporation'] = null;
  if (type === 'individual') {
    if (!isObject(body.individual)) throw invalid('INVALID_REQUEST', '"individual" is required.');
    const i = body.individual;
    const dob = optString(
      i,
      'dob',
      'individual.dob',
      /^\d{4}-\d{2}-\d{2}$/,
      'must be in the format YYYY-MM-DD',
    );
    if (dob !== null && (!isRealDate(dob) || dob > now.slice(0, 10))) {
      throw invalid('INVALID_REQUEST', '"individual.dob" must be a valid date in the past.');
    }
    const ssn = optString(i, 'ssn', 'individual.ssn', /^\d{9}$/, 'must be 9 digits');
    const ssn4 = optString(i, 'ssn_4', 'individual.ssn_4', /^\d{4}$/, 'must be 4 digits');
    if (ssn && ssn4)
      throw invalid('INVALID_REQUEST', '"individual.ssn" and "individual.ssn_4" are mutually exclusive.');
    individual = {
      first_name: optString(i, 'first_name', 'individual.first_name'),
      last_name: optString(i, 'last_name', 'individual.last_name'),
      phone: optString(i, 'phone', 'individual.phone', /^\+\d{10,15}$/, 'must be a valid E.164 phone number'),
      email: optString(i, 'email', 'individual.email', /^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be a valid email'),
      dob,
    };
  } else {
    if (!isObject(body.corporation)) throw invalid('INVALID_REQUEST', '"corporation" is required.');
    const c = body.corporation;
    corporation = {
      name: optString(c, 'name', 'corporation.name'),
      dba: optString(c, 'dba', 'corporation.dba'),
      ein: optString(c, 'ein', 'corporation.ein', /^\d{1,9}$/, 'must be digits'),
      owners: Array.isArray(c.owners) ? (c.owners as NonNullable<Entity['corporation']>['owners']) : [],
    };
  }
  // Method verifies businesses at onboarding, not through sessions: a named corporation with an
  // address is payable at once; an individual needs phone and identity sessions first.
  const corporateReady = corporation !== null && Boolean(corporation.name) && address !== null;
  return {
    id: newId('ent'),
    type,
    individual,
    corporation,
    address,
    status: corporateReady ? 'active' : 'incomplete',
    verification:
      type === 'individual'
        ? {
            identity: {
              verified: false,
              matched: false,
              latest_verification_session: null,
              methods: ['kba', 'byo_kyc'],
            },
            phone: { verified: false, latest_verification_session: null, methods: ['byo_sms', 'sms', 'sna'] },
          }
        : null,
    products: corporateReady ? ['payment'] : [],
    restricted_products: corporateReady ? [] : ['payment'],
    subscriptions: [],
    available_subscriptions: [],
    restricted_subscriptions: [],
    error: null,
    metadata,
    created_at: now,
    updated_at: now,
  };
}

/**
 * Runs a verification session against an entity (Method's dev behaviour: `byo_sms` and `kba`
 * succeed when the data they check is present). Returns the session and the updated entity.
 */
export function verifyEntity(
  entity: Entity,
  body: unknown,
  now: string,
): { session: EntityVerificationSession; entity: Entity } {
  if (!isObject(body)) throw invalid('INVALID_REQUEST', 'Request body must be an object.');
  const { type, method } = body;
  if (type !== 'phone' && type !== 'identity')
    throw invalid('INVALID_REQUEST', '"type" must be one of [phone, identity].');
  if (typeof method !== 'string') throw invalid('INVALID_REQUEST', '"method" is required.');
  if (entity.type !== 'individual' || !entity.individual || !entity.verification) {
    throw invalid(
      'INVALID_VERIFICATION',
      'Verification sessions are only available for individual entities.',
    );
  }
  const allowed = type === 'phone' ? ['byo_sms', 'sms', 'sna'] : ['kba', 'byo_kyc'];
  if (!allowed.includes(method))
    throw invalid('INVALID_REQUEST', `"method" must be one of [${allowed.join(', ')}].`);
  if (!isObject(body[method])) throw invalid('INVALID_REQUEST', `"${method}" is required.`);
  const ind = entity.individual;
  if (type === 'phone' && !ind.phone) {
    throw invalid('INVALID_VERIFICATION', 'The entity requires a phone number before phone verification.');
  }
  if (type === 'identity' && !(ind.first_name && ind.last_name && ind.phone)) {
    throw invalid(
      'INVALID_VERIFICATION',
      'The entity requires a name and phone number before identity verification.',
    );
  }
  const session: EntityVerificationSession = {
    id: newId('evf'),
    entity_id: entity.id,
    status: 'verified',
    type,
    method,
    [method]: body[method],
    error: null,
    created_at: now,
    updated_at: now,
  };
  const verification = structuredClone(entity.verification);
  const part = type === 'phone' ? verification.phone : verification.identity;
  part.verified = true;
  part.latest_verification_session = session.id;
  if (type === 'identity') verification.identity.matched = true;
  const active =
    verification.phone.verified && verification.identity.verified && entity.status !== 'disabled';
  return {
    session,
    entity: {
      ...entity,
      verification,
      status: active ? 'active' : entity.status,
      products: active ? ['payment'] : entity.products,
      restricted_products: active ? [] : entity.restricted_products,
      updated_at: now,
    },
  };
}

// ---- accounts -------------------------------------------------------------------------------------

export function buildAccount(body: unknown, holder: Entity | undefined, now: string): Account {
  if (!isObject(body)) throw invalid('INVALID_REQUEST', 'Request body must be an object.');
  if (typeof body.holder_id !== 'string') throw invalid('INVALID_REQUEST', '"holder_id" is required.');
  if (!holder) throw invalid('INVALID_HOLDER', `Entity with id ${body.holder_id} could not be found.`);
  if (holder.status === 'disabled') throw invalid('INVALID_HOLDER', 'The holder entity is disabled.');
  const metadata = checkMetadata(body.metadata);
  const base = {
    id: newId('acc'),
    holder_id: holder.id,
    status: 'active',
    latest_verification_session: null,
    error: null,
    metadata,
    created_at: now,
    updated_at: now,
  };
  if (isObject(body.ach) && body.liability === undefined) {
    const a = body.ach;
    if (typeof a.routing !== 'string' || !/^\d{9}$/.test(a.routing)) {
      throw invalid('INVALID_REQUEST', '"ach.routing" must be a 9-digit routing number.');
    }
    if (!abaChecksumOk(a.routing)) throw invalid('INVALID_ROUTING_NUMBER', 'The routing number is invalid.');
    if (typeof a.number !== 'string' || !/^\d{4,17}$/.test(a.number)) {
      throw invalid('INVALID_REQUEST', '"ach.number" must be 4 to 17 digits.');
    }
    if (a.type !== 'checking' && a.type !== 'savings') {
      throw invalid('INVALID_REQUEST', '"ach.type" must be one of [checking, savings].');
    }
    // Method's dev environment verifies ACH accounts on creation (method.md §4.3).
    return {
      ...base,
      type: 'ach',
      ach: { routing: a.routing, number: a.number, type: a.type },
      products: ['payment'],
      restricted_products: [],
    };
  }
  if (isObject(body.liability) && body.ach === undefined) {
    const l = body.liability;
    if (typeof l.mch_id !== 'string') throw invalid('INVALID_REQUEST', '"liability.mch_id" is required.');
    const number =
      typeof l.account_number === 'string'
        ? l.account_number
        : typeof l.number === 'string'
          ? l.number
          : null;
    if (number === null || !/^[0-9A-Za-z-]{4,32}$/.test(number)) {
      throw invalid('INVALID_REQUEST', '"liability.account_number" is required.');
    }
    const merchant: Merchant | undefined = findMerchant(l.mch_id);
    if (!merchant) throw invalid('INVALID_MERCHANT', `Merchant with id ${l.mch_id} could not be found.`);
    const payable = merchantAcceptsPayments(merchant.id);
    return {
      ...base,
      type: 'liability',
      liability: {
        mch_id: merchant.id,
        mask: number.slice(-4),
        ownership: 'unknown',
        type: merchant.type,
        sub_type: null,
        name: merchant.name,
        fingerprint: null,
      },
      products: payable ? ['payment'] : [],
      restricted_products: payable ? [] : ['payment'],
    };
  }
  throw invalid('INVALID_REQUEST', 'Exactly one of "ach" or "liability" is required.');
}

export function abaChecksumOk(r: string): boolean {
  const d = r.split('').map(Number);
  const sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
  return sum % 10 === 0;
}

// ---- payments -------------------------------------------------------------------------------------

export interface AccountWithHolder {
  account: Account;
  holder: Entity;
}

export interface ValidPaymentRequest {
  amount: number;
  source: AccountWithHolder;
  destination: AccountWithHolder;
  description: string;
  metadata: Json | null;
}

/** The ids a payment request names, read before validation so one query fetches both sides. */
export function paymentAccountIds(body: unknown): string[] {
  if (!isObject(body)) return [];
  return [body.source, body.destination].filter((v): v is string => typeof v === 'string');
}

/** POST /payments validation in the order Method reports (method.md §5.1, §5.5, §10). */
export function validatePayment(
  body: unknown,
  accounts: Map<string, AccountWithHolder>,
): ValidPaymentRequest {
  if (!isObject(body)) throw invalid('INVALID_REQUEST', 'Request body must be an object.');
  const { amount, source, destination, description } = body;
  if (amount === undefined || amount === null) throw invalid('INVALID_REQUEST', '"amount" is required.');
  if (typeof amount !== 'number' || !Number.isInteger(amount)) {
    throw invalid('INVALID_AMOUNT_TYPE', '"amount" must be an integer number of cents.');
  }
  if (amount < 100 || amount > 100_000_000) {
    throw invalid('INVALID_AMOUNT', '"amount" must be between 100 ($1.00) and 100000000 ($1,000,000.00).');
  }
  if (typeof source !== 'string') throw invalid('INVALID_REQUEST', '"source" is required.');
  if (typeof destination !== 'string') throw invalid('INVALID_REQUEST', '"destination" is required.');
  if (description === undefined || description === null)
    throw invalid('INVALID_REQUEST', '"description" is required.');
  if (typeof description !== 'string' || description.length === 0 || description.length > 10) {
    throw invalid('INVALID_ACH_DESCRIPTION', '"description" must be a string of 1 to 10 characters.');
  }
  const metadata = checkMetadata(body.metadata, 'MAX_PAYMENT_METADATA_SIZE_EXCEEDED');
  if (source === destination)
    throw invalid('INVALID_TRANSFER', 'The source and destination cannot be the same account.');

  const src = accounts.get(source);
  if (!src) throw invalid('INVALID_SOURCE', `Source account with id ${source} could not be found.`);
  if (src.account.type === 'liability')
    throw invalid('INVALID_SOURCE_LIABILITY', 'A liability account cannot be a payment source.');
  if (src.account.type !== 'ach' || src.account.status !== 'active') {
    throw invalid('INVALID_SOURCE', 'The source account must be an active ACH account.');
  }
  if (src.holder.status !== 'active')
    throw invalid('INVALID_SOURCE_HOLDER', 'The source account holder is not active.');
  if (!src.account.products.includes('payment')) {
    throw invalid('INVALID_SOURCE_CAPABILITIES', 'The source account does not have the payment product.');
  }
  if (!src.holder.products.includes('payment')) {
    throw invalid(
      'INVALID_SOURCE_HOLDER_CAPABILITIES',
      'The source account holder does not have the payment product.',
    );
  }

  const dst = accounts.get(destination);
  if (!dst)
    throw invalid('INVALID_DESTINATION', `Destination account with id ${destination} could not be found.`);
  if (dst.account.status !== 'active')
    throw invalid('INVALID_DESTINATION', 'The destination account is not active.');
  if (dst.holder.status !== 'active') {
    throw invalid('INVALID_DESTINATION_HOLDER', 'The destination account holder is not active.');
  }
  if (!dst.account.products.includes('payment')) {
    throw invalid(
      'INVALID_DESTINATION_CAPABILITIES',
      'The destination account does not have the payment product.',
    );
  }
  return { amount, source: src, destination: dst, description, metadata };
}

export function buildPayment(req: ValidPaymentRequest, now: string): Payment {
  return {
    id: newId('pmt'),
    source: req.source.account.id,
    destination: req.destination.account.id,
    amount: req.amount,
    description: req.description,
    status: 'pending',
    source_status: 'pending',
    destination_status: 'pending',
    type: 'standard',
    error: null,
    metadata: req.metadata,
    estimated_completion_date: addBusinessDays(now, 2),
    source_settlement_date: addBusinessDays(now, 1),
    destination_settlement_date: addBusinessDays(now, 2),
    source_trace_id: null,
    destination_trace_id: null,
    destination_payment_method: 'electronic',
    reversal_id: null,
    fee: null,
    created_at: now,
    updated_at: now,
  };
}

/** A payment as GET returns it: with `fund_status`, which the create answer lacks (method.md §5.3). */
export function withFundStatus(p: Payment): Payment {
  return { ...p, fund_status: fundStatusOf(p.status) };
}

function fundStatusOf(status: string): string {
  switch (status) {
    case 'pending':
      return 'pending';
    case 'processing':
      return 'requested';
    case 'sent':
    case 'reversal_required':
    case 'reversal_processing':
      return 'sent';
    case 'posted':
    case 'settled':
      return 'posted';
    case 'failed':
    case 'reversed':
    case 'canceled':
      return 'failed';
    default:
      return 'unknown';
  }
}

function addBusinessDays(iso: string, days: number): string {
  const d = new Date(iso);
  let left = days;
  while (left > 0) {
    d.setUTCDate(d.getUTCDate() + 1);
    const wd = d.getUTCDay();
    if (wd !== 0 && wd !== 6) left--;
  }
  return d.toISOString().slice(0, 10);
}

export const PAYMENT_ERRORS: Record<number, { type: string; sub_type: string; message: string }> = {
  10001: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_INSUFFICIENT_FUNDS',
    message: 'Payment failed due to insufficient funds.',
  },
  10002: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_UNAUTHORIZED',
    message: 'Payment failed as it was reported unauthorized.',
  },
  10003: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_INVALID_ACCOUNT',
    message: 'Payment failed due to an invalid account.',
  },
  10005: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_UNAUTHORIZED_SOURCE',
    message: 'Payment failed: unauthorized source.',
  },
  10006: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_UNAUTHORIZED_DESTINATION',
    message: 'Payment failed: unauthorized destination.',
  },
  10007: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_INVALID_SOURCE_ACCOUNT',
    message: 'Payment failed: invalid source account.',
  },
  10008: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_INVALID_DESTINATION_ACCOUNT',
    message: 'Payment failed: invalid destination account.',
  },
  10009: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_REJECTED_BY_DESTINATION_INSTITUTION',
    message: 'Payment was rejected by the destination institution.',
  },
  10010: {
    type: 'PAYMENT_FAILED',
    sub_type: 'PAYMENT_REJECTED_INVALID_AMOUNT',
    message: 'Payment was rejected: invalid amount.',
  },
};

export function paymentError(code: number): Payment['error'] {
  const e = PAYMENT_ERRORS[code];
  if (!e)
    throw invalid(
      'INVALID_REQUEST',
      `"error_code" must be one of [${Object.keys(PAYMENT_ERRORS).join(', ')}].`,
    );
  return { ...e, code };
}

export function buildReversal(p: Payment, now: string): Reversal {
  return {
    id: newId('rvs'),
    pmt_id: p.id,
    target_account: p.source,
    trace_id: null,
    direction: 'debit',
    description: null,
    amount: p.amount,
    status: 'pending_approval',
    error: null,
    created_at: now,
    updated_at: now,
  };
}

// ---- webhooks -------------------------------------------------------------------------------------

export interface NewWebhook {
  webhook: Webhook;
  authToken: string | null;
  hmacSecret: string | null;
}

export function buildWebhook(body: unknown, now: string): NewWebhook {
  if (!isObject(body)) throw invalid('INVALID_REQUEST', 'Request body must be an object.');
  if (typeof body.type !== 'string' || !/^[a-z_]+\.[a-z_.]+$/.test(body.type)) {
    throw invalid('INVALID_REQUEST', '"type" must be a webhook event type such as payment.update.');
  }
  if (typeof body.url !== 'string' || !/^https?:\/\/\S+$/.test(body.url)) {
    throw invalid('INVALID_REQUEST', '"url" must be an http(s) URL.');
  }
  const authToken = typeof body.auth_token === 'string' ? body.auth_token : null;
  const hmacSecret = typeof body.hmac_secret === 'string' ? body.hmac_secret : null;
  const metadata = checkMetadata(body.metadata, 'MAX_WEBHOOK_METADATA_SIZE_EXCEEDED');
  return {
    webhook: {
      id: newId('whk'),
      type: body.type,
      url: body.url,
      metadata,
      expand_event: body.expand_event === true,
      status: 'active',
      error: null,
      created_at: now,
      updated_at: now,
    },
    authToken,
    hmacSecret,
  };
}

export function invalidStatus(message: string): MethodApiError {
  return invalid('INVALID_STATUS', message);
}
