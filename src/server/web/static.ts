// Serves the built web UI (dist/web) at `/`: hashed assets cached for a year, index.html (never
// cached) for every other GET outside /api, /docs and /webhooks, so the app's own routes load.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../shared/roles.js';
import { AppError } from '../errors.js';

export const WEB_ROOT = fileURLToPath(new URL('../../../dist/web', import.meta.url));

/** Paths the UI never owns: an unknown one there is a plain 404, not the app. */
const NOT_UI = /^\/(api|docs|webhooks)(\/|$|\?)/;

export async function webRoutes(
  app: FastifyInstance,
  opts: { requireSecondApprover: boolean; root?: string },
) {
  const root = opts.root ?? WEB_ROOT;

  // What the UI needs to explain its buttons (Approve disabled for the uploader).
  app.get(
    '/api/ui/settings',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['system'],
        summary: 'Settings the web UI shows: whether a second person must approve',
        response: {
          200: {
            type: 'object',
            properties: { requireSecondApprover: { type: 'boolean' } },
          },
        },
      },
    },
    async () => ({ requireSecondApprover: opts.requireSecondApprover }),
  );

  const built = existsSync(join(root, 'index.html'));
  if (built) {
    // Hashed file names: cache for a year. Read at request time (not listed at start), so a
    // rebuild by another `npm start` on the same checkout does not leave this server stale.
    await app.register(fastifyStatic, {
      root: join(root, 'assets'),
      prefix: '/assets/',
      index: false,
      cacheControl: false,
      setHeaders: (res) => res.setHeader('cache-control', 'public, max-age=31536000, immutable'),
    });
  }

  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const url = request.url;
    if (NOT_UI.test(url)) throw new AppError('NOT_FOUND', `No route ${request.method} ${url}`);
    if (!built) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The web UI is not built yet: run `npm run build:web` (npm start does it for you).');
    }
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', root);
  });
}
