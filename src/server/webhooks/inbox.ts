// The webhook inbox writer: deliveries arriving together are stored in one statement and one
// commit (group commit), and each is answered only after that commit — so a 200 always means
// "stored", while one fsync serves many deliveries. Redeliveries of an event count on its row.
import type { Pool } from '../db.js';
import { GroupWriter } from '../group-commit.js';

export interface InboxEvent {
  eventId: string;
  webhookId: string | null;
  type: string;
  resourceId: string;
  path: string | null;
  rawBody: string;
}

export class InboxWriter {
  private readonly writer: GroupWriter<InboxEvent, boolean>;

  constructor(
    private readonly pool: Pool,
    opts: { maxBatch?: number; maxInFlight?: number } = {},
  ) {
    this.writer = new GroupWriter((evs) => this.write(evs), {
      maxBatch: opts.maxBatch ?? 500,
      maxInFlight: opts.maxInFlight ?? 4,
    });
  }

  /** Resolves once the event is committed: true when it was stored before (a redelivery). */
  store(ev: InboxEvent): Promise<boolean> {
    return this.writer.add(ev);
  }

  /** One statement for a group of deliveries; for each, whether it was a redelivery. */
  private async write(evs: InboxEvent[]): Promise<boolean[]> {
    // One row per event id (a statement may not touch a row twice), in id order so two batches
    // with the same events lock them in the same order and cannot deadlock.
    const groups = new Map<string, number[]>();
    evs.forEach((e, i) => {
      groups.set(e.eventId, [...(groups.get(e.eventId) ?? []), i]);
    });
    const ids = [...groups.keys()].sort();
    const first = ids.map((id) => evs[(groups.get(id) as number[])[0]]);
    const { rows } = await this.pool.query<{ event_id: string; inserted: boolean }>(
      `INSERT INTO webhook_events (event_id, webhook_id, type, resource_id, path, payload, deliveries)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::int[])
       ON CONFLICT (event_id) DO UPDATE SET deliveries = webhook_events.deliveries + EXCLUDED.deliveries
       RETURNING event_id, (xmax = 0) AS inserted`,
      [
        ids,
        first.map((e) => e.webhookId),
        first.map((e) => e.type),
        first.map((e) => e.resourceId),
        first.map((e) => e.path),
        first.map((e) => e.rawBody),
        ids.map((id) => (groups.get(id) as number[]).length),
      ],
    );
    const inserted = new Map(rows.map((r) => [r.event_id, r.inserted]));
    const duplicate: boolean[] = new Array(evs.length);
    for (const [id, idx] of groups) {
      idx.forEach((i, k) => {
        duplicate[i] = k > 0 || inserted.get(id) !== true;
      });
    }
    return duplicate;
  }
}
