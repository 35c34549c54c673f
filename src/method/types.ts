// The Method Financial objects LoanPay reads and writes (docs/method.md), with Method's own field
// names. Enums are open: Method adds values without a version bump, so unknown strings must type-check.

/** A known set of strings that still accepts any other string Method may send tomorrow. */
export type Open<T extends string> = T | (string & {});

export interface MethodResourceError {
  type: string;
  code: number;
  sub_type: string;
  message: string;
}

export type Metadata = Record<string, unknown>;

// ---- entities -------------------------------------------------------------------------------------

export type EntityStatus = Open<'incomplete' | 'active' | 'disabled'>;
export type EntityType = Open<
  | 'individual'
  | 'corporation'
  | 'c_corporation'
  | 's_corporation'
  | 'llc'
  | 'partnership'
  | 'sole_proprietorship'
>;

export interface EntityAddress {
  line1?: string | null;
  line2?: string | null;
  city?: string | null;
  state?: string | null;
  zip?: string | null;
}

export interface EntityIndividual {
  first_name?: string | null;
  last_name?: string | null;
  phone?: string | null;
  email?: string | null;
  dob?: string | null;
  ssn?: string | null;
  ssn_4?: string | null;
}

export interface EntityCorporationOwner {
  first_name?: string;
  last_name?: string;
  phone?: string;
  email?: string;
  dob?: string;
  address?: EntityAddress;
}

export interface EntityCorporation {
  name?: string | null;
  dba?: string | null;
  ein?: string | null;
  owners?: EntityCorporationOwner[];
}

export interface EntityVerificationPart {
  verified: boolean;
  matched?: boolean;
  latest_verification_session: string | null;
  methods: string[];
}

export interface Entity {
  id: string;
  type: EntityType;
  individual: EntityIndividual | null;
  corporation: EntityCorporation | null;
  address: EntityAddress | null;
  status: EntityStatus;
  verification: { identity: EntityVerificationPart; phone: EntityVerificationPart } | null;
  products: string[];
  restricted_products: string[];
  subscriptions: string[];
  available_subscriptions: string[];
  restricted_subscriptions: string[];
  error: MethodResourceError | null;
  metadata: Metadata | null;
  created_at: string;
  updated_at: string;
}

export type CreateEntityRequest =
  | { type: 'individual'; individual: EntityIndividual; address?: EntityAddress; metadata?: Metadata }
  | { type: 'corporation'; corporation: EntityCorporation; address?: EntityAddress; metadata?: Metadata };

export type VerificationSessionStatus = Open<'pending' | 'in_progress' | 'verified' | 'failed'>;

export type CreateEntityVerificationSessionRequest =
  | { type: 'phone'; method: 'byo_sms'; byo_sms: { timestamp: string } }
  | { type: 'phone'; method: Open<'sms' | 'sna'>; [key: string]: unknown }
  | { type: 'identity'; method: 'kba'; kba: Record<string, unknown> }
  | { type: 'identity'; method: Open<'byo_kyc' | 'element' | 'method_verified'>; [key: string]: unknown };

export interface EntityVerificationSession {
  id: string;
  entity_id: string;
  status: VerificationSessionStatus;
  type: Open<'phone' | 'identity'>;
  method: string;
  error: MethodResourceError | null;
  created_at: string;
  updated_at: string;
  [methodDetails: string]: unknown;
}

// ---- merchants ------------------------------------------------------------------------------------

/** Method's enum holds both spellings of the student-loan type; compare with `isStudentLoanType`. */
export type MerchantType = Open<
  'student_loans' | 'student_loan' | 'credit_card' | 'auto_loan' | 'mortgage' | 'personal_loan'
>;

export interface Merchant {
  id: string;
  parent_name: string | null;
  name: string;
  logo: string | null;
  type: MerchantType;
  provider_ids: {
    plaid: string[];
    mx: string[];
    finicity: string[];
    dpp?: string[];
    rpps?: string[];
  };
  is_temp: boolean;
  account_number_formats: string[];
}

export interface ListMerchantsQuery {
  'provider_id.plaid'?: string;
  'provider_id.mx'?: string;
  'provider_id.finicity'?: string;
  name?: string;
  type?: string;
  page?: number;
  page_limit?: number;
}

// ---- accounts -------------------------------------------------------------------------------------

export type AccountStatus = Open<'active' | 'disabled' | 'closed' | 'processing' | 'pending_exchange'>;
export type AccountProduct = Open<
  | 'payment'
  | 'balance'
  | 'sensitive'
  | 'card_brand'
  | 'payoff'
  | 'update'
  | 'attribute'
  | 'transactions'
  | 'payment_instrument'
>;

export interface AccountAch {
  routing: string;
  number: string;
  type: Open<'checking' | 'savings'>;
}

export interface AccountLiability {
  mch_id: string;
  mask: string | null;
  ownership: string | null;
  type: MerchantType | null;
  sub_type: string | null;
  name: string | null;
  fingerprint: string | null;
}

export interface Account {
  id: string;
  holder_id: string;
  status: AccountStatus;
  type: Open<'ach' | 'liability' | 'clearing' | 'debit_card'> | null;
  ach?: AccountAch;
  liability?: AccountLiability;
  products: AccountProduct[];
  restricted_products: AccountProduct[];
  latest_verification_session: string | null;
  error: MethodResourceError | null;
  metadata: Metadata | null;
  created_at: string;
  updated_at: string;
}

export type CreateAccountRequest =
  | {
      holder_id: string;
      ach: { routing: string; number: string; type: 'checking' | 'savings' };
      metadata?: Metadata;
    }
  | { holder_id: string; liability: { mch_id: string; account_number: string }; metadata?: Metadata };

export interface ListAccountsQuery {
  holder_id?: string;
  type?: string;
  status?: string;
  page?: number;
  page_limit?: number;
  page_cursor?: string;
}

export interface CreateAccountVerificationSessionRequest {
  type: Open<'micro_deposits' | 'plaid' | 'mx' | 'teller' | 'standard' | 'instant' | 'pre_auth' | 'network'>;
  [details: string]: unknown;
}

export interface AccountVerificationSession {
  id: string;
  account_id: string;
  status: VerificationSessionStatus;
  type: string;
  error: MethodResourceError | null;
  created_at: string;
  updated_at: string;
  [details: string]: unknown;
}

// ---- payments -------------------------------------------------------------------------------------

export type PaymentStatus = Open<
  | 'pending'
  | 'canceled'
  | 'processing'
  | 'sent'
  | 'posted'
  | 'failed'
  | 'reversal_required'
  | 'reversal_processing'
  | 'reversed'
  | 'settled'
  | 'cashed'
>;

export interface Payment {
  id: string;
  source: string;
  destination: string;
  amount: number;
  description: string;
  status: PaymentStatus;
  source_status: string;
  destination_status: string;
  fund_status?: string;
  type: Open<'standard' | 'clearing'>;
  error: MethodResourceError | null;
  metadata: Metadata | null;
  estimated_completion_date: string | null;
  source_settlement_date: string | null;
  destination_settlement_date: string | null;
  source_trace_id: string | null;
  destination_trace_id: string | null;
  destination_payment_method: Open<'electronic' | 'paper'> | null;
  reversal_id: string | null;
  fee: { type: string; amount: number } | null;
  created_at: string;
  updated_at: string;
}

export interface CreatePaymentRequest {
  /** Integer cents, 100..100_000_000. */
  amount: number;
  source: string;
  destination: string;
  /** At most 10 characters. */
  description: string;
  /** At most 1 KB as JSON. */
  metadata?: Metadata;
}

export interface ListPaymentsQuery {
  status?: string;
  type?: string;
  source?: string;
  destination?: string;
  acc_id?: string;
  holder_id?: string;
  source_holder_id?: string;
  destination_holder_id?: string;
  reversal_id?: string;
  /** YYYY-MM-DD, inclusive, on the created date. */
  from_date?: string;
  to_date?: string;
  page?: number;
  page_limit?: number;
  page_cursor?: string;
}

export type ReversalStatus = Open<
  'pending_approval' | 'pending' | 'processing' | 'sent' | 'failed' | 'pending_settlement'
>;

export interface Reversal {
  id: string;
  pmt_id: string;
  target_account: string;
  trace_id: string | null;
  direction: Open<'debit' | 'credit'>;
  description: string | null;
  amount: number;
  status: ReversalStatus;
  error: MethodResourceError | null;
  created_at: string;
  updated_at: string;
}

// ---- webhooks and events --------------------------------------------------------------------------

export type WebhookStatus = Open<'active' | 'requires_attention' | 'disabled' | 'deleted'>;

export interface Webhook {
  id: string;
  type: string;
  url: string;
  metadata: Metadata | null;
  expand_event: boolean;
  status: WebhookStatus;
  error: MethodResourceError | null;
  created_at: string;
  updated_at: string;
}

export interface CreateWebhookRequest {
  type: string;
  url: string;
  auth_token?: string;
  hmac_secret?: string;
  metadata?: Metadata;
  expand_event?: boolean;
}

/** The body Method POSTs to a webhook URL. It names the resource; it never carries its status. */
export interface WebhookPayload {
  webhook_id: string;
  id: string;
  type: string;
  op: Open<'create' | 'update'>;
  path?: string;
  event: string;
  refs?: Record<string, string>;
}

export interface MethodEvent {
  id: string;
  type: string;
  resource_id: string;
  resource_type: string;
  related_ids?: string[];
  data: unknown;
  diff: { before: unknown; after: unknown } | null;
  created_at: string;
  updated_at: string;
}

export interface SimulatePaymentRequest {
  status: PaymentStatus;
  error_code?: number;
}

export function isStudentLoanType(type: string | null | undefined): boolean {
  const t = (type ?? '').toLowerCase();
  return t === 'student_loans' || t === 'student_loan';
}
