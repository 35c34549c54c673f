// GET /api/sources and /api/sources/:sourceId: bank details masked to the last four digits, wallet
// from the ledger, payment history. Read-only: every role.
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../shared/roles.js';
import type { Pool } from '../db.js';
import { notFound } from '../errors.js';
import { decodeCursor, LIST_QUERY_PROPERTIES, page, parseLimit } from '../http/paging.js';
import { errorResponses } from '../http/schemas.js';
import { findSource, listSources } from './sources.repository.js';

const isString = (v: unknown): v is string => typeof v === 'string';

export async function sourcesRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  const { pool } = opts;

  app.get<{ Querystring: { q?: string; limit?: string; cursor?: string } }>(
    '/api/sources',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['people'],
        summary: 'Sources (CORP- ids) with routing, account last four, paid and pending cents',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { q: { type: 'string', maxLength: 100 }, ...LIST_QUERY_PROPERTIES },
        },
        response: errorResponses(400),
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const after = decodeCursor(request.query.cursor, isString);
      const rows = await listSources(pool, { q: request.query.q, after, limit: limit + 1 });
      return page(rows, limit, (last) => last.sourceId);
    },
  );

  app.get<{ Params: { sourceId: string } }>(
    '/api/sources/:sourceId',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['people'],
        summary: 'One source: bank details (last four only), wallet (ledger) and newest payments',
        params: {
          type: 'object',
          required: ['sourceId'],
          properties: { sourceId: { type: 'string', pattern: '^CORP-', maxLength: 100 } },
        },
        response: errorResponses(400, 404),
      },
    },
    async (request) => {
      const found = await findSource(pool, request.params.sourceId);
      if (!found) throw notFound('Source', request.params.sourceId);
      return found;
    },
  );
}
