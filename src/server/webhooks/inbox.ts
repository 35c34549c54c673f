// The webhook inbox writer: deliveries arriving together are stored in one statement and one
// commit (group commit), and each is answered only after that commit — so a 200 always means
// "stored", while one fsync serves many deliveries. Redeliveries of an event count on its row.
import type { Pool } from '../db.js';

export interface InboxEvent {
  eventId: string;
  webhookId: string | null;
  type: string;
  resourceId: string;
  path: string | null;
  rawBody: string;
}

interface Waiting {
  ev: InboxEvent;
  resolve: (duplicate: boolean) => void;
  reject: (err: unknown) => void;
}

export class InboxWriter {
  private queue: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly pool: Pool,
    private readonly opts: { maxBatch?: number; maxInFlight?: number } = {},
  ) {}

  /** Resolves once the event is committed: true when it was stored before (a redelivery). */
  store(ev: InboxEvent): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ev, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.queue.length > 0 && this.inFlight < (this.opts.maxInFlight ?? 4)) {
      const batch = this.queue.splice(0, this.opts.maxBatch ?? 500);
      this.inFlight++;
      void this.flush(batch).finally(() => {
        this.inFlight--;
        this.kick();
      });
    }
  }

  private async flush(batch: Waiting[]): Promise<void> {
    // One row per event id (a statement may not touch a row twice), in id order so two batches
    // with the same events lock them in the same order and cannot deadlock.
    const groups = new Map<string, Waiting[]>();
    for (const w of batch) groups.set(w.ev.eventId, [...(groups.get(w.ev.eventId) ?? []), w]);
    const ids = [...groups.keys()].sort();
    const first = ids.map((id) => (groups.get(id) as Waiting[])[0].ev);
    try {
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
          ids.map((id) => (groups.get(id) as Waiting[]).length),
        ],
      );
      const inserted = new Map(rows.map((r) => [r.event_id, r.inserted]));
      for (const [id, ws] of groups) {
        ws.forEach((w, i) => {
          w.resolve(i > 0 || inserted.get(id) !== true);
        });
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
