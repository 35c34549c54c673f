// The Method simulator's HTTP server: Method's API (auth, envelopes, idempotency, rate limit,
// faults) over the sim_* store, the simulator's own /simulator endpoints, and its background loops.
import { createHash, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Entity, Payment, Reversal, Webhook } from '../method/types.js';
import { type Pool, withTransaction } from '../server/db.js';
import { findMerchant, searchMerchants } from './catalogue.js';
import {
  IDEMPOTENCY_UNAVAILABLE,
  INTERNAL_ERROR,
  invalid,
  MethodApiError,
  notFound,
  okBody,
  tooManyRequests,
} from './envelope.js';
import { FaultController, FaultInputError, type Faults, parseFaults } from './faults.js';
import { checkSimulatedTransition } from './lifecycle.js';
import { PartyCache } from './party-cache.js';
import { RollingRateLimiter } from './rate-limit.js';
import {
  buildAccount,
  buildEntity,
  buildPayment,
  buildWebhook,
  newId,
  paymentAccountIds,
  validatePayment,
  verifyEntity,
  withFundStatus,
} from './resources.js';
import * as store from './store.js';
import { applyPaymentStep, dispatchWebhooks, paymentEvent, tickLifecycle } from './workers.js';

export interface SimulatorOptions {
  pool: Pool;
  logger?: Logger | false;
  /** SIMULATOR_PAYMENTS_PER_MINUTE: payment creations per rolling 60 s per API key; 0 = off. */
  paymentsPerMinute?: number;
  /** SIMULATOR_STEP_MS: time between a payment's automatic status changes. */
  stepMs?: number;
  /** SIMULATOR_FAULTS, in force from start. */
  faults?: Record<string, unknown>;
  /** First webhook retry delay; doubles per attempt (Method: exponential backoff). */
  webhookRetryBaseMs?: number;
  webhookTimeoutMs?: number;
  random?: () => number;
}

export interface Simulator {
  app: FastifyInstance;
  faults: FaultController;
  /** Starts the lifecycle and webhook loops. */
  start(): void;
  /** Stops the loops, releases held answers, flushes counters, closes the HTTP server. */
  stop(): Promise<void>;
  /** One lifecycle pass / one delivery pass, for tests that drive time themselves. */
  tick(): Promise<number>;
  deliverWebhooks(): Promise<number>;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const API_KEY_RE = /^Bearer (sk_\S+)$/;

export function buildSimulator(opts: SimulatorOptions): Simulator {
  const { pool } = opts;
  const logger = opts.logger || undefined;
  const stepMs = opts.stepMs ?? 3000;
  let faultsInit: Partial<Faults> = {};
  if (opts.faults) faultsInit = parseFaults(opts.faults);
  const faults = new FaultController(faultsInit, opts.random);
  const limiter = new RollingRateLimiter(opts.paymentsPerMinute ?? 120);
  const counters = { requests: 0, idempotentReplays: 0 };
  const parties = new PartyCache();
  const held = new Set<{ timer: NodeJS.Timeout; release: () => void }>();

  const app = Fastify({
    // Request lines at 1,000/s drown everything else: the simulator logs warnings and errors only.
    loggerInstance: logger?.child({}, { level: 'warn' }),
    forceCloseConnections: true,
    bodyLimit: 1024 * 1024,
    // pino's Logger and Fastify's base logger type differ only nominally.
  }) as unknown as FastifyInstance;

  // ---- pipeline -------------------------------------------------------------------------------------

  const isMethodRoute = (url: string) => !url.startsWith('/simulator/');

  app.addHook('onRequest', async (req) => {
    if (isMethodRoute(req.url)) counters.requests++;
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (!isMethodRoute(req.url)) {
      const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
      return reply
        .status(status)
        .send({ error: { code: status === 400 ? 'BAD_REQUEST' : 'INTERNAL', message: err.message } });
    }
    if (err instanceof MethodApiError) return reply.status(err.status).send(err.toBody());
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      const e = invalid('INVALID_REQUEST', err.message);
      return reply.status(400).send(e.toBody());
    }
    logger?.error({ err }, 'simulator internal error');
    return reply.status(500).send(INTERNAL_ERROR.toBody());
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new MethodApiError(
      404,
      'INVALID_REQUEST',
      'NOT_FOUND',
      `Route ${req.method} ${req.url} not found.`,
    );
    return reply.status(404).send(e.toBody());
  });

  function apiKeyOf(req: FastifyRequest): string {
    const m = API_KEY_RE.exec(req.headers.authorization ?? '');
    if (!m)
      throw new MethodApiError(
        401,
        'INVALID_AUTHORIZATION',
        'INVALID_AUTHORIZATION',
        'Invalid or missing API key.',
      );
    return m[1];
  }

  function idempotencyKeyOf(req: FastifyRequest): string | null {
    const raw = req.headers['idempotency-key'];
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (key === undefined || key === '') return null;
    if (key.length > 255) throw invalid('INVALID_REQUEST', 'Idempotency-Key must be at most 255 characters.');
    return key;
  }

  function requestHash(req: FastifyRequest): string {
    return createHash('sha256')
      .update(`${req.method} ${req.url.split('?')[0]} ${stableJson(req.body ?? null)}`)
      .digest('hex');
  }

  /** Faults that answer before anything is applied. */
  async function preFaults(): Promise<void> {
    const f = faults.get();
    if (f.latencyMs > 0) await new Promise((r) => setTimeout(r, f.latencyMs));
    if (faults.fires('rateLimitRate')) throw Object.assign(tooManyRequests(), { retryAfter: 1 });
  }

  /** Sends an answer, or withholds it as the timeout / lost-response faults say. */
  async function answer(req: FastifyRequest, reply: FastifyReply, a: Answer): Promise<void> {
    if (faults.fires('lostResponseRate')) {
      reply.hijack();
      req.raw.socket?.destroy();
      return;
    }
    if (faults.fires('timeoutRate')) {
      await new Promise<void>((resolve) => {
        const entry = {
          timer: setTimeout(() => {
            held.delete(entry);
            resolve();
          }, faults.get().timeoutHoldMs),
          release: () => resolve(),
        };
        held.add(entry);
      });
      if (req.raw.destroyed || req.raw.socket?.destroyed) {
        reply.hijack();
        return;
      }
    }
    for (const [k, v] of Object.entries(a.headers ?? {})) reply.header(k, v);
    await reply.status(a.status).send(a.body);
  }

  function errorAnswer(e: MethodApiError, headers?: Record<string, string>): Answer {
    return { status: e.status, body: e.toBody(), headers };
  }

  function replay(stored: store.StoredResponse, hash: string, apiKey: string, key: string): Answer {
    if (stored.requestHash !== hash) {
      // Undocumented at Method (method.md §1.6); the simulator refuses, and LoanPay must not rely on it.
      const e = new MethodApiError(
        422,
        'INVALID_REQUEST',
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was already used with a different request.',
      );
      return errorAnswer(e);
    }
    counters.idempotentReplays++;
    store.countReplay(pool, apiKey, key).catch(() => {});
    return {
      status: stored.statusCode,
      body: stored.body,
      headers: { 'idem-status': 'replayed', 'idem-request-id': stored.requestId },
    };
  }

  /**
   * A write under Method's idempotency rules: with a key, the first answer (success, 4xx or an
   * injected 500) is stored in the same transaction as the change and replayed afterwards.
   */
  async function idempotentWrite(
    req: FastifyRequest,
    apiKey: string,
    apply: (tx: store.Tx, now: string) => Promise<Answer>,
  ): Promise<Answer> {
    const key = idempotencyKeyOf(req);
    if (key && faults.fires('idempotencyUnavailableRate')) return errorAnswer(IDEMPOTENCY_UNAVAILABLE);
    const requestId = randomUUID();
    const run = async (tx: store.Tx): Promise<Answer> => {
      if (faults.fires('errorRate')) return errorAnswer(INTERNAL_ERROR);
      await tx.query('SAVEPOINT apply');
      try {
        return await apply(tx, new Date().toISOString());
      } catch (err) {
        if (!(err instanceof MethodApiError)) throw err;
        await tx.query('ROLLBACK TO SAVEPOINT apply');
        return errorAnswer(err);
      }
    };
    if (!key) {
      const a = await withTransaction(pool, run);
      return { ...a, headers: { ...a.headers, 'idem-status': 'bypassed' } };
    }
    const hash = requestHash(req);
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await withTransaction(pool, async (tx) => {
        if (!(await store.claimKey(tx, apiKey, key, hash, requestId))) return null;
        const a = await run(tx);
        await store.saveResponse(tx, apiKey, key, a.status, a.body);
        return a;
      });
      if (result)
        return {
          ...result,
          headers: { ...result.headers, 'idem-status': 'stored', 'idem-request-id': requestId },
        };
      const stored = await store.findStoredResponse(pool, apiKey, key);
      if (stored) return replay(stored, hash, apiKey, key);
    }
    throw new Error('idempotency key could be neither claimed nor read');
  }

  type Handler = (req: FastifyRequest, apiKey: string) => Promise<Answer>;
  type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

  function route(method: Method, url: string, handler: Handler) {
    app.route({
      method,
      url,
      handler: async (req, reply) => {
        let a: Answer;
        try {
          const apiKey = apiKeyOf(req);
          await preFaults();
          a = await handler(req, apiKey);
        } catch (err) {
          if (!(err instanceof MethodApiError)) throw err;
          const retryAfter = (err as MethodApiError & { retryAfter?: number }).retryAfter;
          a = errorAnswer(err, retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : undefined);
        }
        await answer(req, reply, a);
      },
    });
  }

  /** A read: faults apply, nothing is stored. */
  function read(url: string, fn: (req: FastifyRequest) => Promise<Answer>) {
    route('GET', url, async (req) => {
      if (faults.fires('errorRate')) return errorAnswer(INTERNAL_ERROR);
      return fn(req);
    });
  }

  const params = (req: FastifyRequest) => req.params as Record<string, string>;
  const query = (req: FastifyRequest) => req.query as Record<string, string | undefined>;
  const ok = (data: unknown, headers?: Record<string, string>): Answer => ({
    status: 200,
    body: okBody(data),
    headers,
  });

  // ---- health, entities -------------------------------------------------------------------------------

  read('/ping', async () => ({ status: 200, body: okBody(null, 'pong') }));

  route('POST', '/entities', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const entity = buildEntity(req.body, now);
      await store.insertEntity(tx, entity);
      await store.recordEvents(tx, [entityEvent(entity, 'create', now)]);
      return ok(entity);
    }),
  );

  read('/entities/:id', async (req) => {
    const e = await store.findEntity(pool, params(req).id);
    if (!e) throw notFound('Entity', params(req).id);
    return ok(e);
  });

  read('/entities', async (req) => {
    const q = query(req);
    const where: string[] = [];
    const values: unknown[] = [];
    addFilter(where, values, q.status, 't.status');
    addFilter(where, values, q.type, "t.data->>'type'");
    return list(req, 'sim_entities', where, values);
  });

  route('POST', '/entities/:id/verification_sessions', (req, apiKey) =>
    afterCommit(
      parties,
      idempotentWrite(req, apiKey, async (tx, now) => {
        const entity = await store.findEntity(tx, params(req).id, true);
        if (!entity) throw notFound('Entity', params(req).id);
        const r = verifyEntity(entity, req.body, now);
        await store.insertEntitySession(tx, r.session);
        await store.updateEntity(tx, r.entity);
        await store.recordEvents(tx, [
          {
            type: 'entity_verification_session.create',
            op: 'create',
            resourceId: r.session.id,
            resourceType: 'entity_verification_session',
            path: `/entities/${entity.id}/verification_sessions/${r.session.id}`,
            refs: { entity: entity.id },
            data: r.session,
            diff: null,
            now,
          },
          entityEvent(r.entity, 'update', now, entity),
        ]);
        return ok(r.session);
      }),
    ),
  );

  read('/entities/:id/verification_sessions/:evf', async (req) => {
    const s = await store.findEntitySession(pool, params(req).id, params(req).evf);
    if (!s) throw notFound('Verification session', params(req).evf);
    return ok(s);
  });

  // ---- merchants --------------------------------------------------------------------------------------

  read('/merchants', async (req) => {
    const q = query(req);
    const all = searchMerchants({
      plaid: q['provider_id.plaid'],
      mx: q['provider_id.mx'],
      finicity: q['provider_id.finicity'],
      type: q.type,
      name: q.name,
    });
    const { page, pageLimit } = paging(q);
    const items = all.slice((page - 1) * pageLimit, page * pageLimit);
    return ok(
      items,
      paginationHeaders({
        items,
        page,
        pageLimit,
        totalCount: all.length,
        pageCount: Math.max(1, Math.ceil(all.length / pageLimit)),
        cursorNext: null,
        cursorPrev: null,
      }),
    );
  });

  read('/merchants/:id', async (req) => {
    const m = findMerchant(params(req).id);
    if (!m) throw notFound('Merchant', params(req).id);
    return ok(m);
  });

  // ---- accounts ---------------------------------------------------------------------------------------

  route('POST', '/accounts', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const body = req.body as { holder_id?: unknown } | null;
      const holder = typeof body?.holder_id === 'string' ? await store.findEntity(tx, body.holder_id) : null;
      const account = buildAccount(req.body, holder ?? undefined, now);
      await store.insertAccount(tx, account);
      await store.recordEvents(tx, [
        {
          type: 'account.create',
          op: 'create',
          resourceId: account.id,
          resourceType: 'account',
          path: `/accounts/${account.id}`,
          refs: { entity: account.holder_id },
          data: account,
          diff: null,
          now,
        },
      ]);
      return ok(account);
    }),
  );

  read('/accounts/:id', async (req) => {
    const a = await store.findAccount(pool, params(req).id);
    if (!a) throw notFound('Account', params(req).id);
    return ok(a);
  });

  read('/accounts', async (req) => {
    const q = query(req);
    const where: string[] = [];
    const values: unknown[] = [];
    addFilter(where, values, q.holder_id, 't.holder_id');
    addFilter(where, values, q.type, 't.type');
    addFilter(where, values, q.status, "t.data->>'status'");
    return list(req, 'sim_accounts', where, values);
  });

  route('POST', '/accounts/:id/verification_sessions', (req, apiKey) =>
    afterCommit(
      parties,
      idempotentWrite(req, apiKey, async (tx, now) => {
        const account = await store.findAccount(tx, params(req).id, true);
        if (!account) throw notFound('Account', params(req).id);
        const body = req.body as { type?: unknown } | null;
        if (typeof body?.type !== 'string') throw invalid('INVALID_REQUEST', '"type" is required.');
        if (account.type !== 'ach') {
          throw invalid('INVALID_VERIFICATION', 'Only ACH accounts need verification before payments.');
        }
        // Method's dev environment verifies at once; a real micro-deposit session takes days.
        const session = {
          id: newId('avf'),
          account_id: account.id,
          status: 'verified',
          type: body.type,
          error: null,
          created_at: now,
          updated_at: now,
        };
        await store.insertAccountSession(tx, session);
        const products = account.products.includes('payment')
          ? account.products
          : [...account.products, 'payment'];
        await store.updateAccount(tx, {
          ...account,
          products,
          restricted_products: account.restricted_products.filter((p) => p !== 'payment'),
          latest_verification_session: session.id,
          updated_at: now,
        });
        return ok(session);
      }),
    ),
  );

  // ---- payments ---------------------------------------------------------------------------------------

  route('POST', '/payments', async (req, apiKey) => {
    const limit = limiter.take(apiKey);
    if (!limit.allowed)
      return errorAnswer(tooManyRequests(), { 'retry-after': String(limit.retryAfterSeconds) });
    const key = idempotencyKeyOf(req);
    if (key && faults.fires('idempotencyUnavailableRate')) return errorAnswer(IDEMPOTENCY_UNAVAILABLE);
    const hash = key ? requestHash(req) : '';
    const now = new Date().toISOString();
    const requestId = randomUUID();
    // The answer is computed first and stored with the key in one statement; if the key turns out
    // to be taken, the stored answer is replayed instead and this one thrown away.
    let a: Answer;
    let write: store.PaymentCreateWrite['payment'] = null;
    if (faults.fires('errorRate')) {
      a = errorAnswer(INTERNAL_ERROR);
    } else {
      try {
        const valid = validatePayment(req.body, await parties.load(pool, paymentAccountIds(req.body)));
        const payment = buildPayment(valid, now);
        write = {
          data: payment,
          fate: faults.drawFate(),
          sourceHolderId: valid.source.holder.id,
          destinationHolderId: valid.destination.holder.id,
          destinationType: valid.destination.account.type ?? 'unknown',
          nextStepAt: new Date(Date.parse(now) + stepMs),
          event: paymentEvent(payment, valid.destination.holder.id, null, now),
        };
        a = ok(payment);
      } catch (err) {
        if (!(err instanceof MethodApiError)) throw err;
        a = errorAnswer(err);
      }
    }
    const mine = await store.writePaymentCreate(pool, {
      apiKey,
      key,
      hash,
      requestId,
      status: a.status,
      body: a.body,
      payment: write,
    });
    if (!mine && key) {
      const stored = await store.findStoredResponse(pool, apiKey, key);
      if (stored) return replay(stored, hash, apiKey, key);
    }
    return {
      ...a,
      headers: {
        ...a.headers,
        ...(key ? { 'idem-status': 'stored', 'idem-request-id': requestId } : { 'idem-status': 'bypassed' }),
      },
    };
  });

  read('/payments/:id', async (req) => {
    const p = await store.findPayment(pool, params(req).id);
    if (!p) throw notFound('Payment', params(req).id);
    return ok(withFundStatus(p.data));
  });

  read('/payments', async (req) => {
    const q = query(req);
    const where: string[] = [];
    const values: unknown[] = [];
    addFilter(where, values, q.status, 't.status');
    addFilter(where, values, q.type, "t.data->>'type'");
    addFilter(where, values, q.source, 't.source');
    addFilter(where, values, q.destination, 't.destination');
    addFilter(where, values, q.source_holder_id, 't.source_holder_id');
    addFilter(where, values, q.destination_holder_id, 't.destination_holder_id');
    addFilter(where, values, q.reversal_id, 't.reversal_id');
    if (q.acc_id) {
      values.push(q.acc_id);
      where.push(`(t.source = $${values.length} OR t.destination = $${values.length})`);
    }
    if (q.holder_id) {
      values.push(q.holder_id);
      where.push(`(t.source_holder_id = $${values.length} OR t.destination_holder_id = $${values.length})`);
    }
    addDateFilters(where, values, q);
    return list(req, 'sim_payments', where, values);
  });

  route('DELETE', '/payments/:id', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const row = await store.findPayment(tx, params(req).id, true);
      if (!row) throw notFound('Payment', params(req).id);
      if (row.status !== 'pending') {
        throw invalid(
          'INVALID_STATUS',
          `Only payments with a pending status can be canceled; this one is ${row.status}.`,
        );
      }
      const r = await applyPaymentStep(tx, row, { status: 'canceled' }, { now, stepMs });
      await store.updatePayments(tx, [r.update]);
      await store.recordEvents(tx, r.events);
      return ok(r.update.data);
    }),
  );

  read('/payments/:id/reversals', async (req) => {
    const p = await store.findPayment(pool, params(req).id);
    if (!p) throw notFound('Payment', params(req).id);
    return ok(await store.findReversalsOfPayments(pool, [p.id]));
  });

  read('/payments/:id/reversals/:rvs', async (req) => {
    const r = await store.findReversal(pool, params(req).id, params(req).rvs);
    if (!r) throw notFound('Reversal', params(req).rvs);
    return ok(r);
  });

  route('PUT', '/payments/:id/reversals/:rvs', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const { id, rvs } = params(req);
      const row = await store.findPayment(tx, id, true);
      const reversal = row ? await store.findReversal(tx, id, rvs, true) : null;
      if (!row || !reversal) throw notFound('Reversal', rvs);
      const body = (req.body ?? {}) as { status?: unknown; description?: unknown };
      if (body.status !== 'pending') throw invalid('INVALID_REQUEST', '"status" must be pending.');
      if (
        body.description !== undefined &&
        (typeof body.description !== 'string' || body.description.length > 10)
      ) {
        throw invalid('INVALID_REQUEST', '"description" must be at most 10 characters.');
      }
      if (reversal.status !== 'pending_approval' || row.status !== 'reversal_required') {
        throw invalid(
          'INVALID_REVERSAL_STATUS',
          `The reversal is ${reversal.status}; only pending_approval can be approved.`,
        );
      }
      const approved: Reversal = {
        ...reversal,
        status: 'pending',
        description: typeof body.description === 'string' ? body.description : reversal.description,
        updated_at: now,
      };
      await store.updateReversal(tx, approved);
      const r = await applyPaymentStep(tx, row, { status: 'reversal_processing' }, { now, stepMs });
      await store.updatePayments(tx, [r.update]);
      await store.recordEvents(tx, [
        {
          type: 'payment_reversal.update',
          op: 'update',
          resourceId: approved.id,
          resourceType: 'payment_reversal',
          path: `/payments/${id}/reversals/${approved.id}`,
          refs: { payment: id },
          data: approved,
          diff: { before: { status: reversal.status }, after: { status: approved.status } },
          now,
        },
        ...r.events,
      ]);
      return ok(approved);
    }),
  );

  route('POST', '/simulate/payments/:id', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const row = await store.findPayment(tx, params(req).id, true);
      if (!row) throw notFound('Payment', params(req).id);
      const body = (req.body ?? {}) as { status?: unknown; error_code?: unknown };
      const step = checkSimulatedTransition(row.status, body.status, body.error_code);
      const r = await applyPaymentStep(tx, row, step, { now, stepMs });
      await store.updatePayments(tx, [r.update]);
      await store.recordEvents(tx, r.events);
      return ok(withFundStatus(r.update.data));
    }),
  );

  // ---- webhooks and events ------------------------------------------------------------------------------

  route('POST', '/webhooks', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const w = buildWebhook(req.body, now);
      await store.insertWebhook(tx, { ...w, consecutiveFailures: 0 });
      return ok(w.webhook);
    }),
  );

  read('/webhooks', async (req) => list(req, 'sim_webhooks', ["t.status <> 'deleted'"], []));

  read('/webhooks/:id', async (req) => {
    const w = await store.findWebhook(pool, params(req).id);
    if (!w) throw notFound('Webhook', params(req).id);
    return ok(w);
  });

  route('PATCH', '/webhooks/:id', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const w = await store.findWebhook(tx, params(req).id, true);
      if (!w) throw notFound('Webhook', params(req).id);
      const status = (req.body as { status?: unknown } | null)?.status;
      if (status !== 'active' && status !== 'disabled')
        throw invalid('INVALID_REQUEST', '"status" must be one of [active, disabled].');
      const updated: Webhook = {
        ...w,
        status,
        error:
          status === 'active'
            ? null
            : {
                type: 'WEBHOOK_DISABLED',
                code: 25005,
                sub_type: 'WEBHOOK_DISABLED_BY_USER',
                message: 'Webhook disabled by user.',
              },
        updated_at: now,
      };
      await store.setWebhookStatus(tx, updated, status === 'active');
      return ok(updated);
    }),
  );

  route('DELETE', '/webhooks/:id', (req, apiKey) =>
    idempotentWrite(req, apiKey, async (tx, now) => {
      const w = await store.findWebhook(tx, params(req).id, true);
      if (!w) throw notFound('Webhook', params(req).id);
      await store.setWebhookStatus(tx, { ...w, status: 'deleted', updated_at: now }, false);
      return ok(null);
    }),
  );

  read('/events/:id', async (req) => {
    const e = await store.getEvent(pool, params(req).id);
    if (!e) throw notFound('Event', params(req).id);
    return ok(e);
  });

  read('/events', async (req) => {
    const q = query(req);
    const where: string[] = [];
    const values: unknown[] = [];
    addFilter(where, values, q.type, 't.type');
    addFilter(where, values, q.resource_id, 't.resource_id');
    addFilter(where, values, q.resource_type, 't.resource_type');
    addDateFilters(where, values, q);
    return list(req, 'sim_events', where, values);
  });

  // ---- the simulator's own endpoints (api.md) -------------------------------------------------------

  app.get('/simulator/faults', async () => faults.get());
  app.put('/simulator/faults', async (req, reply) => {
    try {
      return faults.merge(parseFaults(req.body ?? {}));
    } catch (err) {
      if (!(err instanceof FaultInputError)) throw err;
      return reply
        .status(400)
        .send({ error: { code: 'BAD_REQUEST', message: err.message, details: { problems: err.problems } } });
    }
  });
  app.delete('/simulator/faults', async () => faults.clear());
  app.get('/simulator/stats', async () => {
    const s = await store.readStats(pool);
    return {
      entities: s.entities,
      accounts: s.accounts,
      payments: s.payments,
      paymentsByStatus: s.paymentsByStatus,
      idempotentReplays: (s.counters.idempotentReplays ?? 0) + counters.idempotentReplays,
      requests: (s.counters.requests ?? 0) + counters.requests,
    };
  });

  // ---- list helpers -----------------------------------------------------------------------------------

  async function list(
    req: FastifyRequest,
    table: store.ListSpec['table'],
    where: string[],
    values: unknown[],
  ): Promise<Answer> {
    const q = query(req);
    const { page, pageLimit } = paging(q);
    if (q.page_cursor && q.page)
      throw invalid('INVALID_REQUEST', '"page_cursor" and "page" are mutually exclusive.');
    const result = await store.listPage<unknown>(pool, {
      table,
      where,
      values,
      page,
      pageLimit,
      cursor: q.page_cursor ?? null,
    });
    const items = table === 'sim_payments' ? (result.items as Payment[]) : result.items;
    return ok(items, paginationHeaders(result));
  }

  // ---- background loops -----------------------------------------------------------------------------

  let running = false;
  const loops: Promise<void>[] = [];
  // Sleeps end early on stop(), so closing never waits out a poll interval.
  const sleepers = new Set<() => void>();
  const sleepFor = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      sleepers.add(done);
    });
  const dispatcherOptions = {
    retryBaseMs: opts.webhookRetryBaseMs ?? 5_000,
    timeoutMs: opts.webhookTimeoutMs ?? 5_000,
    disableAfter: 5,
    maxAttempts: 5,
    concurrency: 16,
  };
  const loop = async (name: string, intervalMs: number, fn: () => Promise<number>) => {
    while (running) {
      let n = 0;
      try {
        n = await fn();
      } catch (err) {
        logger?.error({ err, loop: name }, 'simulator loop failed');
      }
      if (running && n === 0) await sleepFor(intervalMs);
    }
  };
  const flushCounters = async () => {
    const c = { requests: counters.requests, idempotentReplays: counters.idempotentReplays };
    counters.requests = 0;
    counters.idempotentReplays = 0;
    try {
      await store.addCounters(pool, c);
    } catch {
      counters.requests += c.requests;
      counters.idempotentReplays += c.idempotentReplays;
    }
  };
  const tickMs = Math.max(5, Math.min(250, Math.floor(stepMs / 4)));
  const tick = () => tickLifecycle(pool, stepMs);
  const deliverWebhooks = () => dispatchWebhooks(pool, faults, logger, dispatcherOptions);

  return {
    app,
    faults,
    tick,
    deliverWebhooks,
    start() {
      if (running) return;
      running = true;
      loops.push(loop('lifecycle', tickMs, tick));
      loops.push(loop('webhooks', Math.min(100, tickMs), deliverWebhooks));
      loops.push(
        loop('housekeeping', 1000, async () => {
          await flushCounters();
          await store.purgeExpiredKeys(pool);
          return 0;
        }),
      );
    },
    async stop() {
      running = false;
      for (const stopSleeping of sleepers) stopSleeping();
      for (const h of held) {
        clearTimeout(h.timer);
        h.release();
      }
      held.clear();
      await app.close();
      await Promise.all(loops.splice(0));
      await flushCounters();
    },
  };
}

/** Entity and account changes invalidate the payment-party cache once committed. */
async function afterCommit<T>(cache: PartyCache, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } finally {
    cache.invalidate();
  }
}

function entityEvent(e: Entity, op: 'create' | 'update', now: string, before?: Entity): store.NewEvent {
  return {
    type: `entity.${op}`,
    op,
    resourceId: e.id,
    resourceType: 'entity',
    path: `/entities/${e.id}`,
    refs: {},
    data: e,
    diff: before ? { before: { status: before.status }, after: { status: e.status } } : null,
    now,
  };
}

function addFilter(where: string[], values: unknown[], v: string | undefined, column: string) {
  if (v === undefined || v === '') return;
  values.push(v);
  where.push(`${column} = $${values.length}`);
}

function addDateFilters(where: string[], values: unknown[], q: Record<string, string | undefined>) {
  for (const [name, op] of [
    ['from_date', '>='],
    ['to_date', '<'],
  ] as const) {
    const v = q[name];
    if (v === undefined) continue;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v))
      throw invalid('INVALID_REQUEST', `"${name}" must be in the format YYYY-MM-DD.`);
    values.push(v);
    // to_date is inclusive: compare with the start of the next day (UTC).
    where.push(
      op === '>='
        ? `t.created_at >= ($${values.length}::date)::timestamp AT TIME ZONE 'UTC'`
        : `t.created_at < ($${values.length}::date + 1)::timestamp AT TIME ZONE 'UTC'`,
    );
  }
}

function paging(q: Record<string, string | undefined>): { page: number; pageLimit: number } {
  const page = q.page === undefined ? 1 : Number(q.page);
  const pageLimit = q.page_limit === undefined ? 100 : Number(q.page_limit);
  if (!Number.isInteger(page) || page < 1)
    throw invalid('INVALID_REQUEST', '"page" must be a positive integer.');
  if (!Number.isInteger(pageLimit) || pageLimit < 1 || pageLimit > 100) {
    throw invalid('INVALID_REQUEST', '"page_limit" must be an integer from 1 to 100.');
  }
  return { page, pageLimit };
}

function paginationHeaders(
  p: Omit<store.ListPage<unknown>, 'items'> & { items: unknown[] },
): Record<string, string> {
  return {
    'pagination-page': String(p.page),
    'pagination-page-count': String(p.pageCount),
    'pagination-page-limit': String(p.pageLimit),
    'pagination-total-count': String(p.totalCount),
    'pagination-page-cursor-prev': p.cursorPrev ?? '',
    'pagination-page-cursor-next': p.cursorNext ?? '',
  };
}

/** JSON with sorted keys, so the same body always hashes the same. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
