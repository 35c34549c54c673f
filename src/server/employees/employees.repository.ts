// Employees across batches: search by id or partial name (trigram indexes, 005_people_search.sql),
// the masked profile, loans, wallet and payment history of one.
import { normalizeEmployeeId } from '../../shared/ids.js';
import type { Queryable } from '../db.js';
import type { PaymentRow } from '../payments/payments.repository.js';
import { type Payment, toPayment } from '../payments/payments.service.js';

/** The newest payments shown with a person or an account; older ones via the batch lists. */
export const HISTORY_LIMIT = 1000;

// Must stay the exact expression of employees_full_name_trgm_idx, or the index is not used.
const FULL_NAME = "(e.first_name || ' ' || e.last_name)";
const PENDING_STATUSES = "('paid', 'failed', 'returned', 'cancelled')";

export interface EmployeeListItem {
  employeeId: string;
  firstName: string;
  lastName: string;
  branchId: string;
  paidCents: number;
  pendingCents: number;
}

export type EmployeeCursor = [string, string, string];

export const likeEscape = (s: string) => s.replace(/[%_\\]/g, '\\$&');

/**
 * One page of employees ordered by (last name, first name, id). `q`: a full `EMP-` id (exact), or
 * words that must each appear in the name, or a fragment of an id. paidCents comes from the ledger
 * (the employee's loan accounts); pendingCents from the payments not yet final, which the ledger
 * holds per source (clearing), not per person.
 */
export async function searchEmployees(
  db: Queryable,
  opts: { q?: string; after?: EmployeeCursor; limit: number },
): Promise<(EmployeeListItem & { cursor: EmployeeCursor })[]> {
  const args: unknown[] = [opts.limit];
  const conds: string[] = [];
  const arg = (v: unknown) => {
    args.push(v);
    return `$${args.length}`;
  };
  const q = opts.q?.trim() ?? '';
  if (/^EMP-[0-9a-f-]{36}$/i.test(q)) {
    conds.push(`e.employee_id = ${arg(normalizeEmployeeId(q))}`);
  } else if (q) {
    const words = q.split(/\s+/).map((w) => `%${likeEscape(w)}%`);
    const byName = words.map((w) => `${FULL_NAME} ILIKE ${arg(w)}`).join(' AND ');
    const byId = words.length === 1 ? ` OR e.employee_id ILIKE ${arg(words[0])}` : '';
    conds.push(`((${byName})${byId})`);
  }
  if (opts.after) {
    conds.push(
      `(e.last_name, e.first_name, e.employee_id) > (${arg(opts.after[0])}, ${arg(opts.after[1])}, ${arg(opts.after[2])})`,
    );
  }
  const { rows } = await db.query(
    `WITH page AS (
       SELECT e.employee_id, e.first_name, e.last_name, e.branch_id FROM employees e
        ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''}
        ORDER BY e.last_name, e.first_name, e.employee_id LIMIT $1
     )
     SELECT page.*,
            coalesce((SELECT sum(le.amount_cents) FROM loans l
                        JOIN ledger_accounts a ON a.kind = 'loan' AND a.ref = l.id::text
                        JOIN ledger_entries le ON le.account_id = a.id
                       WHERE l.employee_id = page.employee_id), 0) AS paid_cents,
            coalesce((SELECT sum(p.amount_cents) FROM payments p
                       WHERE p.employee_id = page.employee_id AND p.status NOT IN ${PENDING_STATUSES}), 0) AS pending_cents
       FROM page ORDER BY page.last_name, page.first_name, page.employee_id`,
    args,
  );
  return rows.map((r) => ({
    employeeId: r.employee_id,
    firstName: r.first_name,
    lastName: r.last_name,
    branchId: r.branch_id,
    paidCents: Number(r.paid_cents),
    pendingCents: Number(r.pending_cents),
    cursor: [r.last_name, r.first_name, r.employee_id],
  }));
}

export interface EmployeeDetail {
  employee: {
    employeeId: string;
    firstName: string;
    lastName: string;
    branchId: string;
    phoneMasked: string;
    dobYear: number;
    loans: { plaidId: string; loanAccountLast4: string; methodAccountId: string | null }[];
  };
  wallet: {
    paidCents: number;
    pendingCents: number;
    failedCents: number;
    returnedCents: number;
    yearToDatePaidCents: number;
  };
  payments: Payment[];
  paymentsTruncated: boolean;
}

/** Only the last four digits of a phone number are ever shown. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return `••••${digits.slice(-4)}`;
}

export async function findEmployee(db: Queryable, employeeId: string): Promise<EmployeeDetail | null> {
  const e = await db.query(
    `SELECT employee_id, first_name, last_name, branch_id, phone, extract(year FROM dob)::int AS dob_year
       FROM employees WHERE employee_id = $1`,
    [employeeId],
  );
  if (!e.rows[0]) return null;
  const loans = await db.query(
    'SELECT plaid_id, loan_last4, method_account_id FROM loans WHERE employee_id = $1 ORDER BY created_at, id',
    [employeeId],
  );
  // Paid is what the ledger says the employee's loan accounts received (net of returns and of
  // payments back under review); the year's figure is the same restricted to postings made since
  // 1 January (UTC). The ledger has no per-person account for money in flight, failed or returned,
  // so those three are summed from the payments by status group.
  const ledger = await db.query(
    `SELECT coalesce(sum(le.amount_cents), 0) AS paid,
            coalesce(sum(le.amount_cents) FILTER (
              WHERE lp.at >= date_trunc('year', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0) AS ytd
       FROM loans l
       JOIN ledger_accounts a ON a.kind = 'loan' AND a.ref = l.id::text
       JOIN ledger_entries le ON le.account_id = a.id
       JOIN ledger_postings lp ON lp.id = le.posting_id
      WHERE l.employee_id = $1`,
    [employeeId],
  );
  const groups = await groupSums(db, 'employee_id', employeeId);
  const history = await recentPayments(db, 'employee_id', employeeId);
  const r = e.rows[0];
  return {
    employee: {
      employeeId: r.employee_id,
      firstName: r.first_name,
      lastName: r.last_name,
      branchId: r.branch_id,
      phoneMasked: maskPhone(r.phone),
      dobYear: r.dob_year,
      loans: loans.rows.map((l) => ({
        plaidId: l.plaid_id,
        loanAccountLast4: l.loan_last4,
        methodAccountId: l.method_account_id,
      })),
    },
    wallet: {
      paidCents: Number(ledger.rows[0].paid),
      pendingCents: groups.pending,
      failedCents: groups.failed,
      returnedCents: groups.returned,
      yearToDatePaidCents: Number(ledger.rows[0].ytd),
    },
    ...history,
  };
}

/** Cents of one employee's or source's payments per status group (from the payments table). */
export async function groupSums(
  db: Queryable,
  column: 'employee_id' | 'source_id',
  value: string,
): Promise<{ pending: number; failed: number; returned: number }> {
  const { rows } = await db.query(
    `SELECT coalesce(sum(amount_cents) FILTER (WHERE status NOT IN ${PENDING_STATUSES}), 0) AS pending,
            coalesce(sum(amount_cents) FILTER (WHERE status = 'failed'), 0) AS failed,
            coalesce(sum(amount_cents) FILTER (WHERE status = 'returned'), 0) AS returned
       FROM payments WHERE ${column} = $1`,
    [value],
  );
  return {
    pending: Number(rows[0].pending),
    failed: Number(rows[0].failed),
    returned: Number(rows[0].returned),
  };
}

/** The newest payments of an employee or a source, across batches. */
export async function recentPayments(
  db: Queryable,
  column: 'employee_id' | 'source_id',
  value: string,
): Promise<{ payments: Payment[]; paymentsTruncated: boolean }> {
  const { rows } = await db.query<PaymentRow>(
    `SELECT * FROM payments WHERE ${column} = $1 ORDER BY created_at DESC, batch_id, row_number LIMIT $2`,
    [value, HISTORY_LIMIT + 1],
  );
  return {
    payments: rows.slice(0, HISTORY_LIMIT).map(toPayment),
    paymentsTruncated: rows.length > HISTORY_LIMIT,
  };
}
