-- Payments, their attempts and history, the double-entry ledger, batch aggregates (delta rows),
-- Method provisioning and the shared throttle. As in 002, the high-volume tables have no foreign
-- keys (a per-row lock on the referenced row each); they are written set-based from the rows they
-- reference, and the reconciliation checks them.

CREATE TABLE payments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  batch_id uuid NOT NULL,
  row_number integer NOT NULL,
  employee_id text NOT NULL,
  employee_name text NOT NULL,
  branch_id text NOT NULL,
  source_id text NOT NULL,
  source_bank_account_id uuid NOT NULL,
  loan_id uuid NOT NULL,
  plaid_id text NOT NULL,
  amount_cents bigint NOT NULL CHECK (amount_cents BETWEEN 100 AND 100000000),
  status text NOT NULL CHECK (status IN ('queued', 'submitting', 'retry_scheduled', 'unknown', 'submitted', 'processing',
    'paid', 'failed', 'returned', 'cancelled', 'needs_review')),
  -- Why a payment waits for a person, or why it failed / was cancelled.
  failure_code text,
  failure_message text,
  review_reason text,
  method_payment_id text,
  method_status text,
  -- Method reported `sent` (or later) at least once: a later `failed` is a return, not a failure.
  method_was_sent boolean NOT NULL DEFAULT false,
  attempts integer NOT NULL DEFAULT 0,
  current_attempt_id uuid,
  -- Work queue: a runnable payment (queued, retry_scheduled, unknown) is claimed when next_run_at has passed.
  next_run_at timestamptz,
  lease_token uuid,
  lease_expires_at timestamptz,
  retry_count integer NOT NULL DEFAULT 0,
  version integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (batch_id, row_number)
);
CREATE INDEX payments_runnable_idx ON payments (next_run_at)
  WHERE status IN ('queued', 'retry_scheduled', 'unknown');
CREATE INDEX payments_leased_idx ON payments (lease_expires_at) WHERE status = 'submitting';
CREATE INDEX payments_tracking_idx ON payments (updated_at) WHERE status IN ('submitted', 'processing');
CREATE INDEX payments_batch_status_idx ON payments (batch_id, status);
CREATE INDEX payments_employee_idx ON payments (employee_id, created_at);
CREATE INDEX payments_source_idx ON payments (source_id, created_at);
CREATE INDEX payments_method_idx ON payments (method_payment_id) WHERE method_payment_id IS NOT NULL;
CREATE INDEX payments_needs_review_idx ON payments (updated_at) WHERE status = 'needs_review';

-- Each attempt at Method has its own idempotency key, written (committed) before the first call.
CREATE TABLE payment_attempts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  payment_id uuid NOT NULL,
  attempt_no integer NOT NULL,
  idempotency_key uuid NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  calls integer NOT NULL DEFAULT 0,
  last_outcome text,
  last_http_status integer,
  last_error text,
  method_payment_id text,
  -- open: may still exist at Method; resolved_absent/failed/cancelled: proven not to move money; accepted: Method has it.
  state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'absent', 'failed', 'cancelled')),
  UNIQUE (payment_id, attempt_no)
);

-- Every status change of a payment, with its cause. Append-only.
CREATE TABLE payment_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id uuid NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  from_status text,
  to_status text NOT NULL,
  cause text NOT NULL CHECK (cause IN ('approval', 'worker', 'webhook', 'reconciler', 'person', 'sweeper', 'batch')),
  actor text,
  method_status text,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX payment_events_payment_idx ON payment_events (payment_id, id);
CREATE TRIGGER payment_events_append_only BEFORE UPDATE OR DELETE ON payment_events
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payment_events_no_truncate BEFORE TRUNCATE ON payment_events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Batch aggregates as delta rows (no hot row): the figures of a (source, branch, group) cell are
-- the sums of its deltas. Approval writes the opening rows; every group change adds -1/+1 rows.
CREATE TABLE batch_aggregate_deltas (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id uuid NOT NULL,
  source_id text NOT NULL,
  branch_id text NOT NULL,
  grp text NOT NULL CHECK (grp IN ('pending', 'paid', 'failed', 'returned', 'cancelled')),
  count_delta integer NOT NULL,
  cents_delta bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batch_aggregate_deltas_batch_idx ON batch_aggregate_deltas (batch_id);

-- Double-entry ledger. Accounts: per source (funds committed out of it), per source clearing
-- (in flight), per loan (received). Entries of one posting are written in one statement and must
-- sum to zero (checked by a statement trigger). Append-only.
CREATE TABLE ledger_accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('source', 'clearing', 'loan')),
  ref text NOT NULL,
  UNIQUE (kind, ref)
);

-- A posting belongs to one payment, or (approval's reservation, a batch cancel's release) to a
-- batch and source as a whole: one posting for thousands of payments.
CREATE TABLE ledger_postings (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('reserve', 'release', 'pay', 'return', 'unpay', 'adjust')),
  payment_id uuid,
  batch_id uuid,
  source_id text,
  payment_count integer NOT NULL DEFAULT 1,
  at timestamptz NOT NULL DEFAULT now(),
  description text NOT NULL
);
CREATE INDEX ledger_postings_payment_idx ON ledger_postings (payment_id);
CREATE INDEX ledger_postings_batch_idx ON ledger_postings (batch_id, source_id) WHERE payment_id IS NULL;

CREATE TABLE ledger_entries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  posting_id bigint NOT NULL,
  account_id bigint NOT NULL,
  -- Debit positive, credit negative.
  amount_cents bigint NOT NULL CHECK (amount_cents <> 0)
);
CREATE INDEX ledger_entries_posting_idx ON ledger_entries (posting_id);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id);

CREATE FUNCTION ledger_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
  SELECT posting_id, sum(amount_cents) AS total INTO bad FROM new_entries GROUP BY posting_id
   HAVING sum(amount_cents) <> 0 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger posting % does not balance (sums to % cents)', bad.posting_id, bad.total
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_balanced();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Method objects LoanPay creates once across all batches (entities, their verification, accounts).
-- Each step has its key, written before the call, so a crash never creates a second object.
CREATE TABLE provisioning (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('individual', 'corporation', 'ach_account', 'liability_account')),
  ref text NOT NULL,
  step text NOT NULL DEFAULT 'create',
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_progress', 'done', 'failed')),
  idempotency_key uuid NOT NULL DEFAULT gen_random_uuid(),
  method_id text,
  attempts integer NOT NULL DEFAULT 0,
  next_run_at timestamptz NOT NULL DEFAULT now(),
  lease_token uuid,
  lease_expires_at timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, ref)
);
CREATE INDEX provisioning_runnable_idx ON provisioning (next_run_at) WHERE status IN ('pending', 'in_progress');
-- The payor side (a corporation, a few ACH accounts) goes first: every payment needs its source.
CREATE INDEX provisioning_source_side_idx ON provisioning (next_run_at)
  WHERE status IN ('pending', 'in_progress') AND kind IN ('corporation', 'ach_account');

-- A token bucket shared by every worker process (payment creations per minute).
CREATE TABLE throttles (
  name text PRIMARY KEY,
  tokens double precision NOT NULL,
  capacity double precision NOT NULL,
  per_second double precision NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  blocked_until timestamptz
);

-- Control flags per batch for workers: paused batches are skipped.
ALTER TABLE batches ADD COLUMN paused boolean NOT NULL DEFAULT false;
ALTER TABLE batches ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE batches ADD COLUMN cancel_reason text;
