// GET /api/ledger/check: does every posting balance, and does each account match its payments?
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../shared/roles.js';
import type { Pool } from '../db.js';
import { checkLedger } from './ledger.repository.js';

export async function ledgerRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  app.get(
    '/api/ledger/check',
    {
      config: { roles: ROLES },
      schema: { tags: ['ledger'], summary: 'Ledger balance check against the payments' },
    },
    async () => checkLedger(opts.pool),
  );
}
