// Prometheus metrics of one process: a registry per app so tests do not share counters.
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  uploads: Counter<'outcome'>;
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
