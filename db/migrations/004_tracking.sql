-- Tracking after Method accepted a payment: the webhook inbox, the webhooks registered with
-- Method (and what happened to them), the poller's bookmark, and reconciliation runs.

-- Every verified delivery, once per Method event id. Processing (fetch the payment, apply its
-- status) happens after the 200, from this table, by any worker.
CREATE TABLE webhook_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  webhook_id text,
  type text NOT NULL,
  resource_id text NOT NULL,
  path text,
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  deliveries integer NOT NULL DEFAULT 1,
  -- pending → done (applied / nothing to do / ignored type) or given_up (the poller covers it).
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'given_up')),
  outcome text,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  last_error text
);
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE state = 'pending';

-- The webhooks LoanPay registered with Method, as last seen by the monitor. A webhook Method
-- disabled is recorded here (banner data for the UI) and re-enabled.
CREATE TABLE method_webhooks (
  method_webhook_id text PRIMARY KEY,
  type text NOT NULL,
  url text NOT NULL,
  status text NOT NULL,
  error jsonb,
  last_checked_at timestamptz NOT NULL DEFAULT now(),
  last_disabled_at timestamptz,
  last_reenabled_at timestamptz,
  reenable_count integer NOT NULL DEFAULT 0
);

-- The poller's bookmark: when Method was last asked about this payment.
ALTER TABLE payments ADD COLUMN method_checked_at timestamptz;
-- Payments Method may still move (not in a final status at Method — an unknown new status
-- included): what the poller walks.
CREATE INDEX payments_method_open_idx ON payments (method_checked_at)
  WHERE method_payment_id IS NOT NULL
    AND coalesce(method_status, '') NOT IN ('posted', 'cashed', 'canceled', 'failed', 'reversed', 'settled');

CREATE TABLE reconciliation_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  trigger text NOT NULL CHECK (trigger IN ('manual', 'nightly')),
  -- The night a scheduled run belongs to: one per night, whichever worker gets there first.
  run_date date,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  started_by uuid REFERENCES users (id),
  error text,
  summary jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX reconciliation_runs_nightly_key ON reconciliation_runs (run_date) WHERE trigger = 'nightly';
CREATE INDEX reconciliation_runs_started_idx ON reconciliation_runs (started_at DESC, id DESC);

-- What a run found. Append-only: a later run reports afresh, it never edits an earlier finding.
CREATE TABLE reconciliation_findings (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES reconciliation_runs (id),
  check_name text NOT NULL CHECK (check_name IN ('aggregates', 'ledger', 'method')),
  entity_type text NOT NULL,
  entity_id text NOT NULL,
  expected jsonb,
  actual jsonb,
  difference_cents bigint NOT NULL DEFAULT 0,
  repaired boolean NOT NULL DEFAULT false,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX reconciliation_findings_run_idx ON reconciliation_findings (run_id, id);
CREATE TRIGGER reconciliation_findings_append_only BEFORE UPDATE OR DELETE ON reconciliation_findings
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
