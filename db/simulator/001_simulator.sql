-- The Method simulator's own state. Objects are kept as the JSON Method returns (`data`), with the
-- columns the simulator filters, sorts or moves on pulled out beside it.

CREATE TABLE sim_entities (
  id text PRIMARY KEY,
  seq bigserial UNIQUE,
  status text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sim_entity_verification_sessions (
  id text PRIMARY KEY,
  entity_id text NOT NULL REFERENCES sim_entities (id),
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sim_accounts (
  id text PRIMARY KEY,
  seq bigserial UNIQUE,
  holder_id text NOT NULL REFERENCES sim_entities (id),
  type text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_accounts_holder ON sim_accounts (holder_id);

CREATE TABLE sim_account_verification_sessions (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES sim_accounts (id),
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- fate: what the lifecycle will do with the payment, drawn from the faults in force at creation.
CREATE TABLE sim_payments (
  id text PRIMARY KEY,
  seq bigserial UNIQUE,
  status text NOT NULL,
  fate text NOT NULL CHECK (fate IN ('post', 'fail', 'return', 'reverse')),
  was_sent boolean NOT NULL DEFAULT false,
  next_step_at timestamptz,
  source text NOT NULL,
  destination text NOT NULL,
  destination_type text NOT NULL,
  source_holder_id text NOT NULL,
  destination_holder_id text NOT NULL,
  reversal_id text,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_payments_due ON sim_payments (next_step_at) WHERE next_step_at IS NOT NULL;
CREATE INDEX sim_payments_source ON sim_payments (source, seq);
CREATE INDEX sim_payments_destination ON sim_payments (destination, seq);
CREATE INDEX sim_payments_status ON sim_payments (status);

CREATE TABLE sim_reversals (
  id text PRIMARY KEY,
  pmt_id text NOT NULL REFERENCES sim_payments (id),
  status text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_reversals_payment ON sim_reversals (pmt_id);

CREATE TABLE sim_webhooks (
  id text PRIMARY KEY,
  seq bigserial UNIQUE,
  type text NOT NULL,
  url text NOT NULL,
  auth_token text,
  hmac_secret text,
  status text NOT NULL,
  consecutive_failures integer NOT NULL DEFAULT 0,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- op/path/refs are what a webhook payload carries; data is the event object GET /events/{id} returns.
CREATE TABLE sim_events (
  id text PRIMARY KEY,
  seq bigserial UNIQUE,
  type text NOT NULL,
  op text NOT NULL,
  resource_id text NOT NULL,
  resource_type text NOT NULL,
  path text NOT NULL,
  refs jsonb NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_events_resource ON sim_events (resource_id);

-- The outbox of webhook deliveries, written in the transaction that made the change.
CREATE TABLE sim_webhook_deliveries (
  id bigserial PRIMARY KEY,
  webhook_id text NOT NULL REFERENCES sim_webhooks (id),
  event_id text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'delivered', 'failed', 'dropped', 'skipped')),
  attempts integer NOT NULL DEFAULT 0,
  sent_count integer NOT NULL DEFAULT 0,
  last_status_code integer,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_webhook_deliveries_due ON sim_webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Method stores the first response for a key, whatever it was, and replays it.
CREATE TABLE sim_idempotency_keys (
  api_key text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  status_code integer NOT NULL,
  body jsonb NOT NULL,
  request_id text NOT NULL,
  replays integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key, key)
);
CREATE INDEX sim_idempotency_keys_created ON sim_idempotency_keys (created_at);

CREATE TABLE sim_counters (
  name text PRIMARY KEY,
  value bigint NOT NULL DEFAULT 0
);
