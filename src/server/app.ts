// Builds the Fastify app: cross-cutting plugins (security headers, cookies, rate limits, OpenAPI,
// errors, auth) and every feature's routes. No listening here, so tests use app.inject().
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { MethodClient } from '../method/client.js';
import { auditRoutes } from './audit/audit.routes.js';
import { installAuth } from './auth/auth.plugin.js';
import { authRoutes } from './auth/auth.routes.js';
import { AuthService } from './auth/auth.service.js';
import { batchesRoutes } from './batches/batches.routes.js';
import { BatchesService } from './batches/batches.service.js';
import { Preflight } from './batches/preflight.js';
import type { Config } from './config.js';
import type { Pool } from './db.js';
import { employeesRoutes } from './employees/employees.routes.js';
import { AppError } from './errors.js';
import { healthRoutes } from './health/health.routes.js';
import { ledgerRoutes } from './ledger/ledger.routes.js';
import { createMetrics, type Metrics, registerPaymentGauges } from './metrics.js';
import { paymentsRoutes } from './payments/payments.routes.js';
import { PaymentsService } from './payments/payments.service.js';
import { reviewRoutes } from './payments/review.routes.js';
import { reconciliationRoutes } from './reconciliation/reconciliation.routes.js';
import { Reconciler } from './reconciliation/reconciliation.service.js';
import { reportsRoutes } from './reports/reports.routes.js';
import type { Cipher } from './secrets.js';
import { sourcesRoutes } from './sources/sources.routes.js';
import { trackingRoutes } from './tracking/tracking.routes.js';
import { webRoutes } from './web/static.js';
import { webhookRoutes } from './webhooks/webhooks.routes.js';

export interface AppDeps {
  config: Config;
  pool: Pool;
  cipher: Cipher;
  logger: Logger | false;
  metrics?: Metrics;
  /** Method (or the simulator): the review pre-flight asks it about loan servicers. */
  methodClient?: MethodClient;
  /** Verifies Method's webhooks (runtime.webhookSecret); defaults to METHOD_WEBHOOK_SECRET. */
  webhookSecret?: string;
}

export interface App {
  app: FastifyInstance;
  auth: AuthService;
  batches: BatchesService;
  preflight: Preflight | null;
  metrics: Metrics;
  reconciler: Reconciler;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, pool } = deps;
  const metrics = deps.metrics ?? createMetrics();
  registerPaymentGauges(metrics.registry, pool);
  const app = Fastify({
    loggerInstance: deps.logger || undefined,
    logger: deps.logger ? undefined : false,
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  }) as unknown as FastifyInstance;

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        // Served over plain http on a LAN address, upgrading would break every asset.
        upgradeInsecureRequests: null,
      },
    },
  });
  await app.register(cookie);
  // preHandler, so the login limit can key on the username in the body as well as the address.
  await app.register(rateLimit, { global: false, hook: 'preHandler' });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'LoanPay API',
        version: '0.1.0',
        description: 'Bulk student-loan payments through Method',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) request.log.error({ err }, err.message);
      return reply.code(err.status).send(err.toBody());
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send(
        new AppError('BAD_REQUEST', `Invalid request: ${fe.message}`, {
          issues: fe.validation.map((v) => ({
            path: v.instancePath || v.params?.missingProperty,
            message: v.message,
          })),
        }).toBody(),
      );
    }
    if (fe.statusCode === 429) {
      return reply
        .code(429)
        .send(new AppError('RATE_LIMITED', 'Too many attempts; wait a minute and try again').toBody());
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.statusCode === 413) {
      return reply.code(413).send(new AppError('FILE_TOO_LARGE', fe.message).toBody());
    }
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send(new AppError('UNSUPPORTED_MEDIA_TYPE', fe.message).toBody());
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(400).send(new AppError('BAD_REQUEST', fe.message).toBody());
    }
    request.log.error({ err }, 'unhandled error');
    return reply
      .code(500)
      .send(new AppError('INTERNAL', 'Something went wrong on our side; it has been logged').toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(new AppError('NOT_FOUND', `No route ${request.method} ${request.url}`).toBody());
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  const auth = new AuthService(pool, config.sessionTtlHours);
  installAuth(app, auth);

  await app.register(healthRoutes, { pool, metrics: metrics.registry });
  await app.register(authRoutes, { auth, secureCookies: config.publicUrl.startsWith('https:') });
  await app.register(auditRoutes, { pool });
  const preflight = deps.methodClient
    ? new Preflight(pool, deps.methodClient, (obj, msg) => app.log.warn(obj, msg))
    : null;
  const batches = new BatchesService({
    pool,
    cipher: deps.cipher,
    annualLimitCents: config.annualLimitCents,
    paymentsPerMinute: config.methodPaymentsPerMinute,
    requireSecondApprover: config.requireSecondApprover,
    onDraftCreated: preflight
      ? (id) => void preflight.run(id).catch((err) => app.log.error({ err }, 'pre-flight failed'))
      : undefined,
  });
  await app.register(batchesRoutes, { batches, maxUploadMb: config.maxUploadMb, metrics });
  await app.register(reportsRoutes, { pool });
  await app.register(employeesRoutes, { pool });
  await app.register(sourcesRoutes, { pool });
  await app.register(paymentsRoutes, { payments: new PaymentsService(pool) });
  await app.register(ledgerRoutes, { pool });
  await app.register(webhookRoutes, {
    pool,
    secret: deps.webhookSecret ?? config.methodWebhookSecret,
    registry: metrics.registry,
  });
  await app.register(trackingRoutes, { pool, methodClient: deps.methodClient });
  const reconciler = new Reconciler({
    pool,
    client: deps.methodClient,
    log: (obj, msg) => app.log.warn(obj, msg),
  });
  await app.register(reconciliationRoutes, { pool, reconciler });
  await app.register(reviewRoutes, { pool });
  // Last: the web UI's catch-all GET must not shadow any API route.
  await app.register(webRoutes, { requireSecondApprover: config.requireSecondApprover });

  return { app, auth, batches, preflight, metrics, reconciler };
}
