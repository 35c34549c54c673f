// Prometheus metrics of one process: a registry per app so tests do not share counters.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Queryable } from './db.js';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  uploads: Counter<'outcome'>;
}

/**
 * Payments by the statuses an operator must watch, read from the database at each scrape (so any
 * process serving /metrics reports the whole installation): needs_review waits on a person; rows
 * still before Method long after approval mean no worker runs or Method refuses every call.
 */
export function registerPaymentGauges(registry: Registry, db: Queryable): void {
  new Gauge({
    name: 'loanpay_payments_needs_review',
    help: 'Payments waiting for a person (needs_review)',
    registers: [registry],
    async collect() {
      const { rows } = await db.query(
        "SELECT count(*)::int AS n FROM payments WHERE status = 'needs_review'",
      );
      this.set(rows[0].n);
    },
  });
  new Gauge({
    name: 'loanpay_payments_stuck_before_method',
    help: 'Payments queued, retrying or unknown for more than 15 minutes past their due time',
    registers: [registry],
    async collect() {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM payments
          WHERE status IN ('queued', 'retry_scheduled', 'unknown') AND next_run_at < now() - interval '15 minutes'`,
      );
      this.set(rows[0].n);
    },
  });
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'loanpay_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    uploads: new Counter({
      name: 'loanpay_uploads_total',
      help: 'Uploaded files by outcome (created, invalid, malformed, duplicate, too_large)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
