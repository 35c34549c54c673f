import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { Cipher } from '../../src/server/secrets.js';
import { createTestApp, PASSWORD, TEST_KEY, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});

describe('login', () => {
  it('returns a token, the user and an httpOnly SameSite session cookie', async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'admin', password: PASSWORD },
    });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.user).toMatchObject({ username: 'admin', role: 'admin' });
    expect(body.token).toMatch(/^[\w-]{40,}$/);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toContain('loanpay_session=');
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
  });

  it('refuses a wrong password and an unknown user with 401 INVALID_CREDENTIALS', async () => {
    for (const payload of [
      { username: 'admin', password: 'nope-nope-nope' },
      { username: 'ghost', password: PASSWORD },
    ]) {
      const r = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload });
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('INVALID_CREDENTIALS');
    }
    const audit = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM audit_log WHERE action = 'auth.login_failed'",
    );
    expect(audit.rows[0].n).toBeGreaterThanOrEqual(2);
  });

  it('rate-limits repeated login attempts', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '10.9.9.9',
        payload: { username: 'admin', password: 'wrong-password' },
      });
      codes.push(r.statusCode);
    }
    expect(codes.slice(0, 10).every((c) => c === 401)).toBe(true);
    expect(codes[11]).toBe(429);
  });

  it('sets security headers', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['content-security-policy']).toContain("default-src 'self'");
    expect(r.headers['x-frame-options']).toBeDefined();
  });
});

describe('sessions', () => {
  it('work with the bearer token and with the cookie', async () => {
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'operator', password: PASSWORD },
    });
    const { token } = login.json();
    const viaBearer = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(viaBearer.json().user.username).toBe('operator');
    const viaCookie = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      cookies: { loanpay_session: token },
    });
    expect(viaCookie.statusCode).toBe(200);
    expect(viaCookie.json().user.role).toBe('operator');
  });

  it('cookie-authenticated writes need the CSRF token; bearer writes do not', async () => {
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'admin', password: PASSWORD },
    });
    const { token, csrfToken } = login.json();
    const payload = { username: 'csrf-user', password: PASSWORD, role: 'auditor' };
    const without = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      cookies: { loanpay_session: token },
      payload,
    });
    expect(without.statusCode).toBe(403);
    expect(without.json().error.code).toBe('CSRF_FAILED');
    const withToken = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      cookies: { loanpay_session: token },
      headers: { 'x-csrf-token': csrfToken },
      payload,
    });
    expect(withToken.statusCode).toBe(201);
  });

  it('refuses an expired session', async () => {
    const token = await t.login('auditor');
    await t.db.pool.query(
      "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = (SELECT id FROM users WHERE username = 'auditor')",
    );
    const r = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.statusCode).toBe(401);
    expect(r.json().error.code).toBe('UNAUTHENTICATED');
    t.tokens.auditor = await t.login('auditor');
  });

  it('ends a session on logout', async () => {
    const token = await t.login('approver');
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(out.statusCode).toBe(200);
    const r = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.statusCode).toBe(401);
  });

  it("ends a disabled user's sessions and refuses their login", async () => {
    const u = await t.createUser('leaver', 'operator');
    const patch = await t.as('admin', {
      method: 'PATCH',
      url: `/api/users/${u.id}`,
      payload: { disabled: true },
    });
    expect(patch.statusCode).toBe(200);
    expect(patch.json().user.disabled).toBe(true);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { authorization: `Bearer ${u.token}` },
    });
    expect(me.statusCode).toBe(401);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'leaver', password: PASSWORD },
    });
    expect(login.statusCode).toBe(401);
  });
});

describe('users', () => {
  it('admin creates, lists and changes roles; duplicates and bad input are refused', async () => {
    const c = await t.as('admin', {
      method: 'POST',
      url: '/api/users',
      payload: { username: 'carol', password: PASSWORD, role: 'auditor' },
    });
    expect(c.statusCode).toBe(201);
    const dup = await t.as('admin', {
      method: 'POST',
      url: '/api/users',
      payload: { username: 'Carol', password: PASSWORD, role: 'auditor' },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('USERNAME_TAKEN');
    const bad = await t.as('admin', {
      method: 'POST',
      url: '/api/users',
      payload: { username: 'dave', password: 'short', role: 'king' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('BAD_REQUEST');
    const p = await t.as('admin', {
      method: 'PATCH',
      url: `/api/users/${c.json().user.id}`,
      payload: { role: 'approver' },
    });
    expect(p.json().user.role).toBe('approver');
    const list = await t.as('auditor', { method: 'GET', url: '/api/users' });
    expect(list.json().items.map((u: { username: string }) => u.username)).toContain('carol');
    const audit = await t.as('auditor', {
      method: 'GET',
      url: `/api/audit?entityType=user&entityId=${c.json().user.id}`,
    });
    expect(audit.json().items.map((e: { action: string }) => e.action)).toEqual([
      'user.update',
      'user.create',
    ]);
  });

  it('admin cannot disable themselves', async () => {
    const r = await t.as('admin', {
      method: 'PATCH',
      url: `/api/users/${t.userIds.admin}`,
      payload: { disabled: true },
    });
    expect(r.statusCode).toBe(409);
  });
});

describe('roles', () => {
  const writeRoutes: { method: 'POST' | 'PATCH'; url: () => string; payload: object; allowed: string[] }[] = [
    {
      method: 'POST',
      url: () => '/api/users',
      payload: { username: 'x', password: 'short' },
      allowed: ['admin'],
    },
    {
      method: 'PATCH',
      url: () => `/api/users/${t.userIds.auditor}`,
      payload: { role: 'auditor' },
      allowed: ['admin'],
    },
  ];

  it('answer 401 without a user on every /api route', async () => {
    const routes = t.app.printRoutes({ commonPrefix: false });
    expect(routes).toContain('/api/users');
    for (const [method, url] of [
      ['GET', '/api/users'],
      ['POST', '/api/users'],
      ['PATCH', `/api/users/${t.userIds.auditor}`],
      ['GET', '/api/audit'],
      ['GET', '/api/auth/me'],
      ['POST', '/api/auth/logout'],
    ] as const) {
      const r = await t.app.inject({ method, url, payload: method === 'GET' ? undefined : {} });
      expect(r.statusCode, `${method} ${url}`).toBe(401);
      expect(r.json().error.code).toBe('UNAUTHENTICATED');
    }
  });

  it('answer 403 FORBIDDEN for roles not allowed to write, and let every role read', async () => {
    for (const route of writeRoutes) {
      for (const role of ['operator', 'approver', 'auditor']) {
        if (route.allowed.includes(role)) continue;
        const r = await t.as(role, { method: route.method, url: route.url(), payload: route.payload });
        expect(r.statusCode, `${role} ${route.method} ${route.url()}`).toBe(403);
        expect(r.json().error.code).toBe('FORBIDDEN');
      }
    }
    for (const role of ['admin', 'operator', 'approver', 'auditor']) {
      for (const url of ['/api/users', '/api/audit', '/api/auth/me']) {
        const r = await t.as(role, { method: 'GET', url });
        expect(r.statusCode, `${role} GET ${url}`).toBe(200);
      }
    }
  });

  it('every /api route declares its roles (the app refuses to start otherwise)', async () => {
    const built = await buildApp({
      config: t.config,
      pool: t.db.pool,
      cipher: new Cipher(TEST_KEY),
      logger: false,
    });
    expect(() => built.app.get('/api/undeclared', async () => 'x')).toThrow(/must declare config.roles/);
  });
});

describe('health', () => {
  it('serves healthz, readyz, metrics and the OpenAPI document without a user', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    const m = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toContain('loanpay_http_request_duration_seconds');
    expect(m.body).toMatch(/^loanpay_payments_needs_review 0$/m);
    expect(m.body).toMatch(/^loanpay_payments_stuck_before_method 0$/m);
    const docs = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(docs.json().paths['/api/auth/login']).toBeDefined();
  });
});
