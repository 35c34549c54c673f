// The double-entry ledger: accounts per source, per source clearing and per loan; postings whose
// entries sum to zero (refused otherwise, here and by a database trigger); balances derived from entries.
import type { Queryable } from '../db.js';

export type LedgerAccountKind = 'source' | 'clearing' | 'loan';
export type PostingKind = 'reserve' | 'release' | 'pay' | 'return' | 'unpay' | 'adjust';

export interface EntryInput {
  account: { kind: LedgerAccountKind; ref: string };
  amountCents: number;
}

export class UnbalancedPostingError extends Error {
  constructor(total: number) {
    super(`a posting must sum to zero; this one sums to ${total} cents`);
    this.name = 'UnbalancedPostingError';
  }
}

/** Writes one posting and its entries (one statement, so the balance trigger sees them together). */
export async function writePosting(
  db: Queryable,
  p: {
    kind: PostingKind;
    paymentId: string | null;
    batchId: string | null;
    description: string;
    entries: EntryInput[];
  },
): Promise<number> {
  const total = p.entries.reduce((a, e) => a + e.amountCents, 0);
  if (
    total !== 0 ||
    p.entries.length < 2 ||
    p.entries.some((e) => !Number.isSafeInteger(e.amountCents) || e.amountCents === 0)
  ) {
    throw new UnbalancedPostingError(total);
  }
  const { rows } = await db.query(
    `WITH acc AS (
       INSERT INTO ledger_accounts (kind, ref) SELECT * FROM unnest($5::text[], $6::text[])
       ON CONFLICT (kind, ref) DO UPDATE SET kind = EXCLUDED.kind RETURNING id, kind, ref
     ), posting AS (
       INSERT INTO ledger_postings (kind, payment_id, batch_id, description) VALUES ($1, $2, $3, $4) RETURNING id
     ), ins AS (
       INSERT INTO ledger_entries (posting_id, account_id, amount_cents)
       SELECT posting.id, acc.id, e.amount FROM posting,
              unnest($5::text[], $6::text[], $7::bigint[]) AS e (kind, ref, amount)
              JOIN acc ON acc.kind = e.kind AND acc.ref = e.ref
       RETURNING posting_id
     )
     SELECT DISTINCT posting_id AS id FROM ins`,
    [
      p.kind,
      p.paymentId,
      p.batchId,
      p.description,
      p.entries.map((e) => e.account.kind),
      p.entries.map((e) => e.account.ref),
      p.entries.map((e) => e.amountCents),
    ],
  );
  return rows[0].id;
}

/**
 * The entries each payment posting kind writes (debit positive): money leaves the source into
 * clearing on reservation, clearing pays the loan, a release or return gives it back to the source.
 */
export function entriesFor(
  kind: PostingKind,
  p: { sourceId: string; loanId: string; amountCents: number },
): EntryInput[] {
  const a = p.amountCents;
  const source = { kind: 'source' as const, ref: p.sourceId };
  const clearing = { kind: 'clearing' as const, ref: p.sourceId };
  const loan = { kind: 'loan' as const, ref: p.loanId };
  switch (kind) {
    case 'reserve':
      return [
        { account: source, amountCents: -a },
        { account: clearing, amountCents: a },
      ];
    case 'release':
      return [
        { account: clearing, amountCents: -a },
        { account: source, amountCents: a },
      ];
    case 'pay':
      return [
        { account: clearing, amountCents: -a },
        { account: loan, amountCents: a },
      ];
    case 'return':
      return [
        { account: loan, amountCents: -a },
        { account: source, amountCents: a },
      ];
    case 'unpay':
      // A paid payment back under review (reversal_required): its money is in question again.
      return [
        { account: loan, amountCents: -a },
        { account: clearing, amountCents: a },
      ];
    case 'adjust':
      throw new Error('adjustments carry their own entries');
  }
}

export interface LedgerCheck {
  balanced: boolean;
  totalDebitsCents: number;
  totalCreditsCents: number;
  postings: number;
  unbalancedPostings: { postingId: number; sumCents: number }[];
  accountMismatches: { kind: string; ref: string; ledgerCents: number; paymentsCents: number }[];
}

/**
 * Sums every entry, finds postings that do not balance, and compares each account's balance
 * with what the payments say it must be (clearing = pending, loan = paid, source = -(pending+paid)).
 */
export async function checkLedger(db: Queryable): Promise<LedgerCheck> {
  const totals = await db.query(
    `SELECT coalesce(sum(amount_cents) FILTER (WHERE amount_cents > 0), 0) AS debits,
            coalesce(-sum(amount_cents) FILTER (WHERE amount_cents < 0), 0) AS credits,
            (SELECT count(*)::int FROM ledger_postings) AS postings
       FROM ledger_entries`,
  );
  const unbalanced = await db.query(
    `SELECT posting_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY posting_id HAVING sum(amount_cents) <> 0 LIMIT 100`,
  );
  const mismatches = await db.query(
    `WITH expected AS (
       SELECT 'clearing' AS kind, source_id AS ref, sum(amount_cents) FILTER (WHERE status NOT IN ('paid', 'failed', 'returned', 'cancelled')) AS cents
         FROM payments GROUP BY source_id
       UNION ALL
       SELECT 'source', source_id, -sum(amount_cents) FILTER (WHERE status NOT IN ('failed', 'returned', 'cancelled'))
         FROM payments GROUP BY source_id
       UNION ALL
       SELECT 'loan', loan_id::text, sum(amount_cents) FILTER (WHERE status = 'paid') FROM payments GROUP BY loan_id
     ), actual AS (
       SELECT a.kind, a.ref, sum(e.amount_cents) AS cents FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id
        GROUP BY a.kind, a.ref
     )
     SELECT coalesce(x.kind, y.kind) AS kind, coalesce(x.ref, y.ref) AS ref, coalesce(y.cents, 0) AS ledger,
            coalesce(x.cents, 0) AS payments
       FROM expected x FULL JOIN actual y ON x.kind = y.kind AND x.ref = y.ref
      WHERE coalesce(x.cents, 0) <> coalesce(y.cents, 0)
      LIMIT 1000`,
  );
  const debits = Number(totals.rows[0].debits);
  const credits = Number(totals.rows[0].credits);
  return {
    balanced: debits === credits && unbalanced.rowCount === 0 && mismatches.rowCount === 0,
    totalDebitsCents: debits,
    totalCreditsCents: credits,
    postings: totals.rows[0].postings,
    unbalancedPostings: unbalanced.rows.map((r) => ({
      postingId: Number(r.posting_id),
      sumCents: Number(r.s),
    })),
    accountMismatches: mismatches.rows.map((r) => ({
      kind: r.kind,
      ref: r.ref,
      ledgerCents: Number(r.ledger),
      paymentsCents: Number(r.payments),
    })),
  };
}
