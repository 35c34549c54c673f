// /api/payments/:id (detail with history, attempts, ledger entries) and a person's actions on one.
import type { FastifyInstance } from 'fastify';
import { CAN, ROLES } from '../../shared/roles.js';
import { actorOf } from '../auth/auth.plugin.js';
import { errorResponses } from '../http/schemas.js';
import type { PaymentsService } from './payments.service.js';

const params = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export async function paymentsRoutes(app: FastifyInstance, opts: { payments: PaymentsService }) {
  const { payments } = opts;
  app.get<{ Params: { id: string } }>(
    '/api/payments/:id',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['payments'],
        summary: 'A payment with its history, attempts and ledger entries',
        params,
      },
    },
    async (request) => payments.get(request.params.id),
  );
  app.post<{ Params: { id: string } }>(
    '/api/payments/:id/retry',
    {
      config: { roles: CAN.operate },
      schema: {
        tags: ['payments'],
        summary: 'Retry a failed or needs-review payment',
        params,
        response: errorResponses(404, 409),
      },
    },
    async (request) => ({ payment: await payments.retry(request.params.id, actorOf(request)) }),
  );
  app.post<{ Params: { id: string } }>(
    '/api/payments/:id/cancel',
    {
      config: { roles: CAN.operate },
      schema: {
        tags: ['payments'],
        summary: 'Cancel a payment Method has not received',
        params,
        response: errorResponses(404, 409),
      },
    },
    async (request) => ({ payment: await payments.cancel(request.params.id, actorOf(request)) }),
  );
}
