// /api/batches: upload (→ draft), list, read with summary, warnings, payments/draft lines, reject.
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CAN, ROLES } from '../../shared/roles.js';
import { PAYMENT_STATUSES, STATUS_GROUPS } from '../../shared/statuses.js';
import { actorOf } from '../auth/auth.plugin.js';
import { AppError } from '../errors.js';
import { decodeCursor, LIST_QUERY_PROPERTIES, page, parseLimit } from '../http/paging.js';
import { errorResponses } from '../http/schemas.js';
import type { Metrics } from '../metrics.js';
import type { BatchesService } from './batches.service.js';

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

const isPair = (v: unknown): v is [string, string] =>
  Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string');
const isInt = (v: unknown): v is number => Number.isInteger(v);

export async function batchesRoutes(
  app: FastifyInstance,
  opts: { batches: BatchesService; maxUploadMb: number; metrics: Metrics },
) {
  const { batches, metrics } = opts;
  const maxBytes = opts.maxUploadMb * 1024 * 1024;

  // The XML body is handed over as a stream: the ingest reads it as it arrives, never all at once.
  app.addContentTypeParser(['application/xml', 'text/xml'], (_request, payload, done) => done(null, payload));
  await app.register(multipart, { limits: { fileSize: maxBytes + 1, files: 1, fields: 5, parts: 6 } });

  app.post(
    '/api/batches',
    {
      config: { roles: CAN.upload },
      schema: {
        tags: ['batches'],
        summary:
          'Upload an XML file (multipart field `file`, or the raw body as application/xml) → a draft batch',
        consumes: ['multipart/form-data', 'application/xml'],
        response: errorResponses(400, 409, 413, 415, 422),
      },
    },
    async (request: FastifyRequest, reply) => {
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > maxBytes + 64 * 1024) {
        metrics.uploads.inc({ outcome: 'too_large' });
        throw new AppError(
          'FILE_TOO_LARGE',
          `The file is larger than the ${opts.maxUploadMb} MB limit (MAX_UPLOAD_MB)`,
        );
      }
      let body: AsyncIterable<Buffer>;
      let fileName: string;
      if (request.isMultipart()) {
        const part = await request.file();
        if (!part || part.fieldname !== 'file')
          throw new AppError('BAD_REQUEST', 'Send the XML file in the multipart field "file"');
        body = part.file;
        fileName = part.filename || 'upload.xml';
      } else {
        const ct = String(request.headers['content-type'] ?? '');
        if (!/^(application|text)\/xml\b/.test(ct)) {
          throw new AppError(
            'UNSUPPORTED_MEDIA_TYPE',
            'Upload the file as multipart/form-data (field "file") or as application/xml',
          );
        }
        body = request.body as AsyncIterable<Buffer>;
        fileName = String(request.headers['x-file-name'] ?? 'upload.xml');
      }
      try {
        const batch = await batches.upload({
          fileName: sanitizeFileName(fileName),
          body,
          maxBytes,
          actor: actorOf(request),
        });
        metrics.uploads.inc({ outcome: 'created' });
        reply.code(201);
        return { batch };
      } catch (err) {
        if (err instanceof AppError) {
          const outcome =
            {
              VALIDATION_FAILED: 'invalid',
              XML_MALFORMED: 'malformed',
              DUPLICATE_FILE: 'duplicate',
              FILE_TOO_LARGE: 'too_large',
            }[err.code as string] ?? 'error';
          metrics.uploads.inc({ outcome });
        }
        throw err;
      }
    },
  );

  app.get<{ Querystring: { limit?: string; cursor?: string } }>(
    '/api/batches',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['batches'],
        summary: 'Batches, newest first',
        querystring: { type: 'object', additionalProperties: false, properties: LIST_QUERY_PROPERTIES },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const before = decodeCursor(request.query.cursor, isPair);
      const rows = await batches.list({ before, limit: limit + 1 });
      return page(rows, limit, (last) => [last.uploadedAt, last.id]);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/batches/:id',
    {
      config: { roles: ROLES },
      schema: { tags: ['batches'], summary: 'One batch with its summary', params: idParams },
    },
    async (request) => batches.get(request.params.id, { summary: true }),
  );

  app.get<{ Params: { id: string }; Querystring: { code?: string; limit?: string; cursor?: string } }>(
    '/api/batches/:id/warnings',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['batches'],
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { code: { type: 'string', pattern: '^[A-Z_]{1,64}$' }, ...LIST_QUERY_PROPERTIES },
        },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const afterSeq = decodeCursor(request.query.cursor, isInt);
      const rows = await batches.warnings(request.params.id, {
        code: request.query.code,
        afterSeq,
        limit: limit + 1,
      });
      const p = page(rows, limit, (last) => last.seq);
      return { items: p.items.map(({ seq: _seq, ...w }) => w), nextCursor: p.nextCursor };
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: {
      status?: string;
      group?: string;
      branchId?: string;
      sourceId?: string;
      q?: string;
      flag?: string;
      limit?: string;
      cursor?: string;
    };
  }>(
    '/api/batches/:id/payments',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['batches'],
        summary: "A batch's payments (for a draft: its lines, status `draft`)",
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...PAYMENT_STATUSES, 'draft'] },
            group: { type: 'string', enum: STATUS_GROUPS },
            branchId: { type: 'string', maxLength: 64 },
            sourceId: { type: 'string', maxLength: 64 },
            q: { type: 'string', maxLength: 100 },
            flag: { type: 'string', pattern: '^[A-Z_]{1,64}$' },
            ...LIST_QUERY_PROPERTIES,
          },
        },
      },
    },
    async (request) => {
      const { limit: rawLimit, cursor, ...filter } = request.query;
      const limit = parseLimit(rawLimit);
      const afterRow = decodeCursor(cursor, isInt);
      const rows: { rowNumber: number }[] = await batches.payments(request.params.id, {
        ...filter,
        afterRow,
        limit: limit + 1,
      });
      return page(rows, limit, (last) => last.rowNumber);
    },
  );

  // Server-Sent Events: `progress` on connect and whenever the batch's figures change (checked once
  // a second), until the client goes away.
  app.get<{ Params: { id: string } }>(
    '/api/batches/:id/events',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['batches'],
        summary: 'Live progress of a batch (text/event-stream, event `progress`)',
        params: idParams,
      },
    },
    async (request, reply) => {
      const first = await batches.get(request.params.id, { summary: false });
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let last = '';
      let idle = 0;
      const send = (b: {
        status: string;
        counts: unknown;
        amountsCents: unknown;
        etaSeconds: number | null;
      }) => {
        const data = JSON.stringify({
          status: b.status,
          counts: b.counts,
          amountsCents: b.amountsCents,
          etaSeconds: b.etaSeconds,
        });
        if (data !== last) {
          last = data;
          idle = 0;
          res.write(`event: progress\ndata: ${data}\n\n`);
        } else if (++idle % 15 === 0) {
          res.write(': keep-alive\n\n');
        }
      };
      send(first);
      let busy = false;
      const timer = setInterval(async () => {
        if (busy) return;
        busy = true;
        try {
          send(await batches.get(request.params.id, { summary: false }));
        } catch {
          // A transient database error: try again on the next tick.
        } finally {
          busy = false;
        }
      }, 1000);
      request.raw.on('close', () => clearInterval(timer));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/batches/:id/approve',
    {
      config: { roles: CAN.approve },
      schema: {
        tags: ['batches'],
        summary: 'Approve a batch: books every payment in one transaction (idempotent)',
        params: idParams,
        response: errorResponses(403, 404, 409),
      },
    },
    async (request) => ({ batch: await batches.approve(request.params.id, actorOf(request)) }),
  );

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `/api/batches/:id/${action}`,
      {
        config: { roles: CAN.operate },
        schema: {
          tags: ['batches'],
          summary: `${action === 'pause' ? 'Pause' : 'Resume'} an executing batch`,
          params: idParams,
          response: errorResponses(404, 409),
        },
      },
      async (request) => ({ batch: await batches.pause(request.params.id, actorOf(request), paused) }),
    );
  }

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/api/batches/:id/cancel',
    {
      config: { roles: CAN.cancelBatch },
      schema: {
        tags: ['batches'],
        summary: 'Cancel an executing batch: what Method has not received is cancelled at once',
        params: idParams,
        body: {
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 1000 } },
        },
        response: errorResponses(400, 404, 409),
      },
    },
    async (request) => ({
      batch: await batches.cancel(request.params.id, request.body.reason.trim(), actorOf(request)),
    }),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/api/batches/:id/reject',
    {
      config: { roles: CAN.reject },
      schema: {
        tags: ['batches'],
        params: idParams,
        body: {
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 1000 } },
        },
        response: errorResponses(400, 404, 409),
      },
    },
    async (request) => ({
      batch: await batches.reject(request.params.id, request.body.reason.trim(), actorOf(request)),
    }),
  );
}

function sanitizeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? 'upload.xml';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return base.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255) || 'upload.xml';
}
