-- Time-ordered ids (UUIDv7) for the tables written 50,000 rows at a time (loans at upload; payments,
-- attempts and provisioning at approval and submission): each insert lands at the right edge of the
-- primary-key index instead of a random page, which makes the set-based inserts cheaper and keeps
-- the index compact. uuidv7() is built into PostgreSQL 18; an older server keeps random ids.
DO $$
DECLARE
  t text;
BEGIN
  IF current_setting('server_version_num')::int >= 180000 THEN
    FOREACH t IN ARRAY ARRAY['loans', 'payments', 'payment_attempts', 'provisioning', 'batches'] LOOP
      EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT uuidv7()', t);
    END LOOP;
  END IF;
END
$$;
