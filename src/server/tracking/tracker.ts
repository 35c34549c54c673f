// The worker's tracking loops: the webhook inbox, the status poller, the webhook monitor
// (registration kept, disabled webhooks re-enabled) and the nightly reconciliation. Every loop is
// coordinated through PostgreSQL, so any number of worker processes can run them.
import type { Logger } from 'pino';
import type { MethodClient } from '../../method/client.js';
import type { Pool } from '../db.js';
import { Reconciler } from '../reconciliation/reconciliation.service.js';
import { ensureWebhooks, type WebhookSetup } from '../webhooks/registration.js';
import { WebhookProcessor } from '../webhooks/webhooks.processor.js';
import { pollMethodStatuses } from './poller.js';

export interface TrackingOptions {
  /** Idle wait of the inbox loop. */
  inboxIdleMs?: number;
  /** How often the poller runs, and how long a payment rests before it is asked about. */
  pollEveryMs?: number;
  pollStaleMs?: number;
  /** Where Method should deliver, with our secret: enables registration and the monitor. */
  webhooks?: WebhookSetup | null;
  monitorEveryMs?: number;
  /** The hour (UTC) from which the nightly reconciliation starts; null = no schedule. */
  reconcileHourUtc?: number | null;
  scheduleEveryMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Tracker {
  readonly processor: WebhookProcessor;
  readonly reconciler: Reconciler;
  private readonly log: (obj: Record<string, unknown>, msg: string) => void;

  constructor(
    private readonly pool: Pool,
    private readonly client: MethodClient,
    private readonly logger: Logger,
    private readonly opts: TrackingOptions = {},
  ) {
    this.log = (obj, msg) => logger.warn(obj, msg);
    this.processor = new WebhookProcessor({ pool, client, log: this.log });
    this.reconciler = new Reconciler({ pool, client, log: this.log });
  }

  /** The loops, for the worker to run under its guard. */
  loops(isRunning: () => boolean): { name: string; run: () => Promise<void> }[] {
    const wait = async (ms: number) => {
      const until = Date.now() + ms;
      while (isRunning() && Date.now() < until) await sleep(Math.min(200, ms));
    };
    const every = async (ms: number, fn: () => Promise<unknown>) => {
      while (isRunning()) {
        await fn();
        await wait(ms);
      }
    };
    const loops = [
      {
        name: 'webhook-inbox',
        run: async () => {
          while (isRunning()) {
            const n = await this.processor.processDue();
            if (n === 0) await sleep(this.opts.inboxIdleMs ?? 200);
          }
        },
      },
      {
        name: 'status-poller',
        run: () =>
          every(this.opts.pollEveryMs ?? 30_000, () =>
            pollMethodStatuses(this.pool, this.client, {
              staleMs: this.opts.pollStaleMs ?? 60_000,
              log: this.log,
            }),
          ),
      },
    ];
    const setup = this.opts.webhooks;
    if (setup) {
      loops.push({
        name: 'webhook-monitor',
        run: () =>
          every(this.opts.monitorEveryMs ?? 60_000, async () => {
            const r = await ensureWebhooks(this.pool, this.client, setup, this.log);
            if (!r.ok) this.log({ error: r.error }, 'webhook registration check failed; retried next round');
            else if (r.created.length || r.reenabled.length || r.removed.length)
              this.logger.info(r, 'webhooks updated');
          }),
      });
    }
    const hour = this.opts.reconcileHourUtc === undefined ? 2 : this.opts.reconcileHourUtc;
    if (hour !== null) {
      loops.push({
        name: 'nightly-reconciliation',
        // Not in the first minute of a process: a restart loop must not start a heavy run each time.
        run: async () => {
          await wait(this.opts.scheduleEveryMs ?? 60_000);
          await every(this.opts.scheduleEveryMs ?? 60_000, () => this.reconciler.startNightly(hour));
        },
      });
    }
    return loops;
  }

  async stop(): Promise<void> {
    await this.reconciler.idle();
  }
}
