// /api/auth (login, logout, me) and /api/users (admin).
import type { FastifyInstance } from 'fastify';
import { CAN, ROLES, type Role } from '../../shared/roles.js';
import { errorResponses } from '../http/schemas.js';
import { actorOf, requireUser, SESSION_COOKIE } from './auth.plugin.js';
import type { AuthService } from './auth.service.js';

const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    disabled: { type: 'boolean' },
    createdAt: { type: 'string' },
  },
} as const;

export async function authRoutes(app: FastifyInstance, opts: { auth: AuthService; secureCookies: boolean }) {
  const { auth } = opts;

  app.post<{ Body: { username: string; password: string } }>(
    '/api/auth/login',
    {
      config: {
        roles: 'public',
        // Ten attempts a minute per address and username: slows guessing without locking others out.
        rateLimit: {
          max: 10,
          timeWindow: '1 minute',
          keyGenerator: (req) =>
            `${req.ip}|${String((req.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase()}`,
        },
      },
      schema: {
        tags: ['auth'],
        summary: 'Log in; returns a bearer token and sets the session cookie',
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 100 },
            password: { type: 'string', minLength: 1, maxLength: 1000 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              user: userSchema,
              token: { type: 'string' },
              csrfToken: { type: 'string' },
              expiresAt: { type: 'string' },
            },
          },
          ...errorResponses(401, 429),
        },
      },
    },
    async (request, reply) => {
      const r = await auth.login(request.body.username, request.body.password, request.ip);
      reply.setCookie(SESSION_COOKIE, r.token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: opts.secureCookies,
        expires: r.expiresAt,
      });
      return { user: r.user, token: r.token, csrfToken: r.csrfToken, expiresAt: r.expiresAt.toISOString() };
    },
  );

  app.post(
    '/api/auth/logout',
    { config: { roles: ROLES }, schema: { tags: ['auth'], summary: 'End this session' } },
    async (request, reply) => {
      const user = requireUser(request);
      await auth.logout(user.sessionId, actorOf(request));
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { ok: true };
    },
  );

  app.get(
    '/api/auth/me',
    {
      config: { roles: ROLES },
      schema: { tags: ['auth'], summary: 'The logged-in user and the CSRF token for cookie writes' },
    },
    async (request) => {
      const u = requireUser(request);
      return { user: { id: u.id, username: u.username, role: u.role }, csrfToken: u.csrfToken };
    },
  );

  app.post<{ Body: { username: string; password: string; role: Role } }>(
    '/api/users',
    {
      config: { roles: CAN.manageUsers },
      schema: {
        tags: ['users'],
        body: {
          type: 'object',
          required: ['username', 'password', 'role'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', pattern: '^[A-Za-z0-9._@-]{2,64}$' },
            password: { type: 'string', minLength: 10, maxLength: 1000 },
            role: { type: 'string', enum: ROLES },
          },
        },
        response: { 201: { type: 'object', properties: { user: userSchema } }, ...errorResponses(400, 409) },
      },
    },
    async (request, reply) => {
      const user = await auth.createUser(request.body, actorOf(request));
      reply.code(201);
      return { user };
    },
  );

  app.get(
    '/api/users',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['users'],
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: userSchema }, nextCursor: { type: 'null' } },
          },
        },
      },
    },
    async () => ({ items: await auth.listUsers(), nextCursor: null }),
  );

  app.patch<{ Params: { id: string }; Body: { role?: Role; disabled?: boolean } }>(
    '/api/users/:id',
    {
      config: { roles: CAN.manageUsers },
      schema: {
        tags: ['users'],
        params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } },
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { role: { type: 'string', enum: ROLES }, disabled: { type: 'boolean' } },
        },
        response: {
          200: { type: 'object', properties: { user: userSchema } },
          ...errorResponses(400, 404, 409),
        },
      },
    },
    async (request) => ({ user: await auth.updateUser(request.params.id, request.body, actorOf(request)) }),
  );
}
