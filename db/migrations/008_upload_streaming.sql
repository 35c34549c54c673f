-- Uploads stream their lines straight into batch_lines while the file is parsed (no staging table),
-- so every index on batch_lines is paid for once per row of every upload. Two served only the
-- upload's own warnings, and neither stays cheap:
-- * the yearly-limit check summed, per employee, every line of every batch approved this year
--   (26 × 50k lines by December) through batch_lines_employee_idx. A running total per employee
--   and calendar year, added to when a batch is approved, answers it with one row per employee;
-- * the re-export check (same loan and amount in a live batch of the last 30 days) now joins the
--   few recent batches' lines by batch id (the primary key) with a hash join instead of probing
--   batch_lines_loan_idx 50,000 times.
CREATE TABLE employee_year_totals (
  employee_id text NOT NULL,
  year integer NOT NULL,
  -- the amounts of this employee's lines in the batches approved in this calendar year (UTC)
  approved_cents bigint NOT NULL,
  PRIMARY KEY (employee_id, year)
);
INSERT INTO employee_year_totals (employee_id, year, approved_cents)
SELECT l.employee_id, date_part('year', b.approved_at AT TIME ZONE 'UTC')::int, sum(l.amount_cents)
  FROM batch_lines l JOIN batches b ON b.id = l.batch_id
 WHERE b.approved_at IS NOT NULL
 GROUP BY 1, 2;

DROP INDEX batch_lines_employee_idx;
DROP INDEX batch_lines_loan_idx;
