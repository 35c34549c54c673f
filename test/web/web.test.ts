// The web UI's server side: the built app served at / with an SPA fallback that never shadows
// /api, /docs or /webhooks; the settings the UI reads; payments across batches by status.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { AppError } from '../../src/server/errors.js';
import { webRoutes } from '../../src/server/web/static.js';
import { book } from '../reports/support.js';
import { createTestApp, type TestApp } from '../support/app.js';

describe('serving the built UI', () => {
  const root = mkdtempSync(join(tmpdir(), 'loanpay-web-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(root, 'secret.txt'), 'not served');
  const app = Fastify();
  beforeAll(async () => {
    app.setErrorHandler((err, _request, reply) =>
      err instanceof AppError ? reply.code(err.status).send(err.toBody()) : reply.send(err),
    );
    await app.register(webRoutes, { requireSecondApprover: true, root });
    await app.ready();
  });
  afterAll(() => app.close());

  it('answers the app routes with index.html, never cached', async () => {
    for (const url of ['/', '/batches', '/batches/0b6f4c1e-0000-4000-8000-000000000000', '/review?x=1']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.body).toContain('<div id="root">');
    }
  });

  it('serves hashed assets for a year and nothing outside assets/', async () => {
    const js = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log(1)');
    expect((await app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode).toBe(404);
    for (const url of ['/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/..%2fsecret.txt']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.body, url).not.toContain('not served');
    }
  });

  it('leaves unknown /api, /docs and /webhooks paths a JSON 404', async () => {
    for (const url of ['/api/nope', '/api', '/docs/nope', '/webhooks/other']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(404);
      expect(r.json().error.code).toBe('NOT_FOUND');
    }
  });
});

describe('the API the UI adds', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ REQUIRE_SECOND_APPROVER: 'false' });
  });
  afterAll(() => t.app.close());

  it('GET /api/ui/settings says whether a second approver is required', async () => {
    const r = await t.as('auditor', { method: 'GET', url: '/api/ui/settings' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ requireSecondApprover: false });
    expect((await t.app.inject({ method: 'GET', url: '/api/ui/settings' })).statusCode).toBe(401);
  });

  it('GET /api/payments?status= lists payments of every batch with that status', async () => {
    const ids: string[] = [];
    for (const seed of [1, 2]) {
      const { xml } = generateToString({
        rows: 3,
        employees: 3,
        sources: 1,
        branches: 1,
        seed,
        unpayablePlaidShare: false,
      });
      const up = await t.as('operator', {
        method: 'POST',
        url: '/api/batches',
        headers: { 'content-type': 'application/xml', 'x-file-name': `f${seed}.xml` },
        payload: xml,
      });
      expect(up.statusCode, up.body).toBe(201);
      const id = up.json().batch.id as string;
      ids.push(id);
      await book(t, id);
    }
    const queued = await t.as('auditor', { method: 'GET', url: '/api/payments?status=queued' });
    expect(queued.statusCode).toBe(200);
    const body = queued.json();
    expect(body.items).toHaveLength(6);
    expect(body.nextCursor).toBeNull();
    expect(body.truncated).toBe(false);
    expect(new Set(body.items.map((p: { batchId: string }) => p.batchId))).toEqual(new Set(ids));
    expect(body.items.every((p: { status: string }) => p.status === 'queued')).toBe(true);

    const limited = (
      await t.as('auditor', { method: 'GET', url: '/api/payments?status=queued&limit=4' })
    ).json();
    expect(limited.items).toHaveLength(4);
    expect(limited.truncated).toBe(true);

    const review = await t.as('auditor', { method: 'GET', url: '/api/payments?status=needs_review' });
    expect(review.json()).toEqual({ items: [], nextCursor: null, truncated: false });
    expect((await t.as('auditor', { method: 'GET', url: '/api/payments?status=bogus' })).statusCode).toBe(
      400,
    );
  });
});
