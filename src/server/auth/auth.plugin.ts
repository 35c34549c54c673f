// Authentication and authorisation for every route: bearer token or session cookie (+ CSRF for
// cookie writes), and a role list every /api route must declare in its `config.roles`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../shared/roles.js';
import type { Actor } from '../audit/audit.repository.js';
import { AppError } from '../errors.js';
import type { AuthService, SessionUser } from './auth.service.js';

export const SESSION_COOKIE = 'loanpay_session';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: role list, or 'public' (no user needed). Required on /api routes. */
    roles?: readonly Role[] | 'public';
  }
  interface FastifyRequest {
    user: SessionUser | null;
    authVia: 'bearer' | 'cookie' | null;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function actorOf(request: FastifyRequest): Actor {
  return {
    userId: request.user?.id ?? null,
    username: request.user?.username ?? null,
    clientAddress: request.ip,
  };
}

export function requireUser(request: FastifyRequest): SessionUser {
  if (!request.user) throw new AppError('UNAUTHENTICATED', 'Log in first');
  return request.user;
}

export function installAuth(app: FastifyInstance, auth: AuthService): void {
  app.decorateRequest('user', null);
  app.decorateRequest('authVia', null);

  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/api') && route.config?.roles === undefined) {
      throw new Error(`route ${route.method} ${route.url} must declare config.roles`);
    }
  });

  app.addHook('onRequest', async (request: FastifyRequest, _reply: FastifyReply) => {
    const roles = request.routeOptions.config?.roles;
    if (roles === undefined || roles === 'public') return;
    const header = request.headers.authorization;
    let token: string | undefined;
    if (header) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) throw new AppError('UNAUTHENTICATED', 'Authorization header must be "Bearer <token>"');
      token = m[1];
      request.authVia = 'bearer';
    } else if (request.cookies?.[SESSION_COOKIE]) {
      token = request.cookies[SESSION_COOKIE];
      request.authVia = 'cookie';
    }
    if (!token)
      throw new AppError('UNAUTHENTICATED', 'Log in first: send a bearer token or the session cookie');
    const user = await auth.findSession(token);
    if (!user) throw new AppError('UNAUTHENTICATED', 'Your session has expired or was ended; log in again');
    request.user = user;
    if (request.authVia === 'cookie' && !SAFE_METHODS.has(request.method)) {
      if (request.headers[CSRF_HEADER] !== user.csrfToken) {
        throw new AppError(
          'CSRF_FAILED',
          `Missing or wrong ${CSRF_HEADER} header for a cookie-authenticated change`,
        );
      }
    }
    if (!roles.includes(user.role)) {
      throw new AppError(
        'FORBIDDEN',
        `Your role (${user.role}) cannot do this; it needs one of: ${roles.join(', ')}`,
      );
    }
  });
}
