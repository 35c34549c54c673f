// Tracking routes: a person approves a reversal Method requires, and the alert data the UI shows
// as a banner (a Method webhook disabled, events waiting).
import type { FastifyInstance } from 'fastify';
import type { MethodClient } from '../../method/client.js';
import { CAN, ROLES } from '../../shared/roles.js';
import { actorOf } from '../auth/auth.plugin.js';
import type { Pool } from '../db.js';
import { errorResponses } from '../http/schemas.js';
import { loadWebhookAlerts } from '../webhooks/registration.js';
import { approveReversal } from './reversals.js';

export async function trackingRoutes(
  app: FastifyInstance,
  opts: { pool: Pool; methodClient?: Pick<MethodClient, 'listReversals' | 'approveReversal'> },
) {
  app.post<{ Params: { id: string } }>(
    '/api/payments/:id/approve-reversal',
    {
      config: { roles: CAN.approveReversal },
      schema: {
        tags: ['payments'],
        summary:
          'Approve the reversal Method requires (Method status reversal_required); Method then re-pulls from the source',
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', format: 'uuid' } },
        },
        response: errorResponses(404, 409, 503),
      },
    },
    async (request) => ({
      payment: await approveReversal(opts.pool, opts.methodClient, request.params.id, actorOf(request)),
    }),
  );

  app.get(
    '/api/system/alerts',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['system'],
        summary:
          'Banner data: whether a Method webhook is disabled now or was in the last day (then re-enabled), and webhook events waiting',
      },
    },
    async () => loadWebhookAlerts(opts.pool),
  );
}
