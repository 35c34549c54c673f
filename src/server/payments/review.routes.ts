// GET /api/payments: payments across batches by status (the Needs review page: `needs_review`,
// and `failed` ones a person may retry), newest first.
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../shared/roles.js';
import { PAYMENT_STATUSES, STATUS_GROUPS } from '../../shared/statuses.js';
import type { Pool } from '../db.js';
import { LIST_QUERY_PROPERTIES, parseLimit } from '../http/paging.js';
import { errorResponses } from '../http/schemas.js';
import { listPayments } from './payments.service.js';

export async function reviewRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  app.get<{ Querystring: { status?: string; group?: string; limit?: string; cursor?: string } }>(
    '/api/payments',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['payments'],
        summary:
          'Payments across batches with a status (or group), newest first; up to `limit` (max 1000), no further pages',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: [],
          properties: {
            status: { type: 'string', enum: PAYMENT_STATUSES },
            group: { type: 'string', enum: STATUS_GROUPS },
            ...LIST_QUERY_PROPERTIES,
          },
        },
        response: errorResponses(400),
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      // Cross-batch order is by time, which listPayments' row-number cursor cannot page; a queue
      // of payments waiting for a person stays far below 1,000, and `truncated` says if not.
      const rows = await listPayments(
        opts.pool,
        {},
        { status: request.query.status, group: request.query.group, limit: limit + 1 },
      );
      return { items: rows.slice(0, limit), nextCursor: null, truncated: rows.length > limit };
    },
  );
}
