// GET /api/audit: the audit log, newest first, filtered and paged.
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../shared/roles.js';
import type { Pool } from '../db.js';
import { decodeCursor, LIST_QUERY_PROPERTIES, page, parseLimit } from '../http/paging.js';
import { listAudit } from './audit.repository.js';

interface AuditQuery {
  entityType?: string;
  entityId?: string;
  userId?: string;
  action?: string;
  from?: string;
  to?: string;
  limit?: string;
  cursor?: string;
}

export async function auditRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  app.get<{ Querystring: AuditQuery }>(
    '/api/audit',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['audit'],
        summary: 'Audit entries, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            entityType: { type: 'string', maxLength: 100 },
            entityId: { type: 'string', maxLength: 200 },
            userId: { type: 'string', format: 'uuid' },
            action: { type: 'string', maxLength: 100 },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            ...LIST_QUERY_PROPERTIES,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = parseLimit(q.limit);
      const cursor = decodeCursor(q.cursor, (v): v is number => Number.isInteger(v));
      const rows = await listAudit(opts.pool, { ...q, beforeId: cursor, limit: limit + 1 });
      return page(rows, limit, (last) => Number(last.id));
    },
  );
}
