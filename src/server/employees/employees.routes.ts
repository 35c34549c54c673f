// GET /api/employees (search by id or partial name, cursor pages) and /api/employees/:employeeId
// (masked profile, loans, wallet from the ledger, payment history). Read-only: every role.
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../shared/roles.js';
import type { Pool } from '../db.js';
import { notFound } from '../errors.js';
import { decodeCursor, LIST_QUERY_PROPERTIES, page, parseLimit } from '../http/paging.js';
import { errorResponses } from '../http/schemas.js';
import { type EmployeeCursor, findEmployee, searchEmployees } from './employees.repository.js';

const isCursor = (v: unknown): v is EmployeeCursor =>
  Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'string');

export async function employeesRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  const { pool } = opts;

  app.get<{ Querystring: { q?: string; limit?: string; cursor?: string } }>(
    '/api/employees',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['people'],
        summary: 'Employees by id or partial name, ordered by name, with paid and pending cents',
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
      const after = decodeCursor(request.query.cursor, isCursor);
      const rows = await searchEmployees(pool, { q: request.query.q, after, limit: limit + 1 });
      const p = page(rows, limit, (last) => last.cursor);
      return { items: p.items.map(({ cursor: _c, ...item }) => item), nextCursor: p.nextCursor };
    },
  );

  app.get<{ Params: { employeeId: string } }>(
    '/api/employees/:employeeId',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['people'],
        summary: 'One employee: masked profile, loans, wallet (ledger) and newest payments',
        params: {
          type: 'object',
          required: ['employeeId'],
          properties: { employeeId: { type: 'string', pattern: '^EMP-', maxLength: 100 } },
        },
        response: errorResponses(400, 404),
      },
    },
    async (request) => {
      const found = await findEmployee(pool, request.params.employeeId);
      if (!found) throw notFound('Employee', request.params.employeeId);
      return found;
    },
  );
}
