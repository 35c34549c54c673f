// /api/reconciliation: start a run (202, runs in the background), list runs, one run with findings.
import type { FastifyInstance } from 'fastify';
import { CAN, ROLES } from '../../shared/roles.js';
import { actorOf } from '../auth/auth.plugin.js';
import type { Pool } from '../db.js';
import { notFound } from '../errors.js';
import { decodeCursor, LIST_QUERY_PROPERTIES, page, parseLimit } from '../http/paging.js';
import { errorResponses } from '../http/schemas.js';
import { findRun, listRuns, toRun } from './reconciliation.repository.js';
import type { Reconciler } from './reconciliation.service.js';

const isCursor = (v: unknown): v is { at: string; id: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { at?: unknown }).at === 'string' &&
  typeof (v as { id?: unknown }).id === 'string' &&
  /^[0-9a-f-]{36}$/i.test((v as { id: string }).id) &&
  /^\d{1,17}$/.test((v as { at: string }).at);

export async function reconciliationRoutes(
  app: FastifyInstance,
  opts: { pool: Pool; reconciler: Reconciler },
) {
  app.post(
    '/api/reconciliation/run',
    {
      config: { roles: CAN.reconcile },
      schema: {
        tags: ['reconciliation'],
        summary:
          'Start a reconciliation run: aggregates vs payments, ledger vs payments, payments vs Method (safe repairs applied)',
      },
    },
    async (request, reply) => {
      const run = await opts.reconciler.start(actorOf(request));
      return reply.code(202).send({ run: { id: run.id, status: run.status } });
    },
  );

  app.get<{ Querystring: { limit?: string; cursor?: string } }>(
    '/api/reconciliation/runs',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['reconciliation'],
        summary: 'Reconciliation runs, newest first (without findings; see one run for them)',
        querystring: { type: 'object', properties: LIST_QUERY_PROPERTIES, additionalProperties: false },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const after = decodeCursor(request.query.cursor, isCursor);
      const rows = await listRuns(opts.pool, limit, after);
      const p = page(rows, limit, (r) => ({ at: r.at_us, id: r.id }));
      return { items: p.items.map(toRun), nextCursor: p.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/reconciliation/runs/:id',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['reconciliation'],
        summary:
          'One run with its findings: { check, entityType, entityId, expected, actual, differenceCents (actual − expected), repaired }',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
        response: errorResponses(404),
      },
    },
    async (request) => {
      const run = await findRun(opts.pool, request.params.id);
      if (!run) throw notFound('Reconciliation run', request.params.id);
      return { run };
    },
  );
}
