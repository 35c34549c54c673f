-- The Method objects an approved batch needs (people, loan accounts, payors, source accounts not at
-- Method yet) are planned by a worker right after the approval commits, not inside it: on a first
-- batch that is ~55,000 provisioning rows, as long to write as the payments themselves. The
-- approval books the payments (the work); a batch whose plan is not written yet has
-- provisioning_planned_at NULL, and any worker plans it in one transaction (SKIP LOCKED).
ALTER TABLE batches ADD COLUMN provisioning_planned_at timestamptz;
-- Batches approved before this migration were planned inside their approval.
UPDATE batches SET provisioning_planned_at = approved_at WHERE approved_at IS NOT NULL;
CREATE INDEX batches_unplanned_idx ON batches (approved_at)
  WHERE approved_at IS NOT NULL AND provisioning_planned_at IS NULL;
