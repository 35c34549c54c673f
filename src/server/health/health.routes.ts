// Liveness, readiness and Prometheus metrics; no user needed.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Pool } from '../db.js';

export async function healthRoutes(app: FastifyInstance, opts: { pool: Pool; metrics: Registry }) {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Process is up' } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Database reachable' } },
    async (_request, reply) => {
      try {
        await opts.pool.query('SELECT 1');
        return { status: 'ready' };
      } catch (err) {
        reply.code(503);
        return {
          error: { code: 'SERVICE_UNAVAILABLE', message: `database unreachable: ${(err as Error).message}` },
        };
      }
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics', hide: false } },
    async (_request, reply) => {
      reply.header('content-type', opts.metrics.contentType);
      return opts.metrics.metrics();
    },
  );
}
