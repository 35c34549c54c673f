// A worker process's loops: provisioning (planning a newly approved batch's Method objects, then
// creating them), submission (paced by the shared throttle), and the
// sweeper. Any number of processes can run them against one database; nothing in memory matters
// for correctness — leases, keys and statuses live in PostgreSQL.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { MethodClient } from '../../method/client.js';
import { cancelAtMethod } from '../batches/controls.js';
import type { Preflight } from '../batches/preflight.js';
import { type Pool, refreshStatistics } from '../db.js';
import type { Cipher } from '../secrets.js';
import { Tracker, type TrackingOptions } from '../tracking/tracker.js';
import { claimProvisioning, Provisioner, planProvisioning } from './provisioner.js';
import { claimPayments, Submitter } from './submitter.js';
import {
  refreshBatchStatuses,
  sweepBlockedByProvisioning,
  sweepExpiredLeases,
  wakeSleepingProvisioning,
} from './sweeper.js';
import { takeToken } from './throttle.js';

export interface WorkerOptions {
  pool: Pool;
  client: MethodClient;
  cipher: Cipher;
  logger: Logger;
  /** In-flight Method calls of this process. */
  concurrency: number;
  paymentsPerMinute: number;
  leaseMs?: number;
  retryBudget?: number;
  idleMs?: number;
  sweepEveryMs?: number;
  /** Backoff between retries (tests shorten it). */
  backoff?: { baseMs: number; capMs: number };
  /** Retries review pre-flights Method could not answer. */
  preflight?: Preflight | null;
  /** Webhook inbox, status poller, webhook monitor, nightly reconciliation; false = none. */
  tracking?: TrackingOptions | false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Worker {
  readonly id = `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly submitter: Submitter;
  private readonly provisioner: Provisioner;
  private readonly leaseMs: number;
  private readonly idleMs: number;
  private readonly sweepEveryMs: number;
  readonly tracker: Tracker | null;

  constructor(private readonly opts: WorkerOptions) {
    this.tracker =
      opts.tracking === false ? null : new Tracker(opts.pool, opts.client, opts.logger, opts.tracking ?? {});
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.idleMs = opts.idleMs ?? 250;
    this.sweepEveryMs = opts.sweepEveryMs ?? 5_000;
    const log = (obj: Record<string, unknown>, msg: string) => opts.logger.warn(obj, msg);
    this.submitter = new Submitter({
      pool: opts.pool,
      client: opts.client,
      leaseMs: this.leaseMs,
      retryBudget: opts.retryBudget ?? 8,
      log,
    });
    this.provisioner = new Provisioner({
      pool: opts.pool,
      client: opts.client,
      cipher: opts.cipher,
      leaseMs: this.leaseMs,
      retryBudget: opts.retryBudget ?? 8,
      backoff: opts.backoff,
      log,
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [
      this.guard('planner', () => this.planLoop()),
      this.guard('provisioning', () => this.provisionLoop()),
      this.guard('submission', () => this.submitLoop()),
      this.guard('sweeper', () => this.sweepLoop()),
    ];
    for (const l of this.tracker?.loops(() => this.running) ?? []) this.loops.push(this.guard(l.name, l.run));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.allSettled(this.loops);
    await this.tracker?.stop();
  }

  private async guard(name: string, loop: () => Promise<void>): Promise<void> {
    while (this.running) {
      try {
        await loop();
      } catch (err) {
        this.opts.logger.error({ err, loop: name }, 'worker loop error; restarting it');
        await sleep(1000);
      }
    }
  }

  /** Plans the Method objects of newly approved batches, one batch per transaction. */
  private async planLoop(): Promise<void> {
    while (this.running) {
      const planned = await planProvisioning(this.opts.pool);
      if (!planned) {
        await sleep(this.idleMs);
        continue;
      }
      this.opts.logger.info(planned, 'provisioning planned for an approved batch');
      // Tens of thousands of jobs at once: the planner must know them before the next sweep plans a
      // query over them.
      if (planned.planned > 1000) await refreshStatistics(this.opts.pool, 'provisioning');
    }
  }

  /** A sliding window of provisioning jobs: a slow one never holds up the others. */
  private async provisionLoop(): Promise<void> {
    const slots = new Set<Promise<void>>();
    while (this.running) {
      if (slots.size >= this.opts.concurrency) {
        await Promise.race(slots);
        continue;
      }
      const jobs = await claimProvisioning(this.opts.pool, this.opts.concurrency - slots.size, this.leaseMs);
      if (jobs.length === 0) {
        await (slots.size > 0 ? Promise.race([...slots, sleep(this.idleMs)]) : sleep(this.idleMs));
        continue;
      }
      for (const j of jobs) {
        const slot: Promise<void> = this.provisioner.process(j).finally(() => slots.delete(slot));
        slots.add(slot);
      }
    }
    await Promise.allSettled(slots);
  }

  private async submitLoop(): Promise<void> {
    const slots = new Set<Promise<void>>();
    // A claim is one transaction, made one after another by this loop, and the slots it fills stand
    // empty meanwhile: claiming one payment each time a slot frees makes the claim's latency every
    // payment's. Unpaced, wait until a quarter of the slots are free and claim them together (≈ 13
    // payments a claim measured); paced, each claim is one token's payment anyway.
    const claimAtLeast =
      this.opts.paymentsPerMinute > 0 ? 1 : Math.max(1, Math.floor(this.opts.concurrency / 4));
    while (this.running) {
      if (this.opts.concurrency - slots.size < claimAtLeast) {
        await Promise.race(slots);
        continue;
      }
      const want = this.opts.concurrency - slots.size;
      let n = want;
      if (this.opts.paymentsPerMinute > 0) {
        const t = await takeToken(this.opts.pool, this.opts.paymentsPerMinute);
        if (!t.granted) {
          await sleep(Math.min(t.waitMs, 1000));
          continue;
        }
        n = 1;
      }
      const claimed = await claimPayments(this.opts.pool, n, this.leaseMs, this.id);
      if (claimed.length === 0) {
        if (this.opts.paymentsPerMinute > 0) await this.returnToken();
        if (slots.size > 0) await Promise.race([...slots, sleep(this.idleMs)]);
        else await sleep(this.idleMs);
        continue;
      }
      for (const p of claimed) {
        const slot: Promise<void> = this.submitter.process(p).finally(() => slots.delete(slot));
        slots.add(slot);
      }
    }
    await Promise.allSettled(slots);
  }

  /** A token taken when there was nothing to submit goes back, so idle time does not waste budget. */
  private async returnToken(): Promise<void> {
    await this.opts.pool.query('UPDATE throttles SET tokens = least(capacity, tokens + 1) WHERE name = $1', [
      'method_payment_creates',
    ]);
  }

  private async sweepLoop(): Promise<void> {
    const pool = this.opts.pool;
    const steps: [string, () => Promise<unknown>][] = [
      ['expired leases', () => sweepExpiredLeases(pool)],
      ['blocked by provisioning', () => sweepBlockedByProvisioning(pool)],
      ['sleeping accounts', () => wakeSleepingProvisioning(pool)],
      ['cancels at Method', () => cancelAtMethod(pool, this.opts.client)],
      ['batch statuses', () => refreshBatchStatuses(pool)],
      ['pre-flights', async () => this.opts.preflight?.retryIncomplete()],
    ];
    while (this.running) {
      // Each step on its own: one that fails (or is cut off by its timeout) never starves the others.
      for (const [step, run] of steps) {
        try {
          await run();
        } catch (err) {
          this.opts.logger.error({ err, step }, 'sweeper step failed; the other steps go on');
        }
      }
      const deadline = Date.now() + this.sweepEveryMs;
      while (this.running && Date.now() < deadline) await sleep(Math.min(200, this.sweepEveryMs));
    }
  }
}
