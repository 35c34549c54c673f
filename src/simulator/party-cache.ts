// An in-memory cache of payment parties (account + holder) so a payment creation costs one
// database round trip. Only this process changes accounts and entities; it invalidates after commit.
import type { Account, Entity } from '../method/types.js';
import type { Queryable } from '../server/db.js';
import type { AccountWithHolder } from './resources.js';

const MAX_ENTRIES = 200_000;

export class PartyCache {
  private readonly byAccount = new Map<string, AccountWithHolder>();
  /** Bumped by every invalidation; a load that straddles one does not fill the cache. */
  private generation = 0;

  async load(db: Queryable, ids: string[]): Promise<Map<string, AccountWithHolder>> {
    const found = new Map<string, AccountWithHolder>();
    const missing: string[] = [];
    for (const id of ids) {
      const hit = this.byAccount.get(id);
      if (hit) found.set(id, hit);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const gen = this.generation;
    const r = await db.query({
      name: 'sim_payment_parties',
      text: `SELECT a.data AS account, e.data AS holder FROM sim_accounts a JOIN sim_entities e ON e.id = a.holder_id
              WHERE a.id = ANY($1::text[])`,
      values: [missing],
    });
    for (const row of r.rows as { account: Account; holder: Entity }[]) {
      found.set(row.account.id, row);
      if (gen === this.generation) {
        if (this.byAccount.size >= MAX_ENTRIES) this.byAccount.clear();
        this.byAccount.set(row.account.id, row);
      }
    }
    return found;
  }

  /** After a committed change to an entity or account: forget everything it may affect. */
  invalidate(): void {
    this.generation++;
    this.byAccount.clear();
  }
}
