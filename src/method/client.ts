// The typed Method API client: one HTTP call per function, every outcome classified for the caller
// (ok / definite_failure / retryable / ambiguous). It never retries and never invents a key.
//
// Why not the official `method-node` SDK (read at MethodFi/method-node src/resource.ts,
// configuration.ts): it builds an axios instance with no timeout option at all (a hung call hangs
// forever), pins its own `method-version` header (2024-04-04 / 2025-07-04 by release, not
// configurable), accepts `idempotency_key` only on top-level creates (its `_createWithSubPath`
// builds the header and then drops it, so verification sessions cannot be keyed; DELETE
// /payments and reversal approval take none), throws a `MethodError` that loses the HTTP status
// and the difference between "never sent" and "sent, answer lost", and exposes `idem-status` only
// through a global onResponse callback. LoanPay needs all of those per call, so this is a thin
// client on undici instead (undici is already a dependency; axios is not).
import { randomUUID } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import type {
  Account,
  AccountVerificationSession,
  CreateAccountRequest,
  CreateAccountVerificationSessionRequest,
  CreateEntityRequest,
  CreateEntityVerificationSessionRequest,
  CreatePaymentRequest,
  CreateWebhookRequest,
  Entity,
  EntityVerificationSession,
  ListAccountsQuery,
  ListMerchantsQuery,
  ListPaymentsQuery,
  Merchant,
  MethodEvent,
  Payment,
  Reversal,
  SimulatePaymentRequest,
  Webhook,
} from './types.js';
import { isStudentLoanType } from './types.js';

export type IdemStatus = 'stored' | 'replayed' | 'bypassed' | null;

/** Method's error, with `type` lower-cased because Method's casing varies (method.md §1.4). */
export interface MethodError {
  type: string;
  code: number | null;
  subType: string;
  message: string;
}

export interface Pagination {
  page: number | null;
  pageCount: number | null;
  pageLimit: number | null;
  totalCount: number | null;
  pageCursorNext: string | null;
  pageCursorPrev: string | null;
}

export interface Page<T> {
  items: T[];
  pagination: Pagination;
}

export type MethodOutcome<T> =
  | { kind: 'ok'; status: number; data: T; idemStatus: IdemStatus; requestId: string | null }
  | { kind: 'definite_failure'; status: number; error: MethodError; idemStatus: IdemStatus }
  | {
      kind: 'retryable';
      status?: number;
      error?: MethodError;
      retryAfterMs?: number;
      /**
       * Method replayed a stored 5xx for this idempotency key: retrying the key returns the same
       * answer forever. Look the object up; make a new attempt (new key) only if it is absent.
       */
      replayedFailure?: boolean;
      reason: 'rate_limited' | 'server_error' | 'idempotency_unavailable' | 'not_sent' | 'request_timeout';
    }
  | {
      kind: 'ambiguous';
      /** The request left this process; Method may or may not have applied it. */
      reason: 'timeout' | 'connection_dropped' | 'unreadable_response';
      status?: number;
    };

export interface MethodClientOptions {
  baseUrl: string;
  apiKey: string;
  version: string;
  /** Per-call deadline for the whole exchange (connect, send, answer). */
  timeoutMs?: number;
  /** Defaults to a private keep-alive agent, closed by `close()`. */
  dispatcher?: Dispatcher;
  userAgent?: string;
}

export interface CallOptions {
  timeoutMs?: number;
}

type Query = Record<string, string | number | boolean | undefined>;

interface RawRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  idempotencyKey?: string;
  timeoutMs?: number;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

type Transport =
  | { kind: 'response'; response: RawResponse }
  | { kind: 'failed'; sent: boolean; timedOut: boolean; error: Error };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Codes that prove the request never reached the server (nothing written on a socket). */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export const DEFAULT_TIMEOUT_MS = 15_000;

export function newIdempotencyKey(): string {
  return randomUUID();
}

export class MethodClient {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly prefix: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(opts: MethodClientOptions) {
    const url = new URL(opts.baseUrl);
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.ownsDispatcher = !opts.dispatcher;
    this.dispatcher = opts.dispatcher ?? new Agent({ keepAliveTimeout: 4_000, connections: 256 });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.headers = {
      authorization: `Bearer ${opts.apiKey}`,
      'method-version': opts.version,
      accept: 'application/json',
      'user-agent': opts.userAgent ?? 'LoanPay/0.1',
    };
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  // ---- entities ---------------------------------------------------------------------------------

  createEntity(body: CreateEntityRequest, idempotencyKey: string, opts?: CallOptions) {
    return this.create<Entity>('/entities', body, idempotencyKey, opts);
  }

  getEntity(entityId: string, opts?: CallOptions) {
    return this.get<Entity>(`/entities/${seg(entityId)}`, undefined, opts);
  }

  /** Phone (`byo_sms`) and identity (`kba`) sessions make an individual `active` (method.md §2.3). */
  createEntityVerificationSession(
    entityId: string,
    body: CreateEntityVerificationSessionRequest,
    idempotencyKey: string,
    opts?: CallOptions,
  ) {
    return this.create<EntityVerificationSession>(
      `/entities/${seg(entityId)}/verification_sessions`,
      body,
      idempotencyKey,
      opts,
    );
  }

  // ---- merchants --------------------------------------------------------------------------------

  listMerchants(query: ListMerchantsQuery, opts?: CallOptions) {
    return this.list<Merchant>('/merchants', { ...query }, opts);
  }

  getMerchant(merchantId: string, opts?: CallOptions) {
    return this.get<Merchant>(`/merchants/${seg(merchantId)}`, undefined, opts);
  }

  // ---- accounts ---------------------------------------------------------------------------------

  createAccount(body: CreateAccountRequest, idempotencyKey: string, opts?: CallOptions) {
    return this.create<Account>('/accounts', body, idempotencyKey, opts);
  }

  getAccount(accountId: string, opts?: CallOptions) {
    return this.get<Account>(`/accounts/${seg(accountId)}`, undefined, opts);
  }

  listAccounts(query: ListAccountsQuery, opts?: CallOptions) {
    return this.list<Account>('/accounts', { ...query }, opts);
  }

  /** Verifies an ACH account so it carries the `payment` product (method.md §4.3). */
  createAccountVerificationSession(
    accountId: string,
    body: CreateAccountVerificationSessionRequest,
    idempotencyKey: string,
    opts?: CallOptions,
  ) {
    return this.create<AccountVerificationSession>(
      `/accounts/${seg(accountId)}/verification_sessions`,
      body,
      idempotencyKey,
      opts,
    );
  }

  // ---- payments ---------------------------------------------------------------------------------

  createPayment(body: CreatePaymentRequest, idempotencyKey: string, opts?: CallOptions) {
    return this.create<Payment>('/payments', body, idempotencyKey, opts);
  }

  getPayment(paymentId: string, opts?: CallOptions) {
    return this.get<Payment>(`/payments/${seg(paymentId)}`, undefined, opts);
  }

  listPayments(query: ListPaymentsQuery, opts?: CallOptions) {
    return this.list<Payment>('/payments', { ...query }, opts);
  }

  /** Only a `pending` payment can be cancelled; otherwise a definite failure (`INVALID_STATUS`). */
  cancelPayment(paymentId: string, idempotencyKey?: string, opts?: CallOptions) {
    return this.send<Payment>({
      method: 'DELETE',
      path: `/payments/${seg(paymentId)}`,
      idempotencyKey: idempotencyKey && checkKey(idempotencyKey),
      timeoutMs: opts?.timeoutMs,
    });
  }

  listReversals(paymentId: string, opts?: CallOptions) {
    return this.list<Reversal>(`/payments/${seg(paymentId)}/reversals`, {}, opts);
  }

  getReversal(paymentId: string, reversalId: string, opts?: CallOptions) {
    return this.get<Reversal>(`/payments/${seg(paymentId)}/reversals/${seg(reversalId)}`, undefined, opts);
  }

  /** Approves a `pending_approval` reversal (`PUT {status:'pending'}`, method.md §5.7). */
  approveReversal(
    paymentId: string,
    reversalId: string,
    opts?: CallOptions & { idempotencyKey?: string; description?: string },
  ) {
    return this.send<Reversal>({
      method: 'PUT',
      path: `/payments/${seg(paymentId)}/reversals/${seg(reversalId)}`,
      body: { status: 'pending', ...(opts?.description ? { description: opts.description } : {}) },
      idempotencyKey: opts?.idempotencyKey && checkKey(opts.idempotencyKey),
      timeoutMs: opts?.timeoutMs,
    });
  }

  // ---- webhooks and events ------------------------------------------------------------------------

  createWebhook(body: CreateWebhookRequest, idempotencyKey: string, opts?: CallOptions) {
    return this.create<Webhook>('/webhooks', body, idempotencyKey, opts);
  }

  listWebhooks(opts?: CallOptions) {
    return this.list<Webhook>('/webhooks', {}, opts);
  }

  getWebhook(webhookId: string, opts?: CallOptions) {
    return this.get<Webhook>(`/webhooks/${seg(webhookId)}`, undefined, opts);
  }

  /** `{status:'active'}` re-enables a webhook Method disabled after failed deliveries. */
  updateWebhook(webhookId: string, body: { status: 'active' | 'disabled' }, opts?: CallOptions) {
    return this.send<Webhook>({
      method: 'PATCH',
      path: `/webhooks/${seg(webhookId)}`,
      body,
      timeoutMs: opts?.timeoutMs,
    });
  }

  deleteWebhook(webhookId: string, opts?: CallOptions) {
    return this.send<null>({
      method: 'DELETE',
      path: `/webhooks/${seg(webhookId)}`,
      timeoutMs: opts?.timeoutMs,
    });
  }

  getEvent(eventId: string, opts?: CallOptions) {
    return this.get<MethodEvent>(`/events/${seg(eventId)}`, undefined, opts);
  }

  /** Method `dev` (and the simulator) only: force a payment's next status. */
  simulatePaymentStatus(paymentId: string, body: SimulatePaymentRequest, opts?: CallOptions) {
    return this.send<Payment>({
      method: 'POST',
      path: `/simulate/payments/${seg(paymentId)}`,
      body,
      timeoutMs: opts?.timeoutMs,
    });
  }

  ping(opts?: CallOptions) {
    return this.get<null>('/ping', undefined, opts);
  }

  // ---- transport --------------------------------------------------------------------------------

  private create<T>(path: string, body: unknown, idempotencyKey: string, opts?: CallOptions) {
    return this.send<T>({
      method: 'POST',
      path,
      body,
      idempotencyKey: checkKey(idempotencyKey),
      timeoutMs: opts?.timeoutMs,
    });
  }

  private get<T>(path: string, query?: Query, opts?: CallOptions) {
    return this.send<T>({ method: 'GET', path, query, timeoutMs: opts?.timeoutMs });
  }

  private async list<T>(path: string, query: Query, opts?: CallOptions): Promise<MethodOutcome<Page<T>>> {
    const outcome = await this.exchange({ method: 'GET', path, query, timeoutMs: opts?.timeoutMs });
    if (outcome.kind !== 'ok') return outcome;
    const items = Array.isArray(outcome.data) ? (outcome.data as T[]) : [];
    return { ...outcome, data: { items, pagination: readPagination(outcome.headers) } };
  }

  private async send<T>(req: RawRequest): Promise<MethodOutcome<T>> {
    const outcome = await this.exchange(req);
    if (outcome.kind !== 'ok') return outcome;
    const { headers: _headers, ...rest } = outcome;
    return { ...rest, data: outcome.data as T };
  }

  private async exchange(req: RawRequest): Promise<
    | {
        kind: 'ok';
        status: number;
        data: unknown;
        idemStatus: IdemStatus;
        requestId: string | null;
        headers: Record<string, string>;
      }
    | Exclude<MethodOutcome<unknown>, { kind: 'ok' }>
  > {
    const transport = await this.transport(req);
    if (transport.kind === 'failed') {
      if (!transport.sent) return { kind: 'retryable', reason: 'not_sent' };
      return { kind: 'ambiguous', reason: transport.timedOut ? 'timeout' : 'connection_dropped' };
    }
    return classify(transport.response);
  }

  private transport(req: RawRequest): Promise<Transport> {
    const headers: Record<string, string> = { ...this.headers };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    if (req.idempotencyKey) headers['idempotency-key'] = req.idempotencyKey;
    const path = this.prefix + req.path + queryString(req.query);
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;

    return new Promise<Transport>((resolve) => {
      let sent = false;
      let timedOut = false;
      let settled = false;
      let abort: ((err?: Error) => void) | undefined;
      let status = 0;
      let resHeaders: Record<string, string> = {};
      const chunks: Buffer[] = [];
      const finish = (t: Transport) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(t);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        const err = new Error(`Method call timed out after ${timeoutMs} ms`);
        if (abort) abort(err);
        // If undici never handed us an abort handle the request is still queued: not sent.
        else finish({ kind: 'failed', sent, timedOut, error: err });
      }, timeoutMs);

      // undici's handler callbacks are the one place that knows whether the request reached the
      // socket; `onRequestSent` is not in the type declarations but is called by the h1 client.
      const handler: Dispatcher.DispatchHandler & { onRequestSent(): void } = {
        onConnect(abortFn) {
          abort = abortFn;
          // Our deadline passed while the request waited for a socket: stop it before it is written.
          if (settled) abortFn(new Error('Method call abandoned after its deadline'));
        },
        onBodySent() {
          sent = true;
        },
        onRequestSent() {
          sent = true;
        },
        onHeaders(statusCode, rawHeaders) {
          sent = true;
          if (statusCode < 200) return true;
          status = statusCode;
          resHeaders = parseHeaders(rawHeaders);
          return true;
        },
        onData(chunk) {
          chunks.push(chunk);
          return true;
        },
        onComplete() {
          finish({
            kind: 'response',
            response: { status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8') },
          });
        },
        onError(error) {
          const code = (error as NodeJS.ErrnoException).code ?? '';
          // A refused/unresolvable connection cannot have carried the request, whatever we saw.
          const provablyNotSent = NOT_SENT_CODES.has(code) && status === 0;
          finish({ kind: 'failed', sent: sent && !provablyNotSent, timedOut, error });
        },
      };
      try {
        this.dispatcher.dispatch(
          { origin: this.origin, path, method: req.method, headers, body, headersTimeout: 0, bodyTimeout: 0 },
          handler,
        );
      } catch (error) {
        finish({ kind: 'failed', sent: false, timedOut: false, error: error as Error });
      }
    });
  }
}

/** Turns one HTTP answer into an outcome. Exported for unit tests. */
export function classify(res: RawResponse):
  | {
      kind: 'ok';
      status: number;
      data: unknown;
      idemStatus: IdemStatus;
      requestId: string | null;
      headers: Record<string, string>;
    }
  | Exclude<MethodOutcome<unknown>, { kind: 'ok' }> {
  const idemStatus = readIdemStatus(res.headers['idem-status']);
  let parsed: unknown;
  let parseable = true;
  try {
    parsed = res.body === '' ? undefined : JSON.parse(res.body);
  } catch {
    parseable = false;
  }
  const envelope = isRecord(parsed) ? parsed : undefined;
  const error = readError(envelope, res.status);

  if (res.status >= 200 && res.status < 300) {
    if (!parseable || !envelope || envelope.success === false) {
      return { kind: 'ambiguous', reason: 'unreadable_response', status: res.status };
    }
    return {
      kind: 'ok',
      status: res.status,
      data: envelope.data ?? null,
      idemStatus,
      requestId: res.headers['idem-request-id'] ?? null,
      headers: res.headers,
    };
  }
  if (res.status === 429) {
    return {
      kind: 'retryable',
      status: 429,
      reason: 'rate_limited',
      ...(error ? { error } : {}),
      retryAfterMs: parseRetryAfter(res.headers['retry-after']) ?? 60_000,
    };
  }
  if (res.status >= 500) {
    const idemUnavailable = res.status === 503 && error?.subType === 'IDEMPOTENCY_UNAVAILABLE';
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    return {
      kind: 'retryable',
      status: res.status,
      reason: idemUnavailable ? 'idempotency_unavailable' : 'server_error',
      ...(error ? { error } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(idemStatus === 'replayed' ? { replayedFailure: true } : {}),
    };
  }
  if (res.status === 408) return { kind: 'retryable', status: 408, reason: 'request_timeout' };
  return {
    kind: 'definite_failure',
    status: res.status,
    error: error ?? {
      type: 'unknown',
      code: res.status,
      subType: 'UNKNOWN',
      message: res.body.slice(0, 500),
    },
    idemStatus,
  };
}

// ---- helpers for callers ------------------------------------------------------------------------

export type MerchantResolution =
  | { kind: 'payable'; merchantId: string; name: string }
  | { kind: 'unpayable'; reason: string }
  | { kind: 'error'; outcome: Exclude<MethodOutcome<unknown>, { kind: 'ok' }> };

/**
 * Finds the student-loan merchant for a Plaid institution id. One Plaid id can map to several
 * merchants (one per liability vertical), so the type decides; a permanent merchant wins over a
 * temporary one ("susceptible to change"), then Method's order.
 */
export async function resolvePayableMerchant(
  client: Pick<MethodClient, 'listMerchants'>,
  plaidId: string,
  opts?: CallOptions,
): Promise<MerchantResolution> {
  const outcome = await client.listMerchants({ 'provider_id.plaid': plaidId, page_limit: 100 }, opts);
  if (outcome.kind !== 'ok') return { kind: 'error', outcome };
  const merchants = outcome.data.items;
  const loans = merchants.filter((m) => isStudentLoanType(m.type));
  const chosen = loans.find((m) => !m.is_temp) ?? loans[0];
  if (chosen) return { kind: 'payable', merchantId: chosen.id, name: chosen.name };
  if (merchants.length === 0) return { kind: 'unpayable', reason: `Method knows no merchant for ${plaidId}` };
  const types = [...new Set(merchants.map((m) => m.type))].sort().join(', ');
  return { kind: 'unpayable', reason: `${plaidId} has no student-loan merchant at Method (only: ${types})` };
}

export type LoanPayPaymentStatus =
  | 'submitted'
  | 'processing'
  | 'paid'
  | 'failed'
  | 'returned'
  | 'cancelled'
  | 'needs_review';

/**
 * Method's payment status → LoanPay's (method.md "Statuses"). `wasSent`: Method showed the payment
 * `sent` (or later) before — a `failed` after that is a return. Unknown values give null: the
 * caller logs them and keeps the last known status.
 */
export function mapMethodPaymentStatus(
  methodStatus: string,
  ctx: { wasSent: boolean },
): LoanPayPaymentStatus | null {
  switch (methodStatus) {
    case 'pending':
      return 'submitted';
    case 'processing':
    case 'reversal_processing':
      return 'processing';
    case 'sent':
    case 'posted':
    case 'settled':
      return 'paid';
    case 'failed':
      return ctx.wasSent ? 'returned' : 'failed';
    case 'reversed':
      return 'returned';
    case 'canceled':
      return 'cancelled';
    case 'reversal_required':
      return 'needs_review';
    default:
      return null;
  }
}

/** Did the money leave the source? A `failed` with the source side `sent` is a return, seen or not. */
export function methodShowsSent(mp: { status: string; source_status?: string | null }): boolean {
  return isSentOrLater(mp.status) || (mp.status === 'failed' && mp.source_status === 'sent');
}

/** Statuses that mean the money reached the networks: a later `failed` is a return. */
export function isSentOrLater(methodStatus: string): boolean {
  return [
    'sent',
    'posted',
    'settled',
    'reversal_required',
    'reversal_processing',
    'reversed',
    'cashed',
  ].includes(methodStatus);
}

// ---- internals ----------------------------------------------------------------------------------

function checkKey(key: string): string {
  // Method declares `format: uuid`; a key that is not one is a bug in the caller, not an outcome.
  if (!UUID_RE.test(key)) throw new TypeError(`Idempotency-Key must be a UUID, got "${key}"`);
  return key;
}

function seg(id: string): string {
  return encodeURIComponent(id);
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

function parseHeaders(raw: Buffer[] | string[] | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) out[raw[i].toString().toLowerCase()] = raw[i + 1].toString();
  return out;
}

function readIdemStatus(v: string | undefined): IdemStatus {
  return v === 'stored' || v === 'replayed' || v === 'bypassed' ? v : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readError(envelope: Record<string, unknown> | undefined, status: number): MethodError | undefined {
  if (!envelope) return undefined;
  // Method's envelope nests it in data.error; the V1 503 example has it at the top level.
  const data = isRecord(envelope.data) ? envelope.data : undefined;
  const raw = isRecord(data?.error) ? data.error : isRecord(envelope.error) ? envelope.error : undefined;
  if (!raw) return undefined;
  const code = typeof raw.code === 'number' ? raw.code : Number.parseInt(String(raw.code ?? ''), 10);
  return {
    type: String(raw.type ?? '').toLowerCase(),
    code: Number.isFinite(code) ? code : status,
    subType: String(raw.sub_type ?? ''),
    message: String(raw.message ?? envelope.message ?? ''),
  };
}

function parseRetryAfter(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function readPagination(h: Record<string, string>): Pagination {
  const num = (name: string) => {
    const v = h[name];
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
  };
  return {
    page: num('pagination-page'),
    pageCount: num('pagination-page-count'),
    pageLimit: num('pagination-page-limit'),
    totalCount: num('pagination-total-count'),
    pageCursorNext: h['pagination-page-cursor-next'] || null,
    pageCursorPrev: h['pagination-page-cursor-prev'] || null,
  };
}
