// POST /webhooks/method: verify (Authorization token and HMAC signature over the raw bytes), store
// the event once per Method event id (group-committed with its neighbours), answer 200 at once. Processing happens later, from the table
// (webhooks.processor.ts), so a slow Method or database work never delays the answer Method times.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { verifyWebhook } from '../../method/webhook-signature.js';
import type { Pool } from '../db.js';
import { AppError } from '../errors.js';
import { webhookCredentials } from './credentials.js';
import { InboxWriter } from './inbox.js';

export interface WebhookRouteOptions {
  pool: Pool;
  /** METHOD_WEBHOOK_SECRET; without it every delivery is refused (nothing can be verified). */
  secret: string | undefined;
  registry?: Registry;
}

interface Payload {
  webhook_id?: unknown;
  id?: unknown;
  type?: unknown;
  path?: unknown;
  event?: unknown;
}

const MAX_BODY = 64 * 1024;

export async function webhookRoutes(app: FastifyInstance, opts: WebhookRouteOptions) {
  const creds = opts.secret ? webhookCredentials(opts.secret) : null;
  const inbox = new InboxWriter(opts.pool);
  const received = new Counter({
    name: 'loanpay_webhooks_received_total',
    help: 'Method webhook deliveries by outcome (stored, duplicate, refused, malformed)',
    labelNames: ['outcome'],
    registers: opts.registry ? [opts.registry] : [],
  });

  const registers = opts.registry ? [opts.registry] : [];
  // Read from the table the monitor keeps, so any process's /metrics shows the same alert.
  new Gauge({
    name: 'loanpay_method_webhooks_disabled',
    help: 'Method webhooks of LoanPay currently disabled or requiring attention (alert when > 0)',
    registers,
    async collect() {
      const { rows } = await opts.pool.query(
        "SELECT count(*)::int AS n FROM method_webhooks WHERE status IN ('disabled', 'requires_attention')",
      );
      this.set(rows[0].n);
    },
  });
  new Gauge({
    name: 'loanpay_method_webhook_reenables',
    help: 'Times LoanPay re-enabled a webhook Method had disabled (all time)',
    registers,
    async collect() {
      const { rows } = await opts.pool.query(
        'SELECT coalesce(sum(reenable_count), 0)::int AS n FROM method_webhooks',
      );
      this.set(rows[0].n);
    },
  });
  new Gauge({
    name: 'loanpay_webhook_events_pending',
    help: 'Stored webhook events not processed yet',
    registers,
    async collect() {
      const { rows } = await opts.pool.query(
        "SELECT count(*)::int AS n FROM webhook_events WHERE state = 'pending'",
      );
      this.set(rows[0].n);
    },
  });

  // The signature covers the exact bytes: this scope keeps the body as a string (encapsulated, so
  // the rest of the app still parses JSON as usual).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: MAX_BODY },
    (_req, body, done) => done(null, body),
  );

  app.post(
    '/webhooks/method',
    {
      bodyLimit: MAX_BODY,
      schema: {
        tags: ['webhooks'],
        summary: "Method's webhook deliveries (verified; stored once per event; processed after the answer)",
        security: [],
      },
    },
    async (request, reply) => {
      const rawBody = typeof request.body === 'string' ? request.body : '';
      const verdict = creds
        ? verifyWebhook({
            headers: request.headers,
            rawBody,
            hmacSecret: creds.hmacSecret,
            authToken: creds.authToken,
          })
        : ({ ok: false, reason: 'not_configured' } as const);
      if (!verdict.ok) {
        received.inc({ outcome: 'refused' });
        request.log.warn(
          { reason: verdict.reason, ip: request.ip, bytes: rawBody.length },
          'webhook refused: not authenticated as Method',
        );
        throw new AppError('INVALID_SIGNATURE', 'The webhook could not be verified as coming from Method');
      }
      let payload: Payload;
      try {
        payload = JSON.parse(rawBody) as Payload;
      } catch {
        payload = {};
      }
      const { event, id, type } = payload;
      if (typeof event !== 'string' || typeof id !== 'string' || typeof type !== 'string' || !event || !id) {
        received.inc({ outcome: 'malformed' });
        throw new AppError('BAD_REQUEST', 'A webhook payload needs string fields event, id and type');
      }
      const duplicate = await inbox.store({
        eventId: event,
        webhookId: typeof payload.webhook_id === 'string' ? payload.webhook_id : null,
        type,
        resourceId: id,
        path: typeof payload.path === 'string' ? payload.path : null,
        rawBody,
      });
      received.inc({ outcome: duplicate ? 'duplicate' : 'stored' });
      return reply.code(200).send({ received: true, duplicate });
    },
  );
}
