-- People and accounts from the customer's file, batches and their draft lines, warnings, totals.

-- One legal payor (same name and EIN) owns several CORP- sources.
CREATE TABLE payors (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  ein text NOT NULL,
  dba text NOT NULL,
  address_line1 text NOT NULL,
  city text NOT NULL,
  state text NOT NULL,
  zip text NOT NULL,
  method_entity_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (name, ein)
);

CREATE TABLE sources (
  source_id text PRIMARY KEY CHECK (source_id LIKE 'CORP-%'),
  payor_id uuid NOT NULL REFERENCES payors (id),
  name text NOT NULL,
  dba text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Bank details of a source; new details make a new row, the old one is kept for history.
CREATE TABLE source_bank_accounts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  source_id text NOT NULL REFERENCES sources (source_id),
  routing text NOT NULL,
  account_number_enc text NOT NULL,
  account_last4 text NOT NULL,
  fingerprint text NOT NULL,
  method_account_id text,
  first_batch_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_id, fingerprint)
);

CREATE TABLE employees (
  employee_id text PRIMARY KEY CHECK (employee_id LIKE 'EMP-%'),
  branch_id text NOT NULL,
  first_name text NOT NULL,
  last_name text NOT NULL,
  dob date NOT NULL,
  phone text NOT NULL,
  method_entity_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX employees_branch_idx ON employees (branch_id);

-- A loan is keyed by (employee, Plaid id, loan number); the number is stored encrypted and
-- compared through a keyed fingerprint.
CREATE TABLE loans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  employee_id text NOT NULL,
  plaid_id text NOT NULL,
  loan_number_enc text NOT NULL,
  loan_last4 text NOT NULL,
  fingerprint text NOT NULL,
  method_account_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (employee_id, plaid_id, fingerprint)
);

CREATE TABLE batches (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  file_name text NOT NULL,
  file_sha256 text NOT NULL,
  rows_digest text NOT NULL,
  status text NOT NULL CHECK (status IN ('awaiting_approval', 'approved', 'executing', 'paused', 'completed',
    'completed_with_exceptions', 'rejected', 'cancelling', 'cancelled')),
  row_count integer NOT NULL,
  total_cents bigint NOT NULL,
  uploaded_at timestamptz NOT NULL DEFAULT now(),
  uploaded_by uuid REFERENCES users (id),
  approved_at timestamptz,
  approved_by uuid REFERENCES users (id),
  rejected_at timestamptz,
  rejected_by uuid REFERENCES users (id),
  reject_reason text,
  preflight_status text NOT NULL DEFAULT 'pending' CHECK (preflight_status IN ('pending', 'complete', 'failed')),
  preflight_checked_at timestamptz,
  changes jsonb NOT NULL DEFAULT '{}'::jsonb
);
-- The same rows cannot be in two live batches; a rejected batch's file may come again.
CREATE UNIQUE INDEX batches_rows_digest_live_key ON batches (rows_digest) WHERE status <> 'rejected';
CREATE INDEX batches_uploaded_at_idx ON batches (uploaded_at DESC, id DESC);

-- The file's rows as stored on review, before any payment exists. High-volume tables (50k rows a
-- file) carry no foreign keys: each would lock its referenced row once per inserted row, and these
-- rows are only ever written by set-based statements selecting from the rows they reference.
CREATE TABLE batch_lines (
  batch_id uuid NOT NULL,
  row_number integer NOT NULL,
  employee_id text NOT NULL,
  branch_id text NOT NULL,
  first_name text NOT NULL,
  last_name text NOT NULL,
  source_id text NOT NULL,
  source_bank_account_id uuid NOT NULL,
  loan_id uuid NOT NULL,
  plaid_id text NOT NULL,
  amount_cents bigint NOT NULL CHECK (amount_cents BETWEEN 100 AND 100000000),
  flags text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (batch_id, row_number)
);
CREATE INDEX batch_lines_loan_idx ON batch_lines (loan_id, amount_cents);
CREATE INDEX batch_lines_employee_idx ON batch_lines (employee_id);

CREATE TABLE batch_warnings (
  batch_id uuid NOT NULL,
  seq integer NOT NULL,
  row_number integer NOT NULL,
  field text NOT NULL,
  code text NOT NULL,
  message text NOT NULL,
  PRIMARY KEY (batch_id, seq)
);
CREATE INDEX batch_warnings_code_idx ON batch_warnings (batch_id, code, seq);

-- Review totals per source and per branch, computed in the database when the draft is made.
CREATE TABLE batch_totals (
  batch_id uuid NOT NULL,
  dimension text NOT NULL CHECK (dimension IN ('source', 'branch')),
  key text NOT NULL,
  employee_count integer NOT NULL,
  payment_count integer NOT NULL,
  total_cents bigint NOT NULL,
  PRIMARY KEY (batch_id, dimension, key)
);

-- Plaid institution id → payable student-loan merchant, found on review (pre-flight).
CREATE TABLE plaid_merchants (
  plaid_id text PRIMARY KEY,
  payable boolean NOT NULL,
  merchant_id text,
  merchant_name text,
  reason text,
  checked_at timestamptz NOT NULL DEFAULT now()
);
