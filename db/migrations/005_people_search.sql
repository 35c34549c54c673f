-- Finding people and accounts fast: trigram indexes for "id or partial name" search over employees
-- and an ordered index for its keyset pages.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The search expression must match these exactly (src/server/employees/employees.repository.ts).
CREATE INDEX employees_full_name_trgm_idx ON employees USING gin ((first_name || ' ' || last_name) gin_trgm_ops);
CREATE INDEX employees_id_trgm_idx ON employees USING gin (employee_id gin_trgm_ops);
CREATE INDEX employees_name_order_idx ON employees (last_name, first_name, employee_id);
