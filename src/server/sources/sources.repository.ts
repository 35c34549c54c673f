// Sources (the file's CORP- ids) across batches: current bank details (routing, last four digits
// only), wallet from the ledger, payment history.
import type { Queryable } from '../db.js';
import { groupSums, likeEscape, recentPayments } from '../employees/employees.repository.js';
import type { Payment } from '../payments/payments.service.js';

export interface SourceListItem {
  sourceId: string;
  name: string;
  routing: string | null;
  accountLast4: string | null;
  paidCents: number;
  pendingCents: number;
}

// The source's current bank account: new details make a new row, so the newest one is in force.
const CURRENT_ACCOUNT = `LEFT JOIN LATERAL (
    SELECT b.routing, b.account_last4, b.method_account_id FROM source_bank_accounts b
     WHERE b.source_id = s.source_id ORDER BY b.created_at DESC, b.id DESC LIMIT 1) ba ON true`;

// From the ledger: clearing holds what is in flight (pending); the source account is minus what was
// committed out of it (pending + paid), so paid = -source - clearing.
const LEDGER_BALANCES = `LEFT JOIN LATERAL (
    SELECT coalesce(sum(le.amount_cents) FILTER (WHERE a.kind = 'source'), 0) AS source_cents,
           coalesce(sum(le.amount_cents) FILTER (WHERE a.kind = 'clearing'), 0) AS clearing_cents
      FROM ledger_accounts a JOIN ledger_entries le ON le.account_id = a.id
     WHERE a.kind IN ('source', 'clearing') AND a.ref = s.source_id) bal ON true`;

export async function listSources(
  db: Queryable,
  opts: { q?: string; after?: string; limit: number },
): Promise<SourceListItem[]> {
  const args: unknown[] = [opts.limit];
  const conds: string[] = [];
  const q = opts.q?.trim();
  if (q) {
    args.push(`%${likeEscape(q)}%`);
    conds.push(`(s.source_id ILIKE $${args.length} OR s.name ILIKE $${args.length})`);
  }
  if (opts.after !== undefined) {
    args.push(opts.after);
    conds.push(`s.source_id > $${args.length}`);
  }
  const { rows } = await db.query(
    `WITH s AS (
       SELECT s.source_id, s.name FROM sources s ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''}
        ORDER BY s.source_id LIMIT $1
     )
     SELECT s.source_id, s.name, ba.routing, ba.account_last4, bal.source_cents, bal.clearing_cents
       FROM s ${CURRENT_ACCOUNT} ${LEDGER_BALANCES}
      ORDER BY s.source_id`,
    args,
  );
  return rows.map((r) => ({
    sourceId: r.source_id,
    name: r.name,
    routing: r.routing,
    accountLast4: r.account_last4,
    paidCents: -Number(r.source_cents) - Number(r.clearing_cents),
    pendingCents: Number(r.clearing_cents),
  }));
}

export interface SourceDetail {
  source: {
    sourceId: string;
    name: string;
    dba: string;
    routing: string | null;
    accountLast4: string | null;
    methodAccountId: string | null;
  };
  wallet: { paidCents: number; pendingCents: number; failedCents: number; returnedCents: number };
  payments: Payment[];
  paymentsTruncated: boolean;
}

export async function findSource(db: Queryable, sourceId: string): Promise<SourceDetail | null> {
  const { rows } = await db.query(
    `SELECT s.source_id, s.name, s.dba, ba.routing, ba.account_last4, ba.method_account_id,
            bal.source_cents, bal.clearing_cents
       FROM sources s ${CURRENT_ACCOUNT} ${LEDGER_BALANCES}
      WHERE s.source_id = $1`,
    [sourceId],
  );
  const r = rows[0];
  if (!r) return null;
  // The ledger has no account for failed or returned money (it went back to the source), so those
  // two are summed from the payments by status group.
  const groups = await groupSums(db, 'source_id', sourceId);
  return {
    source: {
      sourceId: r.source_id,
      name: r.name,
      dba: r.dba,
      routing: r.routing,
      accountLast4: r.account_last4,
      methodAccountId: r.method_account_id,
    },
    wallet: {
      paidCents: -Number(r.source_cents) - Number(r.clearing_cents),
      pendingCents: Number(r.clearing_cents),
      failedCents: groups.failed,
      returnedCents: groups.returned,
    },
    ...(await recentPayments(db, 'source_id', sourceId)),
  };
}
